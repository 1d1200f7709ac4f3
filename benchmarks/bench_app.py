"""Responsiveness of the teaching app: time per step plus redraw, at 500 agents.

Usage::

    python benchmarks/bench_app.py             # 500 agents, 52 weeks, A vs B side by side
    python benchmarks/bench_app.py --quick     # smoke mode (seconds)
    python benchmarks/bench_app.py --agents 1000 --weeks 104

What one press of Step costs the server, split into its parts, measured offscreen
exactly as the app does it (the same :class:`sim.faces.app.session.ContextComparison` and
the same PNG bytes of :func:`sim.faces.app.figures.chart_png` that the views show):

- ``step``: one week of both contexts (the model step and its DataCollector).
- ``readout``: the numbers under the charts (the data the components compute).
- ``outcomes``, ``effect``, ``stages+doses``, ``network``, ``pathway``: one tab's
  chart(s), redrawn and encoded as PNG. Only the visible tab redraws after a step.

And the baselines, measured in the same run at the same weeks, so that the ratios
printed at the end compare like with like:

- ``(rebuilt)``: a new figure for every redraw (:func:`~sim.faces.app.figures.outcomes_figure`
  and the others), PNG at matplotlib's default compression, as the app drew before it
  kept its figures between redraws.
- ``(full draws)``: the effect, stages and doses charts kept between redraws but drawn
  whole at every redraw, as the app drew them before it blitted them (only the moving
  lines and areas drawn over a kept background).
- ``(constrained)``: rebuilt and laid out by matplotlib's constrained layout, as the app
  drew before its redrawn views got fixed margins.

Each row is the median (and 90th percentile) over the weeks, measured at weeks
spread over the run, so later (longer) series are included; the CPU column is the
median CPU time, which other processes on a shared machine do not inflate as they do
the wall-clock time (the redraws per second are of the wall-clock medians). Printed,
not asserted; ``--out FILE.json`` also writes them with machine information.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sim.faces.app.figures import (  # noqa: E402
    chart_png,
    doses_figure,
    effect_figure,
    network_figure,
    outcomes_figure,
    pathway_figure,
    readout,
    stages_figure,
)
from sim.faces.app.session import ContextComparison, preset_contexts  # noqa: E402


def _png(figure: object) -> int:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.tell()


def _png_constrained(figure: object) -> int:
    """The baseline: the same figure laid out by matplotlib's constrained layout.

    That is how the app drew every view before its redrawn views got fixed margins.
    """
    figure.set_layout_engine("constrained")
    return _png(figure)


def _timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``action`` (CPU time: what other processes do not
    change on a shared machine)."""
    # every part starts from an empty nursery: else a part pays for the garbage that the
    # rebuilt figures measured before it left (a full collection of the run's objects)
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - started, time.process_time() - cpu


def measure(agents: int, weeks: int, every: int) -> dict[str, list[tuple[float, float]]]:
    """Seconds (wall clock, CPU) per step and per redraw, sampled every ``every`` weeks."""
    (name_a, a), (name_b, b) = preset_contexts("stigma")
    comparison = ContextComparison(
        n_agents=agents,
        seed=1,
        weeks=weeks,
        context_a=a,
        context_b=b,
        name_a=name_a,
        name_b=name_b,
        offer={"peer_support": 0.3, "supported_employment": 0.3},
    )
    comparison.layout()  # computed once per run (cached), not per step
    person = comparison.runs[0].model.service_users[0].unique_id
    parts: dict[str, Callable[[], object]] = {
        "readout": lambda: readout(comparison),
        "outcomes": lambda: chart_png(comparison, "outcomes"),
        "effect": lambda: chart_png(comparison, "effect"),
        "stages+doses": lambda: (chart_png(comparison, "stages"), chart_png(comparison, "doses")),
        "network": lambda: chart_png(comparison, "network", person),
        "pathway": lambda: chart_png(comparison, "pathway", person),
        "outcomes (rebuilt)": lambda: _png(outcomes_figure(comparison)),
        "effect (rebuilt)": lambda: _png(effect_figure(comparison)),
        "stages+doses (rebuilt)": lambda: (
            _png(stages_figure(comparison)),
            _png(doses_figure(comparison)),
        ),
        "effect (full draws)": lambda: chart_png(comparison, "effect", blit=False),
        "stages+doses (full draws)": lambda: (
            chart_png(comparison, "stages", blit=False),
            chart_png(comparison, "doses", blit=False),
        ),
        "network (rebuilt)": lambda: _png(network_figure(comparison, person)),
        "pathway (rebuilt)": lambda: _png(pathway_figure(comparison, person)),
        "outcomes (constrained)": lambda: _png_constrained(outcomes_figure(comparison)),
        "stages+doses (constrained)": lambda: (
            _png_constrained(stages_figure(comparison)),
            _png_constrained(doses_figure(comparison)),
        ),
    }
    times: dict[str, list[tuple[float, float]]] = {"step": [], **{name: [] for name in parts}}
    for week in range(1, weeks + 1):
        times["step"].append(_timed(comparison.step))
        if week % every == 0 or week == weeks:
            for name, action in parts.items():
                times[name].append(_timed(action))
    return times


def _row(name: str, samples: list[tuple[float, float]]) -> dict[str, float | str | int]:
    values = [wall for wall, _ in samples]
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return {
        "part": name,
        "median_ms": round(1000 * statistics.median(values), 1),
        "p90_ms": round(1000 * p90, 1),
        "cpu_median_ms": round(1000 * statistics.median(cpu for _, cpu in samples), 1),
        "samples": len(values),
    }


def main() -> None:
    """Measure and print a table (and write JSON with --out)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--quick", action="store_true", help="200 agents, 8 weeks")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    agents, weeks = (200, 8) if args.quick else (args.agents, args.weeks)
    times = measure(agents, weeks, every=max(1, weeks // 8))
    rows = [_row(name, values) for name, values in times.items()]
    print(f"teaching app, {agents} agents, contexts A and B side by side, {weeks} weeks")
    print(f"{'part':<30}{'median ms':>11}{'p90 ms':>9}{'CPU ms':>9}{'samples':>9}")
    for row in rows:
        print(
            f"{row['part']:<30}{row['median_ms']:>11}{row['p90_ms']:>9}"
            f"{row['cpu_median_ms']:>9}{row['samples']:>9}"
        )
    median = {r["part"]: r["median_ms"] for r in rows}
    tabs = ("outcomes", "effect", "stages+doses", "network", "pathway")
    for tab in tabs:
        total = median["step"] + median["readout"] + median[tab]
        print(f"step + readout + redraw of the {tab} tab: {total:.0f} ms ({1000 / total:.1f}/s)")
    for tab in tabs:
        ratio = median[f"{tab} (rebuilt)"] / median[tab]
        print(f"{tab}: a new figure per redraw (the baseline) takes {ratio:.2f}x the kept figure")
    for tab in ("effect", "stages+doses"):
        ratio = median[f"{tab} (full draws)"] / median[tab]
        print(f"{tab}: drawing every artist (the baseline) takes {ratio:.2f}x the blitted redraw")
    for tab in ("outcomes", "stages+doses"):
        ratio = median[f"{tab} (constrained)"] / median[f"{tab} (rebuilt)"]
        print(f"{tab}: constrained layout (the baseline) takes {ratio:.2f}x the fixed margins")
    result = {
        "agents": agents,
        "weeks": weeks,
        "rows": rows,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
