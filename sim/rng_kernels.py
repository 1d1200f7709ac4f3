"""The weekly draws, compiled: numpy's PCG64 and its normal sampler, bit for bit.

Every run draws from its own :class:`numpy.random.Generator` per stream
(:mod:`sim.seeding`). On the numpy path the engine fills each stream's block
with ``Generator.random`` / ``Generator.standard_normal``; here the same
numbers come from compiled code that reads and advances the generators' own
PCG64 state in place, so the generators, the numbers and every later draw are
exactly what numpy would have produced (``tests/test_rng_kernels.py`` checks it
against numpy, state and all).

Why it is faster: numpy calls its bit generator through a function pointer
once per number, so every uniform waits for the previous 128-bit state update;
these kernels keep the state in registers, fill four generators' rows in one
loop (their updates overlap) and inline the ziggurat of the normal sampler.

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

__all__ = ["blocks", "fill_normal", "fill_uniform", "pcg64_addresses"]

# PCG_DEFAULT_MULTIPLIER_128 of numpy's pcg64.h
MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341
TO_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53, as numpy's next_double


def pcg64_addresses(generators: Sequence[np.random.Generator]) -> np.ndarray | None:
    """Address of each generator's PCG64 state (state lo, hi, inc lo, hi), or None.

    None when numba is missing or any generator is not a plain
    :class:`numpy.random.PCG64` laid out as four little-endian uint64 words
    (checked against ``bit_generator.state``). The generators must outlive
    every use of the addresses.
    """
    if numba is None:  # pragma: no cover
        return None
    addresses = np.empty(len(generators), dtype=np.intp)
    for index, generator in enumerate(generators):
        bit_generator = generator.bit_generator
        if type(bit_generator) is not np.random.PCG64:
            return None
        state = ctypes.cast(bit_generator.ctypes.state_address,
                            ctypes.POINTER(ctypes.c_void_p))[0]
        words = (ctypes.c_uint64 * 4).from_address(state)
        expected = bit_generator.state["state"]
        mask = 2**64 - 1
        if list(words) != [expected["state"] & mask, expected["state"] >> 64,
                           expected["inc"] & mask, expected["inc"] >> 64]:
            return None
        addresses[index] = state
    return addresses


def blocks(generators: Sequence[np.random.Generator], shape: tuple[int, ...],
           normal: bool) -> np.ndarray:
    """One block of standard normals (or uniforms) per generator, stacked: (R, *shape).

    The numbers of ``generator.standard_normal(shape)`` (or ``random``) for each
    generator in turn, drawn by the kernels when :func:`pcg64_addresses` allows.
    """
    out = np.empty((len(generators), *shape))
    addresses = pcg64_addresses(generators)
    if addresses is None:
        for generator, block in zip(generators, out, strict=True):
            (generator.standard_normal if normal else generator.random)(out=block)
    else:
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

    @intrinsic
    def _step(typingctx, lo, hi, inc_lo, inc_hi):
        """One PCG64 step: the new state (lo, hi) and its XSL-RR 64-bit output."""
        def codegen(context, builder, signature, args):
            def wide(low, high):
                return builder.or_(builder.zext(low, _I128),
                                   builder.shl(builder.zext(high, _I128), ir.Constant(_I128, 64)))
            new = builder.add(builder.mul(wide(args[0], args[1]), ir.Constant(_I128, MULTIPLIER)),
                              wide(args[2], args[3]))
            new_lo = builder.trunc(new, _I64)
            new_hi = builder.trunc(builder.lshr(new, ir.Constant(_I128, 64)), _I64)
            folded = builder.xor(new_hi, new_lo)
            rotation = builder.lshr(new_hi, ir.Constant(_I64, 58))
            left = builder.and_(builder.neg(rotation), ir.Constant(_I64, 63))
            output = builder.or_(builder.lshr(folded, rotation), builder.shl(folded, left))
            return context.make_tuple(builder, signature.return_type, (new_lo, new_hi, output))
        return types.UniTuple(types.uint64, 3)(*[types.uint64] * 4), codegen

    _jit = numba.njit(cache=True, nogil=True, error_model="numpy")
    _S8, _S11, _ONE = np.uint64(8), np.uint64(11), np.uint64(1)
    _LOW8, _LOW52 = np.uint64(0xFF), np.uint64(0x000FFFFFFFFFFFFF)

    @_jit
    def _double(bits):
        return np.float64(bits >> _S11) * TO_DOUBLE

    @_jit
    def _fill_uniform_rows(addresses, out):
        """One generator at a time: row s of ``out`` from generator s."""
        for s in range(out.shape[0]):
            address = addresses[s]
            lo, hi = _load(address, 0), _load(address, 1)
            inc_lo, inc_hi = _load(address, 2), _load(address, 3)
            row = out[s]
            for j in range(row.shape[0]):
                lo, hi, bits = _step(lo, hi, inc_lo, inc_hi)
                row[j] = _double(bits)
            _store(address, 0, lo)
            _store(address, 1, hi)

    @_jit
    def fill_uniform(addresses, out):
        """``out[s] = generators[s].random(out.shape[1])``, four generators at a time.

        Args:
            addresses: (S,) from :func:`pcg64_addresses`.
            out: (S, n) C-contiguous float64, filled in place.
        """
        n_streams, n = out.shape
        s = 0
        while s + 4 <= n_streams:
            a0, a1, a2, a3 = addresses[s], addresses[s + 1], addresses[s + 2], addresses[s + 3]
            lo0, hi0, il0, ih0 = _load(a0, 0), _load(a0, 1), _load(a0, 2), _load(a0, 3)
            lo1, hi1, il1, ih1 = _load(a1, 0), _load(a1, 1), _load(a1, 2), _load(a1, 3)
            lo2, hi2, il2, ih2 = _load(a2, 0), _load(a2, 1), _load(a2, 2), _load(a2, 3)
            lo3, hi3, il3, ih3 = _load(a3, 0), _load(a3, 1), _load(a3, 2), _load(a3, 3)
            row0, row1, row2, row3 = out[s], out[s + 1], out[s + 2], out[s + 3]
            for j in range(n):  # four independent state chains overlap in the pipeline
                lo0, hi0, bits0 = _step(lo0, hi0, il0, ih0)
                lo1, hi1, bits1 = _step(lo1, hi1, il1, ih1)
                lo2, hi2, bits2 = _step(lo2, hi2, il2, ih2)
                lo3, hi3, bits3 = _step(lo3, hi3, il3, ih3)
                row0[j], row1[j] = _double(bits0), _double(bits1)
                row2[j], row3[j] = _double(bits2), _double(bits3)
            for address, lo, hi in ((a0, lo0, hi0), (a1, lo1, hi1), (a2, lo2, hi2),
                                    (a3, lo3, hi3)):
                _store(address, 0, lo)
                _store(address, 1, hi)
            s += 4
        _fill_uniform_rows(addresses[s:], out[s:])

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
