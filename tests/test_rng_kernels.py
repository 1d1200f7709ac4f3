"""The compiled draws (sim.core.rng_kernels) equal numpy's, number for number and state for state.

The fills there are numba's own ``Generator.random()`` / ``standard_normal()`` in a loop;
these tests compare them with numpy's ``Generator.random(out=...)`` /
``standard_normal(out=...)`` on twin generators: the numbers, and the generators'
states afterwards (so every later draw is the same too).
"""

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
    return [
        np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(i,))))
        for i in range(n)
    ]


def numpy_fill(gens: list[np.random.Generator], out: np.ndarray, normal: bool) -> None:
    for g, row in zip(gens, out, strict=True):
        (g.standard_normal if normal else g.random)(out=row)


def states(gens: list[np.random.Generator]) -> list[dict]:
    return [g.bit_generator.state for g in gens]


# numpy's ziggurat: |x| beyond the base layer's edge comes only from the tail path
ZIGGURAT_R = 3.6541528853610088


@pytest.mark.parametrize("n_streams", [0, 1, 3, 9])
@pytest.mark.parametrize("length", [0, 1, 2, 3, 5, 1000])
@pytest.mark.parametrize("normal", [False, True])
def test_rows_equal_numpy_and_leave_the_same_state(n_streams, length, normal):
    ours, theirs = generators(n_streams), generators(n_streams)
    native = rng_kernels.generator_list(ours)
    assert native is not None and len(native) == n_streams
    fill = rng_kernels.fill_normal if normal else rng_kernels.fill_uniform
    for _ in range(3):
        expected, got = np.empty((n_streams, length)), np.full((n_streams, length), np.nan)
        numpy_fill(theirs, expected, normal)
        fill(native, got)
        np.testing.assert_array_equal(got, expected)
        assert states(ours) == states(theirs)


def test_normals_equal_numpy_including_the_tail_and_the_wedges():
    ours, theirs = generators(4, seed=2024), generators(4, seed=2024)
    expected, got = np.empty((4, 250_000)), np.full((4, 250_000), np.nan)
    numpy_fill(theirs, expected, normal=True)
    rng_kernels.fill_normal(rng_kernels.generator_list(ours), got)
    np.testing.assert_array_equal(got, expected)
    assert states(ours) == states(theirs)
    assert (np.abs(got) > ZIGGURAT_R).sum() > 50  # about 260 tail draws here


def test_mixed_fills_continue_the_same_streams_as_numpy():
    ours, theirs = generators(6, seed=3), generators(6, seed=3)
    native = rng_kernels.generator_list(ours)
    for normal, length in [(False, 11), (True, 5), (True, 64), (False, 3), (True, 1)]:
        expected, got = np.empty((6, length)), np.empty((6, length))
        numpy_fill(theirs, expected, normal)
        (rng_kernels.fill_normal if normal else rng_kernels.fill_uniform)(native, got)
        np.testing.assert_array_equal(got, expected)
    # and numpy carries on from where the compiled fills left the state
    np.testing.assert_array_equal([g.random() for g in ours], [g.random() for g in theirs])
    np.testing.assert_array_equal(
        [g.standard_normal() for g in ours], [g.standard_normal() for g in theirs]
    )


def test_fill_streams_equals_numpy_stream_by_stream():
    shapes = [(4, 7), (4, 1), (4, 33)], [(4, 9), (4, 2)]  # uniform streams, normal streams
    ours = [[generators(4, seed=10 * k + j) for j in range(len(s))] for k, s in enumerate(shapes)]
    theirs = [[generators(4, seed=10 * k + j) for j in range(len(s))] for k, s in enumerate(shapes)]
    for _ in range(2):
        got = [[np.full(shape, np.nan) for shape in s] for s in shapes]
        rng_kernels.fill_streams(
            tuple(map(rng_kernels.generator_list, ours[0])),
            tuple(got[0]),
            tuple(map(rng_kernels.generator_list, ours[1])),
            tuple(got[1]),
        )
        for normal, (gens, outs) in enumerate(zip(theirs, got, strict=True)):
            for g, out in zip(gens, outs, strict=True):
                expected = np.empty_like(out)
                numpy_fill(g, expected, bool(normal))
                np.testing.assert_array_equal(out, expected)
    assert [states(g) for s in ours for g in s] == [states(g) for s in theirs for g in s]


@pytest.mark.parametrize("normal", [False, True])
@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.Philox])
def test_blocks_equal_numpy_blocks_with_the_fallback(bit_generator, normal):
    def make() -> list[np.random.Generator]:
        return [*generators(2), np.random.Generator(bit_generator(1))]

    ours, theirs = make(), make()
    for shape in [(10, 7), (3,), (0,)]:
        np.testing.assert_array_equal(
            rng_kernels.blocks(ours, shape, normal), rng_kernels.numpy_blocks(theirs, shape, normal)
        )
    assert [repr(s) for s in states(ours)] == [repr(s) for s in states(theirs)]


@pytest.mark.parametrize(
    "bit_generator", [np.random.Philox, np.random.PCG64DXSM, np.random.MT19937]
)
def test_other_bit_generators_are_declined(bit_generator):
    gens = [*generators(2), np.random.Generator(bit_generator(1))]
    assert rng_kernels.generator_list(gens) is None


def test_the_list_keeps_its_generators_alive():
    import gc

    native = rng_kernels.generator_list(generators(3, seed=5))
    gc.collect()
    got, expected = np.empty((3, 100)), np.empty((3, 100))
    rng_kernels.fill_uniform(native, got)
    numpy_fill(generators(3, seed=5), expected, normal=False)
    np.testing.assert_array_equal(got, expected)


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
        assert all(
            a.bit_generator.state == b.bit_generator.state
            for name in original._streams
            for a, b in zip(original._streams[name], clone._streams[name], strict=True)
        )


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
