"""Seeding: one SeedSequence per (design point, replicate), a named stream per process.

Every random process draws from its own :class:`numpy.random.Generator`, whose
seed is derived from the experiment seed, the design point, the replicate and a
stable hash of the process name. Switching an intervention on therefore never
reshuffles the draws of an unrelated process (common random numbers), and a
run's draws do not depend on which other runs share its batch.
"""

from __future__ import annotations

import hashlib

import numpy as np

from sim.core.errors import UserError

__all__ = ["STREAMS", "RunSeed", "stream_key", "streams_for"]

STREAMS: tuple[str, ...] = (
    "population",  # entry traits, baseline states, initial network
    "engagement",  # uptake of offered places and dropout
    "admission",  # tie-break among users waiting for a place
    "employment",  # job finding and job loss
    "housing",  # housing gain and loss
    "relapse",  # relapse onset and resolution
    "noise",  # weekly fluctuation of hope, empowerment, motivation
    "network",  # tie formation and decay
    "referral",  # order and weeks of referral into an open service
    "exit",  # leaving an open service (recovered, moved on, disengaged, died)
)


def stream_key(name: str) -> int:
    """A stable 32-bit integer for a stream name (independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little")


class RunSeed:
    """The seed of one run: experiment seed, design-point index, replicate index."""

    __slots__ = ("design_point", "replicate", "seed")

    def __init__(self, seed: int, design_point: int = 0, replicate: int = 0) -> None:
        for label, value in (
            ("seed", seed),
            ("design_point", design_point),
            ("replicate", replicate),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise UserError(f"{label} must be a non-negative integer, got {value!r}")
        self.seed = int(seed)
        self.design_point = int(design_point)
        self.replicate = int(replicate)

    def sequence(self, stream: str) -> np.random.SeedSequence:
        """The SeedSequence of one named stream of this run."""
        if stream not in STREAMS:
            raise UserError(f"unknown stream {stream!r}; valid: {', '.join(STREAMS)}")
        return np.random.SeedSequence(
            self.seed, spawn_key=(self.design_point, self.replicate, stream_key(stream))
        )

    def as_dict(self) -> dict[str, int]:
        """The seed triple, for manifests."""
        return {"seed": self.seed, "design_point": self.design_point, "replicate": self.replicate}

    def __repr__(self) -> str:
        return f"RunSeed({self.seed}, {self.design_point}, {self.replicate})"


def streams_for(run_seeds: list[RunSeed]) -> dict[str, list[np.random.Generator]]:
    """One Generator per (stream, run): ``streams[name][run]``."""
    return {
        name: [np.random.Generator(np.random.PCG64(rs.sequence(name))) for rs in run_seeds]
        for name in STREAMS
    }
