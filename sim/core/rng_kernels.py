"""The weekly draws, compiled: numpy's PCG64 and its normal sampler, bit for bit.

Every run draws from its own :class:`numpy.random.Generator` per stream
(:mod:`sim.core.seeding`). On the numpy path the engine fills each stream's block
with ``Generator.random`` / ``Generator.standard_normal``; here the same
numbers come from compiled code that reads and advances the generators' own
PCG64 state in place, so the generators, the numbers and every later draw are
exactly what numpy would have produced (``tests/test_rng_kernels.py`` checks it
against numpy, state and all).

Why it is faster: numpy calls its bit generator through a function pointer
once per number, so every uniform waits for the previous 128-bit state update;
these kernels keep the state in registers, split each row of uniforms into four
chains that jump four steps at a time (the same numbers in the same order, but
four independent multiplications in flight) and inline the ziggurat of the normal
sampler.

The algorithms are numpy's (``numpy/random/src/pcg64/pcg64.h``,
``distributions.c``): state <- state * M + inc (mod 2**128), output
rotr64(hi ^ lo, hi >> 58) of the new state, a double as (x >> 11) * 2**-53;
normals by the 256-layer ziggurat with numpy's tables (numba ships numpy's
constants) and libm's ``log1p``/``exp`` on the rare slow paths, as numpy's C
code calls them.

:func:`pcg64_addresses` checks, per generator, that it is a plain PCG64 whose
state sits in memory the way this module reads it; if not (another bit
generator, or a numpy built without native 128-bit integers), it returns None
and the engine keeps numpy's own fills.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence

import numpy as np

try:  # numba is a dependency; without it the engine uses numpy's fills
    import numba
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic
    from numba.np.random._constants import (
        fi_double,
        ki_double,
        wi_double,
        ziggurat_nor_inv_r,
        ziggurat_nor_r,
    )
except ImportError:  # pragma: no cover - exercised only where numba has no wheel
    numba = None

__all__ = ["blocks", "fill_normal", "fill_streams", "fill_uniform", "numpy_blocks",
           "pcg64_addresses"]

# PCG_DEFAULT_MULTIPLIER_128 of numpy's pcg64.h
MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341
TO_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53, as numpy's next_double


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _state_address(bit_generator: np.random.PCG64) -> int:
    """Address of the (state, inc) words of a PCG64, read through its ``bitgen_t`` capsule.

    ``bitgen_t.state`` (its first field) points to numpy's ``pcg64_state``, whose
    first field points to the ``pcg64_random_t`` holding the state and increment.
    """
    bitgen = _capsule_pointer(bit_generator.capsule, b"BitGenerator")
    pcg64_state = ctypes.c_void_p.from_address(bitgen).value
    return ctypes.c_void_p.from_address(pcg64_state).value


def _same_words(bit_generator: np.random.PCG64, address: int) -> bool:
    """Whether memory at ``address`` holds the generator's state as four little-endian words."""
    expected = bit_generator.state["state"]
    mask = 2**64 - 1
    return list((ctypes.c_uint64 * 4).from_address(address)) == [
        expected["state"] & mask, expected["state"] >> 64,
        expected["inc"] & mask, expected["inc"] >> 64]


@functools.cache
def _layout_is_native() -> bool:
    """Whether this numpy keeps PCG64's 128-bit state as native little-endian words."""
    probe = np.random.PCG64(20_240)
    probe.advance(12_345)  # a state whose words all differ
    return _same_words(probe, _state_address(probe))


def pcg64_addresses(generators: Sequence[np.random.Generator]) -> np.ndarray | None:
    """Address of each generator's PCG64 state (state lo, hi, inc lo, hi), or None.

    None when numba is missing, any generator is not a plain
    :class:`numpy.random.PCG64`, or this numpy lays the state out otherwise
    (checked once per process against ``bit_generator.state``). The generators
    must outlive every use of the addresses.
    """
    if numba is None or not _layout_is_native():  # pragma: no cover
        return None
    addresses = np.empty(len(generators), dtype=np.intp)
    for index, generator in enumerate(generators):
        bit_generator = generator.bit_generator
        if type(bit_generator) is not np.random.PCG64:
            return None
        addresses[index] = _state_address(bit_generator)
    return addresses


def numpy_blocks(generators: Sequence[np.random.Generator], shape: tuple[int, ...],
                 normal: bool) -> np.ndarray:
    """One block of standard normals (or uniforms) per generator, stacked: (R, *shape).

    ``generator.standard_normal(shape)`` (or ``random``) for each generator in turn.
    """
    out = np.empty((len(generators), *shape))
    for generator, block in zip(generators, out, strict=True):
        (generator.standard_normal if normal else generator.random)(out=block)
    return out


def blocks(generators: Sequence[np.random.Generator], shape: tuple[int, ...],
           normal: bool) -> np.ndarray:
    """As :func:`numpy_blocks`, the same numbers, drawn by the kernels where possible."""
    addresses = pcg64_addresses(generators)
    if addresses is None:
        return numpy_blocks(generators, shape, normal)
    out = np.empty((len(generators), *shape))
    (fill_normal if normal else fill_uniform)(addresses, out.reshape(len(generators), -1))
    return out


if numba is not None:
    _I64, _I128 = ir.IntType(64), ir.IntType(128)

    @intrinsic
    def _load(typingctx, address, index):
        """The uint64 word ``index`` at ``address``."""
        def codegen(context, builder, signature, args):
            pointer = builder.inttoptr(args[0], _I64.as_pointer())
            return builder.load(builder.gep(pointer, [args[1]]))
        return types.uint64(types.intp, types.intp), codegen

    @intrinsic
    def _store(typingctx, address, index, value):
        """Write ``value`` into the uint64 word ``index`` at ``address``."""
        def codegen(context, builder, signature, args):
            pointer = builder.inttoptr(args[0], _I64.as_pointer())
            builder.store(args[2], builder.gep(pointer, [args[1]]))
            return context.get_dummy_value()
        return types.void(types.intp, types.intp, types.uint64), codegen

    def _wide(builder, low, high):
        return builder.or_(builder.zext(low, _I128),
                           builder.shl(builder.zext(high, _I128), ir.Constant(_I128, 64)))

    @intrinsic
    def _affine(typingctx, lo, hi, a_lo, a_hi, c_lo, c_hi):
        """(a * x + c) mod 2**128 for the 128-bit x = (lo, hi), as (lo, hi)."""
        def codegen(context, builder, signature, args):
            new = builder.add(builder.mul(_wide(builder, args[0], args[1]),
                                          _wide(builder, args[2], args[3])),
                              _wide(builder, args[4], args[5]))
            high = builder.lshr(new, ir.Constant(_I128, 64))
            return context.make_tuple(builder, signature.return_type,
                                      (builder.trunc(new, _I64), builder.trunc(high, _I64)))
        return types.UniTuple(types.uint64, 2)(*[types.uint64] * 6), codegen

    @intrinsic
    def _output(typingctx, lo, hi):
        """PCG64's XSL-RR output of the state (lo, hi): rotr64(hi ^ lo, hi >> 58)."""
        def codegen(context, builder, signature, args):
            folded = builder.xor(args[1], args[0])
            rotation = builder.lshr(args[1], ir.Constant(_I64, 58))
            left = builder.and_(builder.neg(rotation), ir.Constant(_I64, 63))
            return builder.or_(builder.lshr(folded, rotation), builder.shl(folded, left))
        return types.uint64(types.uint64, types.uint64), codegen

    _jit = numba.njit(cache=True, nogil=True, error_model="numpy")
    _S8, _S11, _ONE = np.uint64(8), np.uint64(11), np.uint64(1)
    _LOW8, _LOW52 = np.uint64(0xFF), np.uint64(0x000FFFFFFFFFFFFF)
    _MASK = 2**64 - 1
    _M_LO, _M_HI = np.uint64(MULTIPLIER & _MASK), np.uint64(MULTIPLIER >> 64)
    # four steps at once: x -> M^4 x + inc (M^3 + M^2 + M + 1)  (mod 2**128)
    _JUMP = pow(MULTIPLIER, 4, 2**128)
    _SPREAD = (MULTIPLIER**3 + MULTIPLIER**2 + MULTIPLIER + 1) % 2**128
    _J_LO, _J_HI = np.uint64(_JUMP & _MASK), np.uint64(_JUMP >> 64)
    _S_LO, _S_HI = np.uint64(_SPREAD & _MASK), np.uint64(_SPREAD >> 64)
    _ZERO = np.uint64(0)

    @_jit
    def _step(lo, hi, inc_lo, inc_hi):
        """One PCG64 step: the new state (lo, hi) and its 64-bit output."""
        lo, hi = _affine(lo, hi, _M_LO, _M_HI, inc_lo, inc_hi)
        return lo, hi, _output(lo, hi)

    @_jit
    def _double(bits):
        return np.float64(bits >> _S11) * TO_DOUBLE

    @_jit
    def fill_uniform(addresses, out):
        """``out[s] = generators[s].random(out.shape[1])`` for every generator s.

        Four chains per row: chain q starts at the state after q + 1 steps and
        jumps four steps at a time, so the four multiplications of a block are
        independent and overlap in the pipeline; the outputs come in numpy's order.

        Args:
            addresses: (S,) from :func:`pcg64_addresses`.
            out: (S, n) C-contiguous float64, filled in place.
        """
        n = out.shape[1]
        n_blocks = n // 4
        for s in range(out.shape[0]):
            address = addresses[s]
            lo, hi = _load(address, 0), _load(address, 1)
            inc_lo, inc_hi = _load(address, 2), _load(address, 3)
            row = out[s]
            lo0, hi0, _ = _step(lo, hi, inc_lo, inc_hi)
            lo1, hi1, _ = _step(lo0, hi0, inc_lo, inc_hi)
            lo2, hi2, _ = _step(lo1, hi1, inc_lo, inc_hi)
            lo3, hi3, _ = _step(lo2, hi2, inc_lo, inc_hi)
            c_lo, c_hi = _affine(inc_lo, inc_hi, _S_LO, _S_HI, _ZERO, _ZERO)
            for b in range(n_blocks):
                j = 4 * b
                row[j], row[j + 1] = _double(_output(lo0, hi0)), _double(_output(lo1, hi1))
                row[j + 2], row[j + 3] = _double(_output(lo2, hi2)), _double(_output(lo3, hi3))
                lo, hi = lo3, hi3  # the state after j + 4 steps
                lo0, hi0 = _affine(lo0, hi0, _J_LO, _J_HI, c_lo, c_hi)
                lo1, hi1 = _affine(lo1, hi1, _J_LO, _J_HI, c_lo, c_hi)
                lo2, hi2 = _affine(lo2, hi2, _J_LO, _J_HI, c_lo, c_hi)
                lo3, hi3 = _affine(lo3, hi3, _J_LO, _J_HI, c_lo, c_hi)
            j, rest = 4 * n_blocks, n - 4 * n_blocks  # 0-3 numbers left: chains 0..rest-1
            if rest > 0:
                row[j], lo, hi = _double(_output(lo0, hi0)), lo0, hi0
            if rest > 1:
                row[j + 1], lo, hi = _double(_output(lo1, hi1)), lo1, hi1
            if rest > 2:
                row[j + 2], lo, hi = _double(_output(lo2, hi2)), lo2, hi2
            _store(address, 0, lo)
            _store(address, 1, hi)

    @_jit
    def fill_normal(addresses, out):
        """``out[s] = generators[s].standard_normal(out.shape[1])`` (numpy's ziggurat).

        Args:
            addresses: (S,) from :func:`pcg64_addresses`.
            out: (S, n) C-contiguous float64, filled in place.
        """
        for s in range(out.shape[0]):
            address = addresses[s]
            lo, hi = _load(address, 0), _load(address, 1)
            inc_lo, inc_hi = _load(address, 2), _load(address, 3)
            row = out[s]
            for j in range(row.shape[0]):
                while True:
                    lo, hi, bits = _step(lo, hi, inc_lo, inc_hi)
                    layer = np.intp(bits & _LOW8)
                    bits >>= _S8
                    magnitude = (bits >> _ONE) & _LOW52
                    x = np.float64(magnitude) * wi_double[layer]
                    if bits & _ONE:
                        x = -x
                    if magnitude < ki_double[layer]:  # 99.3% of draws end here
                        break
                    if layer == 0:  # the tail, by Marsaglia's method
                        while True:
                            lo, hi, bits_x = _step(lo, hi, inc_lo, inc_hi)
                            xx = -ziggurat_nor_inv_r * np.log1p(-_double(bits_x))
                            lo, hi, bits_y = _step(lo, hi, inc_lo, inc_hi)
                            yy = -np.log1p(-_double(bits_y))
                            if yy + yy > xx * xx:
                                break
                        x = (-(ziggurat_nor_r + xx) if (magnitude >> _S8) & _ONE
                             else ziggurat_nor_r + xx)
                        break
                    lo, hi, bits_u = _step(lo, hi, inc_lo, inc_hi)
                    if ((fi_double[layer - 1] - fi_double[layer]) * _double(bits_u)
                            + fi_double[layer]) < np.exp(-0.5 * x * x):
                        break
                row[j] = x
            _store(address, 0, lo)
            _store(address, 1, hi)

    @_jit
    def fill_streams(uniform_addresses, uniform_out, normal_addresses, normal_out):
        """Every stream's weekly block in one call.

        :func:`fill_uniform` for each pair ``(uniform_addresses[j], uniform_out[j])``,
        then :func:`fill_normal` likewise. The same numbers as one call per stream
        (streams are independent), without the per-call dispatch, which is most of a
        small run's draw time.
        """
        for j in range(len(uniform_addresses)):
            fill_uniform(uniform_addresses[j], uniform_out[j])
        for j in range(len(normal_addresses)):
            fill_normal(normal_addresses[j], normal_out[j])
