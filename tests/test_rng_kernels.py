"""The compiled draws (sim.core.rng_kernels) equal numpy's, number for number and state for state."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core import rng_kernels
from sim.core.engine import Simulation
from sim.core.parameters import defaults
from sim.core.seeding import RunSeed, streams_for
from sim.core.world import make_world

pytestmark = pytest.mark.skipif(rng_kernels.numba is None, reason="numba not installed")


def generators(n: int, seed: int = 7) -> list[np.random.Generator]:
    return [np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(i,))))
            for i in range(n)]


def numpy_fill(gens: list[np.random.Generator], out: np.ndarray, normal: bool) -> None:
    for g, row in zip(gens, out, strict=True):
        (g.standard_normal if normal else g.random)(out=row)


@pytest.mark.parametrize("n_streams", [0, 1, 3, 4, 5, 9])
@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 7, 1000])
def test_uniform_rows_equal_numpy_and_leave_the_same_state(n_streams, length):
    # lengths 0-5 cover every remainder of the four-chain blocks
    ours, theirs = generators(n_streams), generators(n_streams)
    addresses = rng_kernels.pcg64_addresses(ours)
    assert addresses is not None
    for _ in range(3):
        expected, got = np.empty((n_streams, length)), np.full((n_streams, length), np.nan)
        numpy_fill(theirs, expected, normal=False)
        rng_kernels.fill_uniform(addresses, got)
        np.testing.assert_array_equal(got, expected)
    assert [g.bit_generator.state for g in ours] == [g.bit_generator.state for g in theirs]


def test_normals_equal_numpy_including_the_tail_and_the_wedges():
    ours, theirs = generators(4, seed=2024), generators(4, seed=2024)
    addresses = rng_kernels.pcg64_addresses(ours)
    expected, got = np.empty((4, 250_000)), np.full((4, 250_000), np.nan)
    numpy_fill(theirs, expected, normal=True)
    rng_kernels.fill_normal(addresses, got)
    np.testing.assert_array_equal(got, expected)
    assert [g.bit_generator.state for g in ours] == [g.bit_generator.state for g in theirs]
    # values beyond the base layer's edge come only from the tail path (about 260 here)
    assert (np.abs(got) > rng_kernels.ziggurat_nor_r).sum() > 50


def test_mixed_fills_continue_the_same_streams_as_numpy():
    ours, theirs = generators(6, seed=3), generators(6, seed=3)
    addresses = rng_kernels.pcg64_addresses(ours)
    for normal, length in [(False, 11), (True, 5), (True, 64), (False, 3), (True, 1)]:
        expected, got = np.empty((6, length)), np.empty((6, length))
        numpy_fill(theirs, expected, normal)
        (rng_kernels.fill_normal if normal else rng_kernels.fill_uniform)(addresses, got)
        np.testing.assert_array_equal(got, expected)
    # and numpy carries on from where the kernels left the state
    np.testing.assert_array_equal([g.random() for g in ours], [g.random() for g in theirs])


@pytest.mark.parametrize("bit_generator",
                         [np.random.Philox, np.random.PCG64DXSM, np.random.MT19937])
def test_other_bit_generators_are_declined(bit_generator):
    gens = [*generators(2), np.random.Generator(bit_generator(1))]
    assert rng_kernels.pcg64_addresses(gens) is None


def numpy_week_draws(simulation: Simulation, streams: dict) -> dict[str, np.ndarray]:
    """One week's draws of ``simulation`` drawn by numpy's own methods from ``streams``."""
    out = {}
    for name, shape in simulation._draw_shapes().items():
        method = "standard_normal" if name == "noise" else "random"
        out[name] = np.stack([getattr(g, method)(shape) for g in streams[name]])
    return out


def test_simulation_draws_are_numpys():
    world = make_world(n_agents=300, offer={"peer_support": 0.5})
    seeds = [RunSeed(5, d, 0) for d in range(5)]
    compiled = Simulation(world, [defaults()] * 5, seeds)
    streams = streams_for(seeds)
    for _ in range(3):
        ours, theirs = compiled._draws(), numpy_week_draws(compiled, streams)
        assert ours.keys() == theirs.keys()
        for name in ours:
            np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    # one compiled call fills every stream
    assert [f[0] for f in compiled._fills] == [rng_kernels.fill_streams]


def test_a_stream_without_pcg64_falls_back_to_numpy_fills():
    world = make_world(n_agents=40, offer={"peer_support": 0.5})
    seeds = [RunSeed(6, 0, r) for r in range(2)]
    compiled = Simulation(world, [defaults()] * 2, seeds)
    streams = streams_for(seeds)
    for run_streams in (compiled._streams, streams):  # one generator is not a PCG64
        run_streams["housing"][1] = np.random.Generator(np.random.Philox(9))
    ours, theirs = compiled._draws(), numpy_week_draws(compiled, streams)
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert rng_kernels.fill_streams not in [getattr(f[0], "func", f[0]) for f in compiled._fills]


def test_a_copied_simulation_draws_from_its_own_generators():
    import copy
    import pickle

    world = make_world(50, offer={"peer_support": 0.5})
    original = Simulation(world, [defaults()] * 2, [RunSeed(1, d, 0) for d in range(2)])
    original.step()  # builds the draw plan (generator addresses)
    for make_copy in (copy.deepcopy, lambda sim: pickle.loads(pickle.dumps(sim))):
        clone = make_copy(original)
        expected = {k: v.copy() for k, v in original._draws().items()}
        got = clone._draws()
        for name in expected:  # the clone advanced its own copies of the streams
            np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
        # and the original's next draws are its own, not consumed by the clone
        original._draws()
        clone._draws()
        assert all(a.bit_generator.state == b.bit_generator.state
                   for name in original._streams
                   for a, b in zip(original._streams[name], clone._streams[name], strict=True))


def test_row_sum_adds_in_numpy_order():
    # the compiled metrics (sim.core.metric_kernels) rely on it for numpy's bits
    from sim.core.metric_kernels import pairwise_program, row_sum

    rng = np.random.default_rng(11)
    sizes = [*range(0, 300), 511, 1000, 1024, 4095, 8192, 8193, 10_000, 100_003]
    for n in sizes:
        values = rng.random(n) * 10.0 ** rng.integers(-4, 5) * rng.choice([-1.0, 1.0], n)
        program, partial = pairwise_program(n), np.empty(64)
        assert row_sum(values, program, partial) == np.add.reduce(values), n
        strided = np.repeat(values[:, None], 4, axis=1)[:, 1]  # as a dose column is read
        assert row_sum(strided, program, partial) == np.add.reduce(strided), n
