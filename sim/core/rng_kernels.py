"""The weekly draws, compiled: numba's own ``numpy.random.Generator`` methods.

Every run draws from its own :class:`numpy.random.Generator` per stream
(:mod:`sim.core.seeding`); each week every stream fills a fixed-size block, the
numbers ``Generator.random`` / ``Generator.standard_normal`` would give. The blocks
are filled by compiled loops of ``generator.random()`` and
``generator.standard_normal()``, which numba compiles natively for the very
same Generator objects: a uniform is the bit generator's own ``next_double``
(called through the function pointer numpy publishes for its bit generator),
a normal is numba's copy of numpy's 256-layer ziggurat over its ``next_uint64``. The numbers are
numpy's, number for number, and the generators are left in the state numpy's
fills would leave them in, so every later draw is unchanged as well
(``tests/test_rng_kernels.py`` checks numbers and states against numpy).

The generators reach compiled code as numba typed Lists (:func:`generator_list`):
a list is built once (~10 us per generator) and passing it again costs nothing,
while passing Generators as arguments re-reads each one's published interface
on every call (twice the draw time of a 16 x 1,000-user tile-week). One call of
:func:`fill_streams` fills every stream's block of every run of a batch or tile.

Speed: a uniform costs what numpy's fill pays (one call of the bit generator per
number, ~2.2 ns here); normals are about 3x faster than numpy's fill (numpy calls
the ziggurat per number through its C API). The kernels this module replaced
inlined PCG64 and drew uniforms about 1.5x faster.

Only generators over a plain :class:`numpy.random.PCG64` (what
:func:`sim.core.seeding.streams_for` makes) take this path;
:func:`generator_list` returns None for any other bit generator (or without
numba) and the callers keep numpy's own fills, the same numbers by definition.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

try:  # numba is a dependency; without it the engine uses numpy's fills
    import numba
    from numba import typed, types
except ImportError:  # pragma: no cover - exercised only where numba has no wheel
    numba = None

__all__ = [
    "blocks",
    "fill_normal",
    "fill_streams",
    "fill_uniform",
    "generator_list",
    "numpy_blocks",
    "typed_list",
]


def generator_list(generators: Sequence[np.random.Generator]) -> typed.List | None:
    """The generators as a numba typed List for the fills here, or None.

    None when numba is missing or any generator is not over a plain
    :class:`numpy.random.PCG64`. The list holds references to the generators
    (it keeps them alive) and the compiled fills advance them in place.
    """
    if numba is None:  # pragma: no cover
        return None
    if any(type(generator.bit_generator) is not np.random.PCG64 for generator in generators):
        return None
    if not generators:
        return typed.List.empty_list(types.NumPyRandomGeneratorType("generator"))
    # built by cached compiled code: typed.List's own methods compile afresh in every
    # process (most of a second); unboxing a Generator costs ~10 us either way
    out = _list_of(generators[0])
    for generator in generators[1:]:
        _append(out, generator)
    return out


def typed_list(items: Sequence) -> typed.List:
    """``items`` (one or more, all of one numba type) as a numba typed List.

    For :func:`fill_streams`: a typed List of typed Lists (or of arrays) is typed
    in ~2 us per call, a tuple of them in ~30 us (numba types a tuple element by
    element on every call), which was half the fixed cost of a small run's week.
    Built by cached compiled code, as in :func:`generator_list`.
    """
    if not items:
        raise ValueError("typed_list needs at least one item (its type is the items' type)")
    out = _list_of(items[0])
    for item in items[1:]:
        _append(out, item)
    return out


def numpy_blocks(
    generators: Sequence[np.random.Generator], shape: tuple[int, ...], normal: bool
) -> np.ndarray:
    """One block of standard normals (or uniforms) per generator, stacked: (R, *shape).

    ``generator.standard_normal(shape)`` (or ``random``) for each generator in turn.
    """
    out = np.empty((len(generators), *shape))
    for generator, block in zip(generators, out, strict=True):
        (generator.standard_normal if normal else generator.random)(out=block)
    return out


def blocks(
    generators: Sequence[np.random.Generator], shape: tuple[int, ...], normal: bool
) -> np.ndarray:
    """As :func:`numpy_blocks`, the same numbers; normals drawn in compiled code where possible.

    Uniforms are numpy's own fills: compiled code draws them no faster (one call of
    the bit generator per number either way), and a one-off block does not repay
    :func:`generator_list`'s ~10 us per generator.
    """
    native = generator_list(generators) if normal else None
    if native is None:
        return numpy_blocks(generators, shape, normal)
    out = np.empty((len(generators), *shape))
    (fill_normal if normal else fill_uniform)(native, out.reshape(len(generators), -1))
    return out


if numba is not None:
    _jit = numba.njit(cache=True, nogil=True)

    @_jit
    def _list_of(generator):
        out = typed.List()
        out.append(generator)
        return out

    @_jit
    def _append(generators, generator):
        generators.append(generator)

    @_jit
    def fill_uniform(generators, out):
        """``generators[s].random(out=out[s])`` for every row s.

        Args:
            generators: (S,) typed List from :func:`generator_list`.
            out: (S, n) float64 with contiguous rows, filled in place.
        """
        for s in range(out.shape[0]):
            generator, row = generators[s], out[s]
            for j in range(row.shape[0]):
                row[j] = generator.random()

    @_jit
    def fill_normal(generators, out):
        """``generators[s].standard_normal(out=out[s])`` for every row s (numpy's ziggurat).

        Args:
            generators: (S,) typed List from :func:`generator_list`.
            out: (S, n) float64 with contiguous rows, filled in place.
        """
        for s in range(out.shape[0]):
            generator, row = generators[s], out[s]
            for j in range(row.shape[0]):
                row[j] = generator.standard_normal()

    @_jit
    def fill_streams(uniform_generators, uniform_out, normal_generators, normal_out):
        """Every stream's weekly block in one call.

        :func:`fill_uniform` for each pair ``(uniform_generators[j], uniform_out[j])``,
        then :func:`fill_normal` likewise (one entry per stream: typed Lists from
        :func:`typed_list`, cheapest to pass, or tuples). The same numbers as one
        call per stream (streams are independent), without the per-call dispatch,
        which is most of a small run's draw time.
        """
        for j in range(len(uniform_generators)):
            fill_uniform(uniform_generators[j], uniform_out[j])
        for j in range(len(normal_generators)):
            fill_normal(normal_generators[j], normal_out[j])
