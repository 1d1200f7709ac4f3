"""The ``discover`` command of ``recovery-sim``: scenario discovery on a finished sweep.

``recovery-sim discover SWEEP_FOLDER --outcome NAME --threshold X`` asks: under which
conditions (limits on the sweep's varied parameters) does the output NAME, averaged
over each design point's replicates, reach X (``--below``: stay at or under X)? It
answers with PRIM boxes (:mod:`sim.studies.discovery`, EMA Workbench's PRIM) and
writes ``boxes.csv``, ``trajectory.csv``, ``tradeoff.png`` (coverage against density
along the peeling trajectory, the chosen box marked), ``report.html`` (what each box
means in plain words) and ``manifest.json`` into ``--out``.

EMA Workbench, pandas and matplotlib load inside the command, so ``import sim.cli``
stays light.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sim.core.errors import UserError

if TYPE_CHECKING:
    from sim.studies.discovery import Discovery

__all__ = ["discover"]

KIND = "discovery"  # its files: sim.files.outputs.KINDS["discovery"]


def _check_out(out_dir: Path, folder: Path) -> None:
    """Refuse an --out folder inside the sweep folder (it holds only the sweep's files)."""
    if out_dir.absolute().resolve().is_relative_to(folder.absolute().resolve()):
        raise UserError(
            f"--out {out_dir} is inside the sweep folder {folder}, which holds only the "
            "sweep's own files; write it elsewhere"
        )


@click.command(
    epilog="""\b
Examples:
  recovery-sim discover experiments/results/sa_levers \\
      --outcome employed_w104 --threshold 0.25 --out out/discover-employed
  recovery-sim discover out/sweep-small --outcome personal_recovery_w52 \\
      --threshold 30 --below --threshold-density 0.7"""
)
@click.argument("folder", metavar="SWEEP_FOLDER", type=click.Path(path_type=Path))
@click.option(
    "--outcome",
    required=True,
    metavar="NAME",
    help="An output column of the sweep, <metric>_w<week> (e.g. employed_w104).",
)
@click.option(
    "--threshold",
    required=True,
    type=float,
    metavar="X",
    help="A design point is of interest if its outcome (mean over replicates) is >= X.",
)
@click.option("--below", is_flag=True, help="Points of interest are those <= X instead.")
@click.option(
    "--threshold-density",
    type=float,
    default=0.8,
    show_default=True,
    metavar="D",
    help="The least share of a box's points that must be of interest; of the boxes "
    "along the peeling trajectory that reach it, the one of highest coverage is kept.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder  [default: out/discover-<outcome>]",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing --out folder; replaces only this tool's own output of the same kind.",
)
def discover(
    folder: Path,
    outcome: str,
    threshold: float,
    below: bool,
    threshold_density: float,
    out_dir: Path | None,
    force: bool,
) -> None:
    """Find the conditions (PRIM boxes) under which a sweep's OUTCOME passes a threshold.

    SWEEP_FOLDER is the --out folder of `recovery-sim sweep` or `recovery-sim
    sensitivity`. Each design point's outcome is averaged over its replicates; a
    point is of interest if that mean is >= X (--below: <= X). Writes boxes.csv (each
    box's limits, coverage, density, mass and points), trajectory.csv (the peeling
    trajectory: coverage against density), tradeoff.png and report.html.
    """
    from sim.files.outputs import atomic_folder, check_destination
    from sim.studies.discovery import design_points
    from sim.studies.discovery import discover as run_discovery
    from sim.studies.results import missing_runs, parameter_columns, read_sweep

    frame, sweep_manifest = read_sweep(folder)
    parameters = parameter_columns(frame, sweep_manifest)
    factors, values = design_points(frame, parameters, outcome)
    target = out_dir if out_dir is not None else Path("out") / f"discover-{outcome}"
    _check_out(target, folder)
    check_destination(target, KIND, force=force, inputs=[folder])  # before PRIM's work
    direction = "<=" if below else ">="
    found = run_discovery(
        factors, values, threshold, direction, threshold_density=threshold_density
    )
    missing = missing_runs(frame, sweep_manifest)
    if missing:
        click.echo(
            f"warning: {folder} is an unfinished sweep: {missing} of "
            f"{sweep_manifest['runs']} runs are missing; analysing the finished ones",
            err=True,
        )
    replicates = frame.groupby("design_point").size()
    with atomic_folder(target, KIND, force=force, inputs=[folder]) as work:
        manifest = _manifest(found, folder, sweep_manifest, int(replicates.max()), missing)
        _write(found, work, manifest, folder, int(replicates.min()), int(replicates.max()))
    _print(found)
    click.echo(f"\nwrote {target}/ (report.html, boxes.csv, trajectory.csv, tradeoff.png)")


def _manifest(
    found: Discovery,
    folder: Path,
    sweep_manifest: dict[str, Any],
    replicates: int,
    missing: int,
) -> dict[str, Any]:
    from importlib import metadata

    from sim.files.outputs import make_manifest

    experiment = sweep_manifest.get("experiment")
    return make_manifest(
        kind=KIND,
        command=sys.argv,
        method="PRIM (Friedman & Fisher 1999), EMA Workbench's implementation",
        ema_workbench=metadata.version("ema_workbench"),
        sweep_folder=str(folder),
        sweep_experiment=experiment.get("name") if isinstance(experiment, dict) else None,
        sweep_git_commit=sweep_manifest.get("git_commit"),
        sweep_created=sweep_manifest.get("created"),
        sweep_missing_runs=missing,
        outcome=found.outcome,
        direction=found.direction,
        threshold=found.threshold,
        threshold_density=found.threshold_density,
        averaged_over_replicates=replicates,
        box_choice="highest coverage whose density reaches threshold_density",
        prim_settings=found.settings,
        factors=found.factors,
        searched_factors=found.searched,
        design_points=found.points,
        points_of_interest=found.points_of_interest,
        boxes=found.box_stats().to_dict(orient="records"),
    )


def _write(
    found: Discovery,
    work: Path,
    manifest: dict[str, Any],
    folder: Path,
    fewest: int,
    most: int,
) -> None:
    from sim.faces.reports.html import Section, write_report
    from sim.files.outputs import write_atomic, write_json

    write_atomic(work / "boxes.csv", found.boxes.to_csv(index=False).encode("utf-8"))
    write_atomic(work / "trajectory.csv", found.trajectory.to_csv(index=False).encode("utf-8"))
    figure = _plot_tradeoff(found, work / "tradeoff.png")
    write_json(work / "manifest.json", manifest)
    write_report(
        work / "report.html",
        title=f"Scenario discovery: when is {found.outcome} {found.direction} {found.threshold:g}?",
        intro=_intro(found, folder, fewest, most),
        sections=_sections(found, figure, Section),
        manifest=manifest,
    )


def _intro(found: Discovery, folder: Path, fewest: int, most: int) -> str:
    from sim.studies.discovery import QP_ALPHA

    replicates = f"{most}" if fewest == most else f"{fewest}-{most}"
    return (
        f"Sweep {folder}: {found.points:,} design points varying {len(found.factors)} "
        f"factors; each point's {found.outcome} is the mean over its {replicates} "
        f"replicate(s). {found.points_of_interest:,} points "
        f"({found.base_density:.0%}) have {found.outcome} {found.direction} "
        f"{found.threshold:g}: the points of interest.\n\n"
        "PRIM (the Patient Rule Induction Method, Friedman & Fisher 1999) looks for a box, "
        "limits on a few factors, inside which most points are of interest. It peels thin "
        "slices off the range of one factor at a time, each time the slice whose removal "
        "raises the share of points of interest most. Coverage is the share of all points "
        "of interest that lie in the box; density is the share of the box's points that "
        "are of interest; mass is the share of all design points in the box. Of the boxes "
        f"along the way whose density reaches {found.threshold_density:.0%}, the one of "
        "highest coverage is kept; a restriction chance could explain (no limit with a "
        f"quasi-p value of {QP_ALPHA:g} or less) is dropped while the density holds; the "
        "next box is sought among the points left outside." + _searched(found)
    )


def _searched(found: Discovery) -> str:
    left_out = [name for name in found.factors if name not in found.searched]
    if not left_out:
        return ""
    return (
        f" The boxes are from a second pass over {len(found.searched)} of the "
        f"{len(found.factors)} factors, those a first pass over all of them restricted "
        f"significantly; left out: {', '.join(left_out)}."
    )


def _sections(found: Discovery, figure: Path, section: Any) -> list[Any]:
    from sim.studies.discovery import LIMIT_COLUMNS, box_sentence

    sections = []
    stats = found.box_stats()
    if stats.empty:
        sections.append(
            section(
                "No box found",
                _no_box(found),
            )
        )
    for record in stats.itertuples():
        limits = found.boxes[found.boxes["box"] == record.box][list(LIMIT_COLUMNS)].rename(
            columns={"factor_min": "design_min", "factor_max": "design_max"}
        )
        sections.append(
            section(
                f"Box {record.box}",
                box_sentence(found, record.box)
                + "\n\nThe table gives the limits on each restricted factor (the other "
                "factors may take any value of the design) and the quasi-p value of each "
                "limit (small: the limit is unlikely to raise the density by chance).",
                table=limits.reset_index(drop=True),
            )
        )
    sections.append(
        section(
            "Coverage and density along the peeling trajectory",
            "Each dot is one box along the trajectory, from the whole design (right: "
            "coverage 100%, density = the share of points of interest) to ever smaller, "
            "denser boxes (left). Colour: how many factors the box restricts. The star "
            "is the box kept; the dashed line is the density asked for (--threshold-"
            "density). A box further left is purer but explains fewer of the points of "
            "interest; trajectory.csv lists every step.",
            figure=figure,
        )
    )
    return sections


def _no_box(found: Discovery) -> str:
    if found.base_density >= found.threshold_density:
        return (
            f"Already {found.base_density:.0%} of all design points have {found.outcome} "
            f"{found.direction} {found.threshold:g}, at least the density asked for "
            f"({found.threshold_density:.0%}): no limit on the factors is needed."
        )
    return (
        f"No box along PRIM's peeling trajectory reaches a density of "
        f"{found.threshold_density:.0%}: no simple combination of factor limits picks out "
        f"the points with {found.outcome} {found.direction} {found.threshold:g}. Try a "
        "lower --threshold-density, or another threshold."
    )


def _plot_tradeoff(found: Discovery, path: Path) -> Path:
    import io

    from matplotlib.figure import Figure

    from sim.files.outputs import write_atomic

    figure = Figure(figsize=(6.4, 4.6))
    ax = figure.subplots()
    trajectory = found.trajectory
    if trajectory.empty:
        ax.text(0.5, 0.5, "no box found", ha="center", va="center", transform=ax.transAxes)
    else:
        markers = ("o", "s", "^", "D")
        top = max(int(trajectory["restricted_factors"].max()), 1)
        for number, steps in trajectory.groupby("box"):
            shown = ax.scatter(
                steps["coverage"],
                steps["density"],
                c=steps["restricted_factors"],
                cmap="viridis",
                vmin=0,
                vmax=top,
                s=18,
                marker=markers[(int(number) - 1) % len(markers)],
                label=f"box {number} trajectory",
            )
            chosen = steps[steps["chosen"]]
            ax.scatter(
                chosen["coverage"],
                chosen["density"],
                marker="*",
                s=260,
                facecolor="none",
                edgecolor="#D55E00",
                linewidths=1.6,
                zorder=3,
            )
            for record in chosen.itertuples():
                ax.annotate(
                    f"box {number}: coverage {record.coverage:.0%}, density {record.density:.0%}",
                    (record.coverage, record.density),
                    textcoords="offset points",
                    xytext=(-12, -16),
                    ha="right",
                    fontsize=8,
                    color="#D55E00",
                )
        figure.colorbar(shown, ax=ax, label="restricted factors")
    ax.axhline(found.threshold_density, color="0.4", linestyle="--", linewidth=0.9)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("coverage (share of all points of interest in the box)")
    ax.set_ylabel("density (share of the box's points of interest)")
    ax.set_title(
        f"PRIM trade-off: {found.outcome} {found.direction} {found.threshold:g}", fontsize=10
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, facecolor="white")
    return write_atomic(path, buffer.getvalue())


def _print(found: Discovery) -> None:
    from sim.studies.discovery import box_sentence

    stats = found.box_stats()
    click.echo(
        f"{found.points_of_interest:,} of {found.points:,} design points "
        f"({found.base_density:.0%}) have {found.outcome} {found.direction} {found.threshold:g}"
    )
    if stats.empty:
        click.echo(_no_box(found))
    for record in stats.itertuples():
        click.echo(f"\nbox {record.box}: " + box_sentence(found, record.box))
        for row in found.boxes[found.boxes["box"] == record.box].itertuples():
            click.echo(
                f"  {row.factor}: [{row.lower:.4g}, {row.upper:.4g}] "
                f"(design: [{row.factor_min:.4g}, {row.factor_max:.4g}])"
            )
