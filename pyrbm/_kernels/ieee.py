"""Scalar building blocks in plain IEEE arithmetic shared by the kernels.

* :func:`bitcast`: reinterpret the bits of a float as the signed integer of the same
  width, or back (``int32 <-> float32``, ``int64 <-> float64``), without a libm call;
* :func:`fma`: fused multiply-add ``a * b + c`` with one rounding (``llvm.fma``);
* :func:`exp32`, :func:`exp64`: exponentials by Cody-Waite range reduction and a Taylor
  polynomial evaluated with fused multiply-adds (error below one float32 ulp for
  float32, about one float64 ulp for float64); :func:`exp` picks one by the type of
  its argument;
* :func:`sigmoid`: :math:`\\sigma(x) = 1 / (1 + e^{-x})` on top of them, in the precision
  of ``x``;
* :func:`like`: a scalar cast to the dtype of an array (or to the type of a scalar), so
  one kernel body serves float32 and float64.

Everything is written without ``fastmath`` and with explicit fused multiply-adds, so
loops vectorise and give bit-identical results in vector and scalar code paths (hence
for every thread count, every buffer alignment and every split of a run).  All
functions are inlined into the calling kernel.

This module imports only numpy and numba.
"""

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["bitcast", "fma", "exp", "exp32", "exp64", "sigmoid", "like", "LN2_HI", "LN2_LO"]

# ln 2 split into a head with trailing zero bits and a tail (float64 Cody-Waite constants)
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10

_SAME_WIDTH = {
    types.int32: types.float32,
    types.float32: types.int32,
    types.int64: types.float64,
    types.float64: types.int64,
}


@intrinsic
def bitcast(typingctx, x):
    """The bits of ``x`` as the other type of the same width.

    int32 -> float32, float32 -> int32, int64 -> float64, float64 -> int64 (e.g. to
    build :math:`2^n` from its exponent field, or to split a float into exponent and
    mantissa).
    """
    to = _SAME_WIDTH.get(x)
    if to is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(to))

    return to(x), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """Fused multiply-add ``a * b + c`` with one rounding (``llvm.fma``).

    Always fused, in scalar and vector code alike (a libm call where the CPU has no
    FMA unit), so results do not depend on which code path runs.
    """
    if not (isinstance(a, types.Float) and a == b == c):
        return None
    sig = a(a, a, a)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


def like(x, ref):  # pragma: no cover - replaced by the overload below inside numba
    """``x`` cast to ``ref.dtype`` (array ``ref``) or to the type of a scalar ``ref``."""
    raise NotImplementedError


@overload(like, inline="always")
def _like_ov(x, ref):
    to = ref.dtype if isinstance(ref, types.Array) else ref

    def impl(x, ref):
        return to(x)

    return impl


# ---------------------------------------------------------------------------
# exponentials with plain IEEE arithmetic (vectorisable, reproducible)
# ---------------------------------------------------------------------------
_F32_LOG2E = np.float32(1.4426950408889634)
_F32_LN2_HI = np.float32(0.693359375)
_F32_LN2_LO = np.float32(-2.12194440e-4)
_F32_CLAMP = np.float32(87.0)
_F32_HALF = np.float32(0.5)
_F32_ONE = np.float32(1.0)
_F32_C2 = np.float32(1.0 / 2.0)
_F32_C3 = np.float32(1.0 / 6.0)
_F32_C4 = np.float32(1.0 / 24.0)
_F32_C5 = np.float32(1.0 / 120.0)
_F32_C6 = np.float32(1.0 / 720.0)
_F32_C7 = np.float32(1.0 / 5040.0)


@numba.njit(inline="always", cache=True)
def exp32(x):
    """exp of a float32 ``x`` clamped to [-87, 87] (relative error < 1.2e-7)."""
    x = min(max(x, -_F32_CLAMP), _F32_CLAMP)
    nf = np.floor(fma(x, _F32_LOG2E, _F32_HALF))
    r = fma(nf, -_F32_LN2_LO, fma(nf, -_F32_LN2_HI, x))
    p = fma(r, fma(r, fma(r, fma(r, fma(r, fma(r, fma(r, _F32_C7, _F32_C6), _F32_C5), _F32_C4),
                                      _F32_C3), _F32_C2), _F32_ONE), _F32_ONE)
    ni = np.int32(nf)
    return p * bitcast(np.int32((ni + np.int32(127)) << np.int32(23)))


_F64_LOG2E = 1.4426950408889634
_F64_CLAMP = 708.0


@numba.njit(inline="always", cache=True)
def exp64(x):
    """exp of a float64 ``x`` clamped to [-708, 708] (relative error ~ 2e-16)."""
    x = min(max(x, -_F64_CLAMP), _F64_CLAMP)
    nf = np.floor(fma(x, _F64_LOG2E, 0.5))
    r = fma(nf, -LN2_LO, fma(nf, -LN2_HI, x))
    p = 2.08767569878681e-09
    p = fma(r, p, 2.505210838544172e-08)
    p = fma(r, p, 2.755731922398589e-07)
    p = fma(r, p, 2.7557319223985893e-06)
    p = fma(r, p, 2.48015873015873e-05)
    p = fma(r, p, 1.984126984126984e-04)
    p = fma(r, p, 0.001388888888888889)
    p = fma(r, p, 0.008333333333333333)
    p = fma(r, p, 0.041666666666666664)
    p = fma(r, p, 0.16666666666666666)
    p = fma(r, p, 0.5)
    p = fma(r, p, 1.0)
    p = fma(r, p, 1.0)
    ni = np.int64(nf)
    return p * bitcast((ni + np.int64(1023)) << np.int64(52))


def exp(x):  # pragma: no cover - replaced by the overload below inside numba
    """:func:`exp32` of a float32 ``x``, :func:`exp64` of a float64 ``x``."""
    raise NotImplementedError


@overload(exp, inline="always")
def _exp_ov(x):
    if x == types.float32:
        return lambda x: exp32(x)
    if x == types.float64:
        return lambda x: exp64(x)
    return None


@numba.njit(inline="always", cache=True)
def sigmoid(x):
    """:math:`1 / (1 + e^{-x})` in the precision of ``x`` (float32 or float64)."""
    one = like(1.0, x)
    return one / (one + exp(-x))
