"""The model behind the teaching app: one context, or two side by side on common random numbers.

:class:`ContextComparison` is a ``mesa.Model`` that holds one
:class:`sim.faces.mesa_model.RecoveryModel` per context: context A alone, or A and B side
by side. Both runs get the same seed, population, offers and shared parameters;
only the context parameters (:data:`CONTEXT_PARAMETERS`) differ, and because every
random process draws from its own named stream (see ``docs/ARCHITECTURE.md``, §5)
the two runs meet the same people and the same chance events. Every difference the
class sees is therefore the context's doing.

Presets (:data:`PRESETS`) read the two contexts from the shipped scenario files,
so the app never retypes a scenario's values. :func:`export_run` writes a run in
the format of ``recovery-sim run``: ``series.parquet`` (tidy: scenario, replicate,
week, metric, value) and ``manifest.json``, in an atomic folder.

>>> pair = ContextComparison(n_agents=30, seed=2, weeks=3,
...                          context_b={"unemployment_rate": 0.14})
>>> pair.run_model()
>>> [run.model.week for run in pair.runs]
[3, 3]
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim.core.parameters import REGISTRY, lookup
from sim.core.world import Team
from sim.faces.mesa_model import RecoveryModel
from sim.files.outputs import atomic_folder, make_manifest, write_json
from sim.files.scenario import load_scenario
from sim.files.shipped import scenario_dir
from sim.studies.compare import SERIES_COLUMNS

__all__ = [
    "APP_MAX_AGENTS",
    "APP_MAX_WEEKS",
    "CONTEXT_PARAMETERS",
    "EFFECT_METRICS",
    "PRESETS",
    "ContextComparison",
    "ContextRun",
    "Preset",
    "effect_frame",
    "export_run",
    "metric_frame",
    "preset_contexts",
    "tidy_series",
]

# What one app session may build: people per context and weeks (a browser can send anything).
APP_MAX_AGENTS = 1000
APP_MAX_WEEKS = 1040

# Outcomes whose package effect (with - without) the app shows: every domain of the logic model.
EFFECT_METRICS: tuple[str, ...] = (
    "personal_recovery",
    "hope",
    "employed",
    "housed",
    "social_inclusion",
    "connectedness",
)

# Moderators of the service (team attitudes) and the environment that define a context.
CONTEXT_PARAMETERS: tuple[str, ...] = (
    "professional_attitudes",
    "unemployment_rate",
    "public_stigma",
)


@dataclass(frozen=True)
class Preset:
    """A pair of shipped scenario files whose contexts the class compares.

    Attributes:
        key: Identifier used by the app's preset selector.
        title: What the selector shows.
        file_a: Shipped scenario file of context A (in
            :func:`sim.files.shipped.scenario_dir`: package data in a wheel).
        file_b: Scenario file of context B.
    """

    key: str
    title: str
    file_a: str
    file_b: str


PRESETS: tuple[Preset, ...] = (
    Preset(
        "stigma",
        "Stigmatising vs pro-recovery context",
        "stigmatising_context.toml",
        "pro_recovery_context.toml",
    ),
    Preset(
        "unemployment", "4% vs 14% unemployment", "low_unemployment.toml", "high_unemployment.toml"
    ),
    Preset(
        "typical-stigmatising",
        "Typical vs stigmatising context",
        "baseline.toml",
        "stigmatising_context.toml",
    ),
)


def _context_of_file(path: Path) -> tuple[str, dict[str, float]]:
    """The scenario's name and its context values (site 0, team 0, parameters, defaults)."""
    scenario = load_scenario(path)
    world = scenario.world()
    run_values = scenario.parameters()
    context = {}
    for name in CONTEXT_PARAMETERS:
        value = getattr(world.sites[0], name, None)
        if value is None:
            value = getattr(world.teams[0], name, None)
        if value is None:
            value = run_values.get(name, REGISTRY[name].default)
        context[name] = float(value)
    return scenario.name, context


def preset_contexts(
    key: str, *, folder: Path | None = None
) -> tuple[tuple[str, dict[str, float]], tuple[str, dict[str, float]]]:
    """The (name, context) of A and of B for the preset ``key``, read from its scenario files.

    The files are read from ``folder``, by default the shipped scenarios
    (:func:`sim.files.shipped.scenario_dir`), so presets work from a wheel install.

    Raises:
        KeyError: If no preset has that key (the message lists the valid keys).
        sim.files.scenario.ScenarioError: If a scenario file is missing or invalid.
    """
    for preset in PRESETS:
        if preset.key == key:
            folder = folder if folder is not None else scenario_dir()
            return (
                _context_of_file(folder / preset.file_a),
                _context_of_file(folder / preset.file_b),
            )
    raise KeyError(f"unknown preset {key!r}; valid: {', '.join(p.key for p in PRESETS)}")


@dataclass(frozen=True)
class ContextRun:
    """One context's run inside a :class:`ContextComparison`.

    Attributes:
        key: "A" or "B".
        name: The context's label (a scenario name or "context-a" / "context-b").
        context: The context parameter values of this run.
        model: The run itself (with the package offered).
        without: The same people, seed and context with no package (no offers, no staff
            training), stepped in lockstep with ``model``; None when the package
            effect is not computed.
    """

    key: str
    name: str
    context: dict[str, float]
    model: RecoveryModel
    without: RecoveryModel | None = None

    @property
    def models(self) -> tuple[RecoveryModel, ...]:
        """The run with the package and, if computed, the run without it."""
        return (self.model,) if self.without is None else (self.model, self.without)


class ContextComparison(mesa.Model):
    """Context A, and optionally context B, run in lockstep on the same seed.

    Args:
        n_agents: Number of service users in each run.
        seed: Experiment seed shared by both runs (common random numbers).
        weeks: Horizon; ``running`` becomes False once it is reached.
        offer: Intervention name -> share of users offered it (both runs).
        staff_training: Whether the team receives recovery-oriented staff training.
        params: Registry values shared by both runs (e.g. ``motivation_median``).
        context_a: Context parameter values of A (others take registry defaults).
        context_b: Context parameter values of B; None runs A alone.
        name_a: Label of context A.
        name_b: Label of context B.
        package_effect: Whether each context also runs without the package (no offers,
            no staff training) on the same seed, so that the package's effect
            (with - without) can be shown; None (default) does so whenever a package
            is chosen (an offer above 0 or staff training).

    Raises:
        ValueError: If a context names a parameter outside :data:`CONTEXT_PARAMETERS`
            or ``params`` names one inside it, or ``n_agents`` or ``weeks`` is not a whole
            number within :data:`APP_MAX_AGENTS` or :data:`APP_MAX_WEEKS`.
        sim.core.parameters.ParameterError: For an unknown parameter or a value out of bounds.
    """

    def __init__(
        self,
        *,
        n_agents: int = 200,
        seed: int = 1,
        weeks: int = 104,
        offer: Mapping[str, float] | None = None,
        staff_training: bool = False,
        params: Mapping[str, float] | None = None,
        context_a: Mapping[str, float] | None = None,
        context_b: Mapping[str, float] | None = None,
        name_a: str = "context-a",
        name_b: str = "context-b",
        package_effect: bool | None = None,
    ) -> None:
        _check_whole("n_agents", n_agents, APP_MAX_AGENTS)
        _check_whole("weeks", weeks, APP_MAX_WEEKS)
        super().__init__(seed=seed)
        shared = dict(params or {})
        clash = sorted(set(shared) & set(CONTEXT_PARAMETERS))
        if clash:
            raise ValueError(
                f"params sets context parameters {clash}; give them in context_a / context_b"
            )
        self.seed_value = int(seed)
        package = any(share > 0 for share in (offer or {}).values()) or bool(staff_training)
        effect = package if package_effect is None else bool(package_effect)
        self.settings: dict[str, Any] = {
            "n_agents": n_agents,
            "seed": seed,
            "weeks": weeks,
            "offer": dict(offer or {}),
            "staff_training": staff_training,
            "params": shared,
        }
        teams = [Team(name="team", staff_training=bool(staff_training))]
        contexts = [("A", name_a, context_a)]
        if context_b is not None:
            contexts.append(("B", name_b, context_b))
        self.runs: tuple[ContextRun, ...] = tuple(
            ContextRun(
                key,
                name,
                full,
                RecoveryModel(
                    n_agents=n_agents,
                    seed=seed,
                    weeks=weeks,
                    offer=dict(offer or {}),
                    teams=teams,
                    params={**shared, **full},
                ),
                RecoveryModel(
                    n_agents=n_agents,
                    seed=seed,
                    weeks=weeks,
                    offer={},
                    teams=[Team(name="team", staff_training=False)],
                    params={**shared, **full},
                )
                if effect
                else None,
            )
            for key, name, context in contexts
            for full in [_full_context(context)]
        )

    @property
    def side_by_side(self) -> bool:
        """Whether two contexts run side by side."""
        return len(self.runs) == 2

    @property
    def package_effect(self) -> bool:
        """Whether every context also runs without the package (the effect can be shown)."""
        return bool(self.runs) and all(run.without is not None for run in self.runs)

    @property
    def week(self) -> int:
        """Weeks simulated so far."""
        return self.runs[0].model.week

    def release(self) -> None:
        """Drop the runs (nearly all the memory) and stop: the session showing it has ended.

        The app calls this when it replaces a model (a control changed) and when a browser
        session closes (solara culls a disconnected session's kernel).
        """
        self.running = False
        for run in self.runs:
            for model in run.models:
                # Mesa 3.3's Agent keeps a class-level dict keyed by model (Agent._ids): without
                # this, every model the app ever built would stay in memory for the server's life
                getattr(mesa.Agent, "_ids", {}).pop(model, None)
        self.runs = ()
        self.__dict__.pop("_live_charts", None)  # the app's charts kept between redraws

    def step(self) -> None:
        """Advance every run (with and without the package) by one week.

        Nothing happens once released or once the horizon is reached: however many
        weeks a caller asks for, the run stops at ``weeks``.
        """
        if not self.runs or self.week >= self.settings["weeks"]:
            self.running = False
            return
        for run in self.runs:
            for model in run.models:
                model.step()
        self.running = self.week < self.settings["weeks"] and all(
            model.running for run in self.runs for model in run.models
        )

    def layout(self) -> np.ndarray:
        """Fixed 2-D positions of the users for drawing the network, shape (N, 2).

        Computed from context A's network at week 0 (identical in B: same seed) and
        cached, so the picture does not jump as ties form and lapse.
        """
        if not hasattr(self, "_layout"):
            graph = self.runs[0].model.network_graph()
            edges = np.array(sorted(graph.edges()), dtype=np.int64).reshape(-1, 2)
            self._layout = _force_layout(graph.number_of_nodes(), edges.tobytes())
        return self._layout


def _check_whole(name: str, value: object, limit: int) -> None:
    """Refuse anything but a whole number in [1, limit] (before any memory is spent)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not 1 <= value <= limit
    ):
        raise ValueError(f"{name} must be a whole number in [1, {limit}], got {value!r}")


def _full_context(context: Mapping[str, float] | None) -> dict[str, float]:
    """All of :data:`CONTEXT_PARAMETERS`: the given values, else registry defaults."""
    values = dict(context or {})
    unknown = sorted(set(values) - set(CONTEXT_PARAMETERS))
    if unknown:
        raise ValueError(
            f"context parameters must be among {list(CONTEXT_PARAMETERS)}, got {unknown}"
        )
    return {
        name: lookup(name).check(values.get(name, REGISTRY[name].default), where="context")
        for name in CONTEXT_PARAMETERS
    }


@lru_cache(maxsize=16)
def _force_layout(n: int, edges: bytes, iterations: int = 60) -> np.ndarray:
    """Fruchterman-Reingold positions in the unit square, deterministic (no random numbers).

    Nodes start on a sunflower spiral; ``edges`` is an (E, 2) int64 array as bytes
    (hashable, so layouts are cached per network).
    """
    pairs = np.frombuffer(edges, dtype=np.int64).reshape(-1, 2)
    index = np.arange(n) + 0.5
    radius, angle = np.sqrt(index / n), index * np.pi * (3.0 - np.sqrt(5.0))
    pos = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    k = 1.0 / np.sqrt(max(n, 1))
    temperature = 0.1
    for _ in range(iterations):
        dx = pos[:, 0, None] - pos[None, :, 0]
        dy = pos[:, 1, None] - pos[None, :, 1]
        weight = k * k / np.maximum(dx * dx + dy * dy, 1e-4)  # repulsion k^2 / d
        force = np.column_stack([(dx * weight).sum(axis=1), (dy * weight).sum(axis=1)])
        if len(pairs):
            pull = pos[pairs[:, 0]] - pos[pairs[:, 1]]
            spring = pull * np.linalg.norm(pull, axis=1, keepdims=True) / k  # attraction d^2 / k
            np.add.at(force, pairs[:, 0], -spring)
            np.add.at(force, pairs[:, 1], spring)
        force -= pos * np.linalg.norm(pos, axis=1, keepdims=True) / k  # gravity keeps islands near
        length = np.maximum(np.linalg.norm(force, axis=1, keepdims=True), 1e-9)
        pos += force / length * np.minimum(length, temperature)
        temperature *= 0.95
    low, high = pos.min(axis=0), pos.max(axis=0)
    return (pos - low) / np.where(high > low, high - low, 1.0)


def metric_frame(model: RecoveryModel, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """A snapshot of the model's weekly metrics, one row per collected week.

    Safe to call while another thread steps the model: every column is cut to
    the weeks collected for all of them.
    """
    collected = model.datacollector.model_vars
    names = list(collected) if metrics is None else list(metrics)
    columns = {name: list(collected[name]) for name in names}
    weeks = min((len(values) for values in columns.values()), default=0)
    frame = pd.DataFrame({name: values[:weeks] for name, values in columns.items()})
    frame.index.name = "week"
    return frame


def effect_frame(run: ContextRun, metrics: Sequence[str] = EFFECT_METRICS) -> pd.DataFrame:
    """The package's effect in one context, week by week: with minus without the package.

    Both runs share the seed (the same people and chance events), so the difference
    is the package's doing. Cut to the weeks collected in both runs.

    Raises:
        ValueError: If the run has no without-package counterpart.
    """
    if run.without is None:
        raise ValueError(f"context {run.key} was run without its no-package counterpart")
    with_ = metric_frame(run.model, metrics)
    without = metric_frame(run.without, metrics)
    weeks = min(len(with_), len(without))
    return with_.iloc[:weeks] - without.iloc[:weeks]


WITHOUT_SUFFIX = " (without package)"


def tidy_series(comparison: ContextComparison) -> pd.DataFrame:
    """Every weekly metric of every run as the CLI's tidy series.

    Returns:
        Columns scenario (the context's name; runs without the package are named
        ``"<name> (without package)"``), replicate (0), week, metric, value.
    """
    frames = []
    for run in comparison.runs:
        for model, name in zip(run.models, (run.name, run.name + WITHOUT_SUFFIX), strict=False):
            wide = metric_frame(model)
            long = wide.reset_index().melt(id_vars="week", var_name="metric", value_name="value")
            long.insert(0, "replicate", 0)
            long.insert(0, "scenario", name)
            frames.append(long)
    tidy = pd.concat(frames, ignore_index=True)[list(SERIES_COLUMNS)]
    return tidy.astype({"week": np.int64, "value": np.float64})


def export_run(
    comparison: ContextComparison,
    out_dir: str | Path,
    *,
    figures: Callable[[Path], Sequence[Path]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the run like ``recovery-sim run`` does, in a new atomic folder under ``out_dir``.

    Args:
        comparison: The run to write.
        out_dir: Parent folder; the run goes to ``<out_dir>/app-<timestamp>-week<k>/``.
        figures: Optional callback drawing the current charts into the folder.
        extra: Further manifest fields (e.g. the selected person).

    Returns:
        The folder written (``series.parquet``, ``manifest.json`` and any charts).

    Raises:
        sim.files.outputs.OutputError: If the folder cannot be written.
    """
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = Path(out_dir) / f"app-{stamp}-week{comparison.week}"
    with atomic_folder(target) as folder:
        tidy_series(comparison).to_parquet(folder / "series.parquet", index=False)
        charts = [p.name for p in figures(folder)] if figures is not None else []
        manifest = make_manifest(
            command=[Path(sys.argv[0]).name, *sys.argv[1:]],
            source="recovery-sim app",
            scenarios=[
                {"name": run.name, "context": run.context, "parameters": run.model.params}
                for run in comparison.runs
            ],
            seeds=[comparison.runs[0].model.run_seed.as_dict()],
            common_random_numbers=comparison.side_by_side or comparison.package_effect,
            package_effect=comparison.package_effect,
            settings=comparison.settings,
            weeks=comparison.week,
            charts=charts,
            uncertainty="one replicate per context; parameters fixed at the app's values",
            **dict(extra or {}),
        )
        write_json(folder / "manifest.json", manifest)
    return target
