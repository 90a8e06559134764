"""Branch-free, vectorizable elementary functions for generated Numba kernels.

Numba lowers ``math.exp`` / ``math.log`` / ``math.tanh`` to scalar libm calls,
which cost 3-16 ns per element and stop LLVM from vectorizing the enclosing
loop.  The functions here are written so that LLVM inlines them into the
caller and vectorizes the loop (8 doubles / 16 floats per instruction on
AVX-512 hosts, where the generated kernels ask for 512-bit vectors with
``wide_vectors``; 4 / 8 with AVX2):

* no table lookups (gathers) and no data-dependent branches: special inputs
  are handled with ``a if c else b`` on cheap values, which LLVM turns into
  ``select`` instructions, plus NaN-preserving clamps;
* range reduction by Cody-Waite (``x = k*ln2 + r``) with the ``1.5*2**52``
  "shifter" rounding trick, minimax polynomials (fitted with a Remez exchange
  in mpmath) evaluated by Horner's rule, and ``2**k`` assembled from bits;
* float32 variants compute in float32 only, so vectors hold twice as many.

Each function is compiled with explicit ``fastmath={"contract"}`` and
``error_model="numpy"``.  Numba otherwise *inherits* fastmath from the first
calling kernel (and keeps that compilation for all later callers): with an
inherited ``reassoc`` LLVM folds the shifter trick ``(x*c + S) - S`` away
and with ``nnan``/``ninf`` the special-value selects, e.g. exp(1.0) came out
2.0 and log(nan) 710.  ``contract`` only lets LLVM fuse ``a*b + c`` into
FMAs (1.3-1.6x faster, no loss of accuracy).  LLVM inlines every function
by itself; Numba's ``inline="always"`` is not needed and is harmful (the
body is then compiled with the caller's flags).

Accuracy is the max error in ulps (spacing of the reference rounded to the
result dtype) over 10-20 million samples covering the whole domain, against
80-bit long double (float64) or float64 (float32) references.  These are
also the bounds asserted by tests/test_vecmath.py (<= 1 ulp).
"""

import math
from collections.abc import Callable

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = [
    "wide_vectors",
    "exp_f32",
    "exp_f64",
    "log_f32",
    "log_f64",
    "sigmoid_f32",
    "sigmoid_f64",
    "tanh_f32",
    "tanh_f64",
]

# Explicit flags (see module docstring); inlining is left to LLVM's inliner.
_jit = numba.njit(cache=True, error_model="numpy", fastmath={"contract"})


# --------------------------------------------------------------------------
# Bit casts.  Numba has no scalar bitcast; an intrinsic is a single LLVM
# instruction that inlines and vectorizes.


def _make_bitcast(src: types.Type, dst: types.Type, llty: ir.Type) -> Callable:
    """Return an intrinsic reinterpreting the bits of a ``src`` as a ``dst``."""

    def _bitcast(typingctx, x):
        if x != src:
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], llty)

        return dst(src), codegen

    _bitcast.__name__ = f"_bitcast_{src}_to_{dst}"
    return intrinsic(_bitcast)


_f64_bits = _make_bitcast(types.float64, types.int64, ir.IntType(64))
_f64_from_bits = _make_bitcast(types.int64, types.float64, ir.DoubleType())
_f32_bits = _make_bitcast(types.float32, types.int32, ir.IntType(32))
_f32_from_bits = _make_bitcast(types.int32, types.float32, ir.FloatType())


@intrinsic
def _fma(typingctx, a, b, c):
    """a*b + c with a single rounding (llvm.fma; one instruction with FMA3).

    Used only where the exact residual of a division is needed; ordinary
    fusion is left to the "contract" flag.
    """
    if not (a == b == c and a in (types.float32, types.float64)):
        return None

    def codegen(context, builder, sig, args):
        return builder.fma(*args)

    return a(a, a, a), codegen


@intrinsic
def wide_vectors(typingctx):
    """Let LLVM vectorize the calling function's loops with the host's widest registers.

    On Intel's AVX-512 cores LLVM prefers 256-bit vectors (its ``prefer-256-bit``
    tuning, chosen against the clock drop of early AVX-512 parts). A generated kernel's
    loops of loads, polynomials and stores gain more than that costs: on a Xeon
    (Rocket Lake, 2 cores) W2's forward and backward took 0.79 ms instead of 1.96 in
    float32 and 1.80 ms instead of 2.44 in float64, and no workload got slower (W4, whose
    gemms run on OpenBLAS's AVX2 kernels beside them, went from 9.6 to 9.1 ms).
    This sets the calling function's ``prefer-vector-width`` to 512. On a host without
    AVX-512 the widest legal vector is smaller, and LLVM takes that.
    """

    def codegen(context, builder, sig, args):
        # llvmlite's FunctionAttributes.add accepts only enum attributes; this one is a
        # string attribute, written as LLVM IR spells it.
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


# --------------------------------------------------------------------------
# float64 constants

_INF = math.inf
_NAN = math.nan
_INV_LN2 = 1.4426950408889634
# ln2 split so that k*_LN2_HI is exact for |k| < 2**20 (fdlibm's split).
_LN2_HI = 6.93147180369123816490e-01  # 0x3fe62e42fee00000
_LN2_LO = 1.90821492927058770002e-10  # 0x3dea39ef35793c76
# Adding 1.5*2**52 rounds to an integer that then sits in the low mantissa
# bits; subtracting it again gives round(x) as a float.
_SHIFT = 6755399441055744.0
_SHIFT_BITS = 0x4338000000000000
# exp(710) overflows and exp(-746) rounds to 0; clamping keeps k in
# [-1076, 1024] so both halves of the 2**k split stay normal numbers.
_EXP_HI = 710.0
_EXP_LO = -746.0
_TWO52 = 4503599627370496.0
_MIN_NORMAL = 2.2250738585072014e-308
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
_EXP_MASK = -(1 << 52)  # 0xfff0000000000000 as a signed int64
# tanh(x) == 1.0 in double for |x| > 19.1; clamping avoids inf/inf.
_TANH_CLAMP = 20.0
_TANH_SMALL = 0.3  # below it the odd polynomial is used
# Below this sigmoid(x) = exp(x) to within 2**-800: avoids exp(-x) overflow
# and the underflow of the correction term in 1/(1 + exp(-x)) near -700.
_SIGMOID_TINY = -600.0

# exp(r) ~ 1 + r + r**2 * P(r), |r| <= ln2/2, minimax rel. error 2**-56.8
_E2 = 0.500000000000001
_E3 = 0.16666666666666674
_E4 = 0.04166666666652168
_E5 = 0.008333333333322184
_E6 = 0.0013888888947914612
_E7 = 0.0001984126988666307
_E8 = 2.480148722002242e-05
_E9 = 2.7557242255176657e-06
_E10 = 2.7632695699976396e-07
_E11 = 2.5110080609180445e-08

# log(1+f) = 2 atanh(s), s = f/(2+f): (2 atanh(s) - 2s)/s ~ R(s**2),
# |s| <= 0.1716, minimax abs error 2**-58.6 (as in fdlibm's e_log.c)
_L1 = 0.666666666666671
_L2 = 0.39999999999519825
_L3 = 0.28571428729284787
_L4 = 0.2222219909089342
_L5 = 0.18183571541169416
_L6 = 0.15313164375076815
_L7 = 0.1481051999082406

# tanh(x) ~ x + x**3 * T(x**2), |x| <= 0.3, minimax rel. error 2**-59.6
_T0 = -0.3333333333333329
_T1 = 0.1333333333331289
_T2 = -0.0539682539393543
_T3 = 0.021869486680718402
_T4 = -0.008863171704239397
_T5 = 0.003590869650343591
_T6 = -0.0014415267200720433
_T7 = 0.0005018544283736102


@_jit
def _exp_parts_f64(x: float) -> tuple[float, float, int]:
    """exp(x) = (hi + lo) * 2**k for x in [-746, 710] (or nan), hi in [0.7, 1.5].

    Cody-Waite reduction x = k*ln2 + r, degree-11 minimax polynomial for
    exp(r); hi + lo is good to ~2**-55 relative (r is rounded once), so
    callers can compensate their own later roundings.
    """
    kd = x * _INV_LN2 + _SHIFT
    k = _f64_bits(kd) - _SHIFT_BITS
    kd = kd - _SHIFT
    # x - kd*_LN2_HI is exact (kd*_LN2_HI has <= 43 significant bits).
    r = (x - kd * _LN2_HI) - kd * _LN2_LO
    p = _E10 + r * _E11
    p = _E9 + r * p
    p = _E8 + r * p
    p = _E7 + r * p
    p = _E6 + r * p
    p = _E5 + r * p
    p = _E4 + r * p
    p = _E3 + r * p
    p = _E2 + r * p
    # exp(r) = 1 + r + r*r*p; 1 + r is split exactly into t + t_err so that
    # only the final addition rounds (0.8 ulp instead of 1.0 ulp; +8% time).
    t = 1.0 + r
    t_err = (1.0 - t) + r
    c = t_err + (r * r) * p
    hi = t + c
    return hi, (t - hi) + c, k


@_jit
def _pow2_f64(k: int) -> float:
    """2.0**k for integer k in [-1022, 1023], built from the exponent bits."""
    return _f64_from_bits((k + 1023) << 52)


@_jit
def exp_f64(x: float) -> float:
    """exp(x) for float64.

    Cody-Waite reduction, degree-11 minimax polynomial, 2**k applied as two
    normal power-of-two factors so gradual underflow rounds only once.
    Max error 0.82 ulp (<= 1 ulp from np.exp); exact inf/0/nan handling,
    correct subnormal results, 0 below -745.13, inf above log(max).
    """
    # NaN-preserving clamp (comparisons with NaN are false, so NaN passes);
    # keeps k in [-1076, 1024] so both factors 2**k1, 2**k2 are normal.
    xc = _EXP_HI if x > _EXP_HI else x
    xc = _EXP_LO if xc < _EXP_LO else xc
    e, _, k = _exp_parts_f64(xc)
    k1 = k >> 1
    return (e * _pow2_f64(k1)) * _pow2_f64(k - k1)


@_jit
def log_f64(x: float) -> float:
    """Natural log for float64.

    Exponent/mantissa split via bits with the mantissa z in [sqrt(1/2),
    sqrt(2)), f = z - 1, fdlibm's s = f/(2+f) atanh form with a degree-7
    minimax polynomial in s**2.  Subnormals are pre-scaled by 2**52.
    Max error 0.84 ulp (<= 1 ulp from np.log); log(+-0) = -inf,
    log(<0) = nan, log(inf) = inf, log(nan) = nan.
    """
    sub = x < _MIN_NORMAL
    xs = x * _TWO52 if sub else x
    ix = _f64_bits(xs)
    # Offsetting by bits(sqrt(1/2)) makes the exponent field round so that
    # z = x / 2**k lands in [sqrt(1/2), sqrt(2)).
    tmp = ix - _SQRT_HALF_BITS
    k = tmp >> 52
    z = _f64_from_bits(ix - (tmp & _EXP_MASK))
    kd = float(k) - (52.0 if sub else 0.0)
    f = z - 1.0  # exact (Sterbenz)
    s = f / (2.0 + f)
    w = s * s
    r = _L6 + w * _L7
    r = _L5 + w * r
    r = _L4 + w * r
    r = _L3 + w * r
    r = _L2 + w * r
    r = _L1 + w * r
    r = w * r
    hfsq = 0.5 * f * f
    res = kd * _LN2_HI - ((hfsq - (s * (hfsq + r) + kd * _LN2_LO)) - f)
    res = res if x < _INF else x  # +inf -> inf, nan -> nan
    res = -_INF if x == 0.0 else res
    return _NAN if x < 0.0 else res


@_jit
def tanh_f64(x: float) -> float:
    """tanh for float64.

    |x| < 0.3: odd minimax polynomial x + x**3*T(x**2) (degree 17; exact
    for tiny and subnormal x).  Otherwise 1 - 2/(E + 1) with E = exp(2|x|)
    (clamped at |x| = 20, where tanh rounds to 1): the rounding errors of E,
    E + 1, the division and 1 - q are carried and added back once, so there
    is no cancellation error.  Both branches are computed, then selected.
    Max error 0.74 ulp (<= 1 ulp from np.tanh, itself up to 1.2 ulp off);
    tanh(+-inf) = +-1, tanh(-0.0) = -0.0, nan -> nan.
    """
    ax = abs(x)
    u = x * x
    t = _T6 + u * _T7
    t = _T5 + u * t
    t = _T4 + u * t
    t = _T3 + u * t
    t = _T2 + u * t
    t = _T1 + u * t
    t = _T0 + u * t
    small = ax + ax * (u * t)
    e_hi, e_lo, k = _exp_parts_f64(2.0 * (_TANH_CLAMP if ax > _TANH_CLAMP else ax))
    scale = _pow2_f64(k)
    e = e_hi * scale
    d = e + 1.0
    delta = ((e - d) + 1.0) + e_lo * scale  # (E + 1) - d, E >= 1
    # 1 - 2/(d + delta) = (1 - q) - q*rem/2 to first order, with q = 2/d and
    # rem = 2 - q*(d + delta); 1 - q is split exactly so only one rounding
    # remains at the end.
    q = 2.0 / d
    rem = _fma(-q, d, 2.0) - q * delta
    one_m_q = 1.0 - q
    err = (1.0 - one_m_q) - q
    large = one_m_q + (err - (0.5 * q) * rem)
    # copysign last: odd symmetry, tanh(-0.0) = -0.0, nan stays nan.
    return math.copysign(small if ax < _TANH_SMALL else large, x)


@_jit
def sigmoid_f64(x: float) -> float:
    """Logistic sigmoid 1/(1 + exp(-x)) for float64 (scipy.special.expit).

    1/(1 + E), E = exp(-x), with the rounding errors of E, 1 + E and the
    division fed back by a first-order correction (one fma).  Below x = -600
    the result is exp(x) itself (exact to 2**-800 there), so far-negative
    inputs underflow gracefully to subnormals instead of 1/(1 + inf) = 0.
    Max error 0.80 ulp; scipy's expit (the naive formula, itself up to 2.4
    ulp off) agrees within 2 ulp for x > -709 and flushes to 0 below.
    sigmoid(+inf) = 1, sigmoid(-inf) = 0, nan -> nan.
    """
    tiny = x < _SIGMOID_TINY
    a = x if tiny else -x
    a = _EXP_LO if a < _EXP_LO else a  # x = +inf -> exp(-746) = 0
    e_hi, e_lo, k = _exp_parts_f64(a)
    k1 = k >> 1
    s1 = _pow2_f64(k1)
    s2 = _pow2_f64(k - k1)
    e = (e_hi * s1) * s2
    d = 1.0 + e
    big = e if e > 1.0 else 1.0
    small = 1.0 if e > 1.0 else e
    delta = ((big - d) + small) + (e_lo * s1) * s2  # (1 + E) - d
    # 1/(d + delta) = q + q*rem to first order, with q = 1/d and
    # rem = 1 - q*(d + delta) (the fma makes 1 - q*d exact).
    q = 1.0 / d
    rem = _fma(-q, d, 1.0) - q * delta
    return e if tiny else q + q * rem


# --------------------------------------------------------------------------
# float32: same algorithms, float32 constants (np.float32 globals are typed
# float32 by Numba, so no silent promotion to float64) and shorter
# polynomials.  Numba promotes int32 arithmetic to int64; LLVM narrows it
# back because only the low 32 bits reach the final bitcast.

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)
_FHALF = np.float32(0.5)
_FINF = np.float32(np.inf)
_FNAN = np.float32(np.nan)
_INV_LN2_F = np.float32(1.442695)
# 15-bit ln2 head: k*_LN2_HI_F is exact for |k| < 2**9.
_LN2_HI_F = np.float32(0.693145751953125)  # 0x3f317200
_LN2_LO_F = np.float32(1.428606765330187e-06)  # 0x35bfbe8e
_SHIFT_F = np.float32(12582912.0)  # 1.5 * 2**23
_SHIFT_BITS_F = 0x4B400000
_EXP_HI_F = np.float32(89.0)
_EXP_LO_F = np.float32(-104.0)
_TWO23_F = np.float32(8388608.0)
_MIN_NORMAL_F = np.float32(1.1754944e-38)
_SQRT_HALF_BITS_F = 0x3F3504F3
_EXP_MASK_F = -(1 << 23)
_F23 = np.float32(23.0)
_TANH_CLAMP_F = np.float32(10.0)  # tanh(x) == 1.0 in float32 for |x| > 9.01
_TANH_SMALL_F = np.float32(0.3)
_SIGMOID_TINY_F = np.float32(-70.0)

# exp(r) ~ 1 + r + r**2 * P(r), |r| <= ln2/2, minimax rel. error 2**-28.3
_E2F = np.float32(0.4999999343743058)
_E3F = np.float32(0.1666652047774904)
_E4F = np.float32(0.04166838985726117)
_E5F = np.float32(0.00836873556207826)
_E6F = np.float32(0.0013814559950586743)

# (2 atanh(s) - 2s)/s ~ R(s**2), |s| <= 0.1716, minimax abs error 2**-29.4
_L1F = np.float32(0.6666677829274388)
_L2F = np.float32(0.39976077879948063)
_L3F = np.float32(0.29925592603090684)

# tanh(x) ~ x + x**3 * T(x**2), |x| <= 0.3, minimax rel. error 2**-32.4
_T0F = np.float32(-0.33333330011335754)
_T1F = np.float32(0.13332925962724182)
_T2F = np.float32(-0.0538271598037635)
_T3F = np.float32(0.019989514165314564)


@_jit
def _exp_parts_f32(x: np.float32) -> tuple[np.float32, np.float32, int]:
    """float32 twin of _exp_parts_f64 (degree-6 polynomial), x in [-104, 89]."""
    kd = x * _INV_LN2_F + _SHIFT_F
    k = _f32_bits(kd) - _SHIFT_BITS_F
    kd = kd - _SHIFT_F
    r = (x - kd * _LN2_HI_F) - kd * _LN2_LO_F
    p = _E5F + r * _E6F
    p = _E4F + r * p
    p = _E3F + r * p
    p = _E2F + r * p
    t = _F1 + r
    t_err = (_F1 - t) + r
    c = t_err + (r * r) * p
    hi = t + c
    return hi, (t - hi) + c, k


@_jit
def _pow2_f32(k: int) -> np.float32:
    """np.float32(2.0**k) for integer k in [-126, 127]."""
    return _f32_from_bits(np.int32((k + 127) << 23))


@_jit
def exp_f32(x: np.float32) -> np.float32:
    """exp(x) for float32, computed in float32.

    Same scheme as exp_f64 with a degree-6 minimax polynomial.  Max error
    0.79 ulp, exhaustively over all float32 (NumPy's float32 exp is itself
    up to 2.4 ulp off; the two agree within 2 ulp).  Exact specials,
    correct subnormal results, 0 below -103.97, inf above 88.72.
    """
    xc = _EXP_HI_F if x > _EXP_HI_F else x
    xc = _EXP_LO_F if xc < _EXP_LO_F else xc
    e, _, k = _exp_parts_f32(xc)
    k1 = k >> 1
    return (e * _pow2_f32(k1)) * _pow2_f32(k - k1)


@_jit
def log_f32(x: np.float32) -> np.float32:
    """Natural log for float32, computed in float32.

    Same scheme as log_f64 with a degree-3 polynomial in s**2.  Max error
    0.83 ulp, exhaustively over all float32 (NumPy's float32 log is itself
    up to 2.9 ulp off; the two agree within 4 ulp).  Exact specials,
    subnormal inputs correct.
    """
    sub = x < _MIN_NORMAL_F
    xs = x * _TWO23_F if sub else x
    ix = _f32_bits(xs)
    tmp = ix - _SQRT_HALF_BITS_F
    k = tmp >> 23
    z = _f32_from_bits(np.int32(ix - (tmp & _EXP_MASK_F)))
    kd = np.float32(k) - (_F23 if sub else _F0)
    f = z - _F1
    s = f / (_F2 + f)
    w = s * s
    r = _L2F + w * _L3F
    r = _L1F + w * r
    r = w * r
    hfsq = _FHALF * f * f
    res = kd * _LN2_HI_F - ((hfsq - (s * (hfsq + r) + kd * _LN2_LO_F)) - f)
    res = res if x < _FINF else x
    res = -_FINF if x == _F0 else res
    return _FNAN if x < _F0 else res


@_jit
def tanh_f32(x: np.float32) -> np.float32:
    """tanh for float32, computed in float32.

    Same scheme as tanh_f64 with a degree-9 odd polynomial (clamp at 10).
    Max error 0.65 ulp over all float32 (<= 1 ulp from np.tanh);
    tanh(+-inf) = +-1, nan -> nan, tiny/subnormal x exact.
    """
    ax = abs(x)
    u = x * x
    t = _T2F + u * _T3F
    t = _T1F + u * t
    t = _T0F + u * t
    small = ax + ax * (u * t)
    e_hi, e_lo, k = _exp_parts_f32(_F2 * (_TANH_CLAMP_F if ax > _TANH_CLAMP_F else ax))
    scale = _pow2_f32(k)
    e = e_hi * scale
    d = e + _F1
    delta = ((e - d) + _F1) + e_lo * scale
    q = _F2 / d
    rem = _fma(-q, d, _F2) - q * delta
    one_m_q = _F1 - q
    err = (_F1 - one_m_q) - q
    large = one_m_q + (err - (_FHALF * q) * rem)
    return math.copysign(small if ax < _TANH_SMALL_F else large, x)


@_jit
def sigmoid_f32(x: np.float32) -> np.float32:
    """Logistic sigmoid for float32, computed in float32.

    Same scheme as sigmoid_f64 (exp(x) itself below -70).  Max error
    0.79 ulp over all float32, i.e. <= 1 ulp from expit in float64 rounded
    to float32; far-negative x underflows gracefully to subnormals and 0.
    """
    tiny = x < _SIGMOID_TINY_F
    a = x if tiny else -x
    a = _EXP_LO_F if a < _EXP_LO_F else a
    e_hi, e_lo, k = _exp_parts_f32(a)
    k1 = k >> 1
    s1 = _pow2_f32(k1)
    s2 = _pow2_f32(k - k1)
    e = (e_hi * s1) * s2
    d = _F1 + e
    big = e if e > _F1 else _F1
    small = _F1 if e > _F1 else e
    delta = ((big - d) + small) + (e_lo * s1) * s2
    q = _F1 / d
    rem = _fma(-q, d, _F1) - q * delta
    return e if tiny else q + q * rem
