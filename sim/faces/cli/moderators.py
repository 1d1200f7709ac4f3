"""``recovery-sim moderators``: how the same package's effect changes with each moderator.

The review's headline is that the common mechanisms help "especially when delivered
within pro-recovery and non-stigmatising contexts". This command measures it: the
combined package (peer support, self-management, IPS, shared decision-making) against
usual care, paired on common random numbers, at five levels of each moderator of the
logic model (user motivation, professional attitudes, public stigma, unemployment),
the others at their defaults. Writes effects.csv, moderators.png, manifest.json and
report.html.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

__all__ = ["moderators"]


@click.command(
    epilog="""\b
Examples:
  recovery-sim moderators
  recovery-sim moderators --week 104 --replicates 16 --out out/moderators-104"""
)
@click.option("--week", type=int, default=52, show_default=True, help="Week of the effect.")
@click.option("--replicates", type=int, default=8, show_default=True, help="Paired replicates.")
@click.option("--users", type=int, default=1000, show_default=True, help="Users per run.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("out/moderators"),
    show_default=True,
    help="Output folder.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing --out folder; replaces only this tool's own output of the same kind.",
)
def moderators(
    week: int, replicates: int, users: int, seed: int, out_dir: Path, force: bool
) -> None:
    """The package effect against each moderator, with 95% bands."""
    from sim.core.errors import (
        MAX_AGENTS,
        MAX_REPLICATES,
        MAX_WEEKS,
        UserError,
        check_limit,
    )
    from sim.faces.reports.figures import plot_moderator_curves
    from sim.faces.reports.html import Section, write_report
    from sim.files.outputs import atomic_folder, make_manifest, write_json
    from sim.studies.effect_modification import MODERATOR_LEVELS, PACKAGE, moderator_curves

    for option, value, lowest in (
        ("week", week, 1),
        ("replicates", replicates, 2),
        ("users", users, 1),
        ("seed", seed, 0),
    ):
        if value < lowest:
            raise UserError(f"--{option} must be >= {lowest}, got {value}")
    check_limit(week, MAX_WEEKS, "--week")
    check_limit(replicates, MAX_REPLICATES, "--replicates")
    check_limit(users, MAX_AGENTS, "--users")
    total = len(MODERATOR_LEVELS) * len(next(iter(MODERATOR_LEVELS.values()))[0])
    with atomic_folder(out_dir, "moderators", force=force) as folder:
        started = time.perf_counter()
        with click.progressbar(length=total, label="moderator levels", file=sys.stderr) as bar:
            frame = moderator_curves(
                week=week, n_agents=users, replicates=replicates, seed=seed, progress=bar.update
            )
        seconds = time.perf_counter() - started
        frame.to_csv(folder / "effects.csv", index=False)
        manifest = make_manifest(
            kind="moderators",
            command=sys.argv,
            package=PACKAGE,
            moderators={k: list(v) for k, (v, _) in MODERATOR_LEVELS.items()},
            week=week,
            replicates=replicates,
            users=users,
            seed=seed,
            seeds="RunSeed(seed, 0, replicate), shared by every level and arm",
            seconds=round(seconds, 3),
        )
        write_json(folder / "manifest.json", manifest)
        write_report(
            folder / "report.html",
            title="The same package in different contexts",
            intro=(
                "Effect of the combined package against usual care (paired differences on "
                f"common random numbers, {replicates} replicates of {users} users) at week "
                f"{week}, at five levels of each moderator, the others at their defaults."
            ),
            sections=[
                Section(
                    "Package effect against each moderator",
                    "Band: 95% interval of the mean paired effect over replicates.",
                    figure=plot_moderator_curves(frame, folder / "moderators.png"),
                    table=frame,
                )
            ],
            manifest=manifest,
        )
    click.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    click.echo(f"\nwrote {out_dir}/ (report.html, effects.csv, moderators.png)")
