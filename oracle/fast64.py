"""Vectorized double-word enclosures of softplus_β and sigmoid(β·) for float64 inputs, and the float64
rounding decisions and ulp errors they settle.

:func:`enclose` returns, for a float64 array x and β > 0, a double-word value v = vh + vl per element and
a mask ``ok`` where the claim

    |f(x) − v| ≤ W·v + 2**-1100,     W = 2**-80

is made (f = softplus_β or sigmoid(βx)). Elsewhere :mod:`oracle.exact` (arb) decides. :func:`rounding`
turns v into the correctly rounded float64 where the claim pins it, :func:`ulp_errors` gives
(y − f(x)) / ulp(f(x)) to within 2**-24 ulp. Only IEEE-754 +, −, ×, / in round-to-nearest are used
(:mod:`oracle.doubleword`), with constants and tables computed once by mpmath at 320 bits: no libm
function, so every machine computes the same bits. :func:`ieee_arithmetic` checks at each call that the
FPU rounds to nearest with gradual underflow (a library that turned on flush-to-zero would void the
bounds below); where it does not, nothing is claimed.

Notation: u = 2**-53; every double-word operation errs by at most OP = 16u² = 2**-102 relative
(Joldes–Muller–Popescu, see :mod:`oracle.doubleword`); t = βx = th + tl exactly (Dekker's product;
tl = 0 where |th| < 2**-900, an absolute error ≤ 2**-953 that only the tiny region below could see);
a = |t| = ah + al. softplus_β(x) = max(x, 0) + log1p(e**-a)/β, sigmoid(t) = 1/(1 + e**-a) for t ≥ 0 and
e**-a/(1 + e**-a) for t < 0. Nothing is claimed unless 2**-900 ≤ β ≤ 2**900 and x is finite.

Regions (by th; each formula is valid a little beyond its boundary, so rounding of th cannot misplace
an element):

1. **Tiny**, ah < 2**-30. softplus: log(1 + e**t) = log 2 + t/2 + t²/8 − t⁴/192 + …, so
   f = C + x/2 + th·x/8 with C = log(2)/β as a double word (mpmath, error ≤ u²C). The dropped terms are
   below t⁴/(192β) ≤ 2**-127·C; x/2 is exact (or, subnormal, off by ≤ 2**-1075); the t²/(8β) term is
   ≤ 2**-62·C and computed to 2u of itself; the sum (two-sum, then one addition of terms ≤ 2u·C and a
   fast two-sum) errs by ≤ 2u²·C. sigmoid: σ = 1/2 + t/4 − t³/48 + O(t⁵), computed as
   two-sum(1/2, th/4) plus tl/4 − th³/48: truncation ≤ 2**-158, roundings ≤ 2u²·σ. Total ≤ 2**-103 v.
2. **Upper tail**, th > 64. softplus: f − x = log1p(e**-t)/β < e**-t/β = x·e**-t/t < 2**-98 x, so v = x.
   sigmoid: 1 − σ < e**-t < 2**-92, so v = 1 (and σ < 1 is used when its binade is asked, see below).
3. **Main**, 2**-30 ≤ ah ≤ 660 and not the upper tail.
   * e = e**-a. m = rint(ah·1024/ln 2) < 2**20; ln2/1024 = L1 + L2 + L3 with L1, L2 of 32 bits (so m·L1
     and m·L2 are exact) and |L1 + L2 + L3 − ln2/1024| ≤ 2**-127; r = a − m·ln2/1024 is accumulated by
     two-sums (exact) and three roundings of terms ≤ 2**-43.4, so |r − r̂| ≤ 2**-94 and
     |r| ≤ (1/2 + 2**-31)·ln2/1024 < 2**-11.5. e = 2**-k · T_j · P(r) with m = 1024k + j,
     T_j = 2**(−j/1024) as a double word from the table (error ≤ u²), and P(r) = Σ_{n≤6} (−r)**n/n!,
     truncated at ≤ r⁷/7! < 2**-93. P's terms of degree ≥ 3 are a plain float64 Horner tail Q at rh
     (|Q| ≤ 1/6, error ≤ 4u|Q| — rounded coefficients, the last addition, and products ≤ 2**-16 of it —
     contributing ≤ r³·4u/6 < 2**-88; evaluating Q at rh instead of r costs ≤ r³·|Q'|·|rl| < 2**-103);
     degrees 0–2 are three double-word Horner steps in the full r (6 operations, ≤ 6·OP). Scaling by
     2**-k is exact (a subnormal low part loses ≤ 2**-1075 ≤ 2**-122 e, since e ≥ 2**-953). So e is known
     to ε_e ≤ 2**-88 + 2**-93 + 2**-94 + 2**-103 + 8·OP + u² < 2**-87.5 relative.
   * softplus: L = log1p(e) = −log c_j + log1p(r'), j = rint(1024·eh), c_j ≈ 1/(1 + j/1024) rounded to
     21 bits (so c_j − 1 and eh·c_j are exact), r' = (1 + e)c_j − 1 computed as (c_j − 1) + eh·c_j +
     el·c_j (for j = 0 exactly r' = e, so small e keeps its full relative accuracy), |r'| ≤ 2**-11 +
     2**-21 + 2**-32 < 2**-10.99. log1p(r') = Σ_{n≤8} (−1)**(n+1) r'**n/n, truncated at ≤ r'**9/9 <
     2**-91·|r'|; terms of degree ≥ 4 are a float64 tail (error ≤ r'**4·4u/4, i.e. < 2**-86 |r'|),
     degrees 1–3 are double-word steps in the full r' (1/3 as a double word; 7 operations on values
     ≤ 1, scaled by |r'|). These errors are ≤ (2**-86 + 2**-91 + 8·OP)·|r'| absolutely, plus u² of
     |log c_j| from the table and OP of L for the final sum. For j = 0 they are relative to L ≈ r' = e
     already; for j ≥ 1, e ≥ (j − 1/2)/1024 ≥ 2**-11, so L > 2**-11.01 while |r'| < 2**-10.99, and they
     stay below 2**-85.8 of L. An error η in e moves L by ≤ η·e/(1+e) ≤ ηL. Thus L errs by
     ≤ ε_e + 2**-85.8 < 2**-85 relative. Then L/β (one operation) and max(x, 0) + L/β (one operation,
     both terms ≥ 0) add 2·OP.
   * sigmoid: 1/(1 + e) or e/(1 + e), one addition and one division (2·OP); an error η in e moves them
     by ≤ η relative. So ≤ 2**-87.
   Intermediate underflow: a Dekker product or low part that leaves the normal range errs by at most
   2**-1074 absolutely; in this region every quantity it feeds is ≥ 2**-953 (e, L, or a sum ≈ 1), and
   fewer than 64 such errors occur, so they cost < 2**-115 relative.
4. **Lower tail**, th < −660: f < e**-a/β (softplus) or < e**-a (sigmoid). With β = m_β·2**e_β
   (m_β ∈ [1/2, 1), exact by frexp), a > (1101 − e_β)·ln 2 gives f < 2**-1100 (sigmoid: a > 1100·ln 2),
   so v = 0 is claimed with the absolute term; between 660 and that bound nothing is claimed (results
   near or below 2**-900, a few parts in 10⁴ of bit-uniform samples).

Finally v must be finite and ≥ 2**-900 (or the lower tail's 0) to be claimed. The worst total is
2**-85 + 2**-101 + 2**-115 < 2**-84.9: W = 2**-80 leaves a factor 29 for what this proof might miss,
and the tests check the claim against arb and mpmath on every region's boundaries, a bit-uniform sample
and hypothesis searches; planted faults (a smaller W, a dropped polynomial term) make them fail.

Rounding and ulps. In units of ulp(vh) = 2**k, v's distance from vh is D = vl·2**-k, |D| ≤ 1/2, and the
claim's radius is below R = 2**-25 (W·2**53 plus 2**-26 for the absolute term). f rounds to vh when
D + R < 1/2 and D − R > −1/2 (−1/4 if vh is a power of two, whose gap below is half as wide). The
binade of f is vh's unless vh is a power of two: then D + R < 0 puts f below it, D − R ≥ 0 in it, and
otherwise sigmoid's f < 1 and sign(f − 1/2) = sign(x) decide, or nothing does (→ arb). The error
(y − vh − vl)·2**-k_f is formed with a two-sum and one addition: within R (2R in the binade below) +
2**-52 relative of itself of the truth, i.e. within 2**-24 ulp.
"""

from __future__ import annotations

from functools import cache, lru_cache

import mpmath
import numpy as np

from oracle.doubleword import (
    dw_div_dw,
    dw_div_fp,
    dw_plus_dw,
    dw_plus_fp,
    dw_times_dw,
    dw_times_fp,
    fast_two_sum,
    horner_fp,
    two_prod,
    two_sum,
)

__all__ = ["W", "ABSOLUTE", "RADIUS_ULPS", "TINY", "UPPER", "MAIN_MAX", "MIN_RESULT", "BETA_RANGE", "MIN_BATCH",
           "enclose", "rounding", "ulp_errors", "midpoint_distance", "ieee_arithmetic", "tables"]

#: The claimed relative bound (see the module doc: the proof gives < 2**-84.9).
W = 2.0 ** -80
#: The claimed absolute bound, for results that underflow below every float64 (the lower tail).
ABSOLUTE = 2.0 ** -1100
#: The claim's radius in ulps of vh: W·2**53 + 2**-26 < 2**-25.
RADIUS_ULPS = 2.0 ** -25
#: |βx| below which the tiny-argument series is used.
TINY = 2.0 ** -30
#: βx above which softplus_β(x) = x and sigmoid(βx) = 1 to within W.
UPPER = 64.0
#: |βx| up to which e**-|βx| is evaluated (≥ 2**-953, so its low part stays accurate).
MAIN_MAX = 660.0
#: Smallest claimed non-zero result: well above every underflow of the computation.
MIN_RESULT = 2.0 ** -900
#: β outside this range is never claimed (the splittings and quotients could leave the normal range).
BETA_RANGE = (2.0 ** -900, 2.0 ** 900)
#: Arrays shorter than this are cheaper in arb, element by element (~50 µs each), than through the
#: vectorized path's fixed cost of a few hundred NumPy calls (~0.5 ms): bisections and searches ask for one
#: or two values at a time.
MIN_BATCH = 16

_TABLE_BITS = 10  # 1024 entries of 2**(−j/1024) and of the log1p reduction
_N = 1 << _TABLE_BITS
_C_BITS = 21  # significant fractional bits of the log1p reduction's c_j
_LN2_UP = 0.6931472  # > ln 2 by 2**-22 relative: a margin that absorbs the roundings of the tail bound
_TL_MIN = 2.0 ** -900  # below it, Dekker's product error would underflow: tl is taken as 0
_PREC = 320


@cache
def tables() -> dict[str, np.ndarray | float]:
    """The constants and tables of the evaluation, computed once by mpmath at 320 bits and rounded to
    double words (each within u² relative): exp's reduction (ln2/1024 in three parts, the 2**(−j/1024)
    table), log1p's (the c_j and −log c_j), and 1/3."""
    with mpmath.workprec(_PREC):
        step = mpmath.log(2) / _N
        l1 = mpmath.floor(step * 2 ** 42) / 2 ** 42  # 32 significant bits (step ∈ [2**-11, 2**-10))
        l2 = mpmath.floor((step - l1) * 2 ** 74) / 2 ** 74  # the next 32 bits
        l3 = step - l1 - l2
        exp_h, exp_l = _double_words(mpmath.mpf(2) ** (-mpmath.mpf(j) / _N) for j in range(_N))
        c_int = [(2 * (2 ** (_C_BITS + _TABLE_BITS)) + (_N + j)) // (2 * (_N + j)) for j in range(_N + 1)]
        c = np.array([ci / 2.0 ** _C_BITS for ci in c_int])  # round(2**21·1024/(1024 + j)) / 2**21
        log_h, log_l = _double_words(-mpmath.log(mpmath.mpf(ci) / 2 ** _C_BITS) for ci in c_int)
        third_h, third_l = _double_words([mpmath.mpf(1) / 3])
        return {"L1": float(l1), "L2": float(l2), "L3": float(l3), "inv_step": float(_N / mpmath.log(2)),
                "exp_h": exp_h, "exp_l": exp_l, "c": c, "log_h": log_h, "log_l": log_l,
                "third_h": float(third_h[0]), "third_l": float(third_l[0])}


def _double_words(values) -> tuple[np.ndarray, np.ndarray]:
    hi, lo = [], []
    for v in values:
        h = float(v)  # mpmath rounds to nearest
        hi.append(h)
        lo.append(float(v - h))
    return np.array(hi), np.array(lo)


@lru_cache(maxsize=64)
def _log2_over(beta: float) -> tuple[float, float]:
    """log(2)/β as a double word (mpmath, 320 bits)."""
    with mpmath.workprec(_PREC):
        v = mpmath.log(2) / mpmath.mpf(beta)
        h = float(v)
        return h, float(v - h)


def ieee_arithmetic() -> bool:
    """True when float64 arithmetic rounds to nearest with gradual underflow, as the bounds assume (a
    library may have set flush-to-zero or another rounding mode on this thread)."""
    one = np.ones(1)
    tiny = np.full(1, 2.0 ** -1022)
    nearest = (one + 2.0 ** -53 * 1.5)[0] == 1.0 + 2.0 ** -52 and (one - 2.0 ** -54 * 1.5)[0] == 1.0 - 2.0 ** -53
    gradual = (tiny * 0.5)[0] == 2.0 ** -1023 and (tiny * 0.5)[0] / 2.0 ** -1023 == 1.0
    return bool(nearest and gradual)


def _pow2(k: np.ndarray) -> np.ndarray:
    """2.0**k for integer arrays −1022 ≤ k ≤ 1023, from the exponent field (exact)."""
    return ((np.asarray(k, dtype=np.int64) + 1023) << 52).view(np.float64)


def _exp_neg(ah: np.ndarray, al: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """e**-(ah + al) as a double word, for 0 ≤ ah ≤ 660 (the main region of the module doc)."""
    tb = tables()
    m = np.rint(ah * tb["inv_step"])
    s, e1 = two_sum(ah, -(m * tb["L1"]))
    s, e2 = two_sum(s, -(m * tb["L2"]))
    rh, rl = two_sum(s, e1 + e2 + (al - m * tb["L3"]))
    q = horner_fp(rh, (-1 / 6, 1 / 24, -1 / 120, 1 / 720))
    ph, pl = dw_plus_fp(*dw_times_fp(rh, rl, q), 0.5)
    ph, pl = dw_plus_fp(*dw_times_dw(rh, rl, ph, pl), -1.0)
    ph, pl = dw_plus_fp(*dw_times_dw(rh, rl, ph, pl), 1.0)
    mi = m.astype(np.int64)
    j = mi & (_N - 1)
    scale = _pow2(-(mi >> _TABLE_BITS))
    eh, el = dw_times_dw(tb["exp_h"][j], tb["exp_l"][j], ph, pl)
    return eh * scale, el * scale


def _log1p(eh: np.ndarray, el: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(1 + e) as a double word, for 2**-953 ≤ e ≤ 1."""
    tb = tables()
    j = np.rint(eh * _N).astype(np.int64)
    c = tb["c"][j]
    ph, pl = two_prod(eh, c)
    ph, pl = fast_two_sum(ph, pl + el * c)
    rh, rl = dw_plus_fp(ph, pl, c - 1.0)
    q = horner_fp(rh, (-1 / 4, 1 / 5, -1 / 6, 1 / 7, -1 / 8))
    ph, pl = dw_plus_dw(*dw_times_fp(rh, rl, q), tb["third_h"], tb["third_l"])
    ph, pl = dw_plus_fp(*dw_times_dw(rh, rl, ph, pl), -0.5)
    ph, pl = dw_plus_fp(*dw_times_dw(rh, rl, ph, pl), 1.0)
    ph, pl = dw_times_dw(rh, rl, ph, pl)
    return dw_plus_dw(tb["log_h"][j], tb["log_l"][j], ph, pl)


def enclose(x: np.ndarray, beta: float, fn: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vh, vl, ok): double words v = vh + vl with |f(x) − v| ≤ W·v + 2**-1100 where ``ok`` (module doc).

    ``x``: float64 array (any shape; NaN and ±inf are never claimed); β > 0; ``fn`` "softplus" or
    "softplus_grad". Unclaimed elements hold arbitrary values.
    """
    if fn not in ("softplus", "softplus_grad"):
        raise ValueError(f"unknown function {fn!r}")
    x = np.asarray(x, dtype=np.float64)
    shape = x.shape
    x = x.ravel()
    vh = np.zeros(x.shape)
    vl = np.zeros(x.shape)
    ok = np.zeros(x.shape, dtype=bool)
    if not (BETA_RANGE[0] <= beta <= BETA_RANGE[1]) or not ieee_arithmetic():
        return vh.reshape(shape), vl.reshape(shape), ok.reshape(shape)
    softplus = fn == "softplus"
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        th = x * beta
        ah = np.abs(th)
        finite = np.isfinite(x)
        upper = finite & (th > UPPER)
        tiny = finite & (ah < TINY)
        main = finite & (ah <= MAIN_MAX) & ~upper & ~tiny
        e_beta = int(np.frexp(beta)[1])
        zero_from = (1101 - e_beta if softplus else 1100) * _LN2_UP
        zero = finite & (th < -MAIN_MAX) & (ah > zero_from)

        i = np.flatnonzero(upper)
        vh[i] = x[i] if softplus else 1.0
        ok[i] = True
        ok[zero] = True  # v = 0

        for idx, region in ((np.flatnonzero(tiny), _tiny), (np.flatnonzero(main), _main)):
            if idx.size:
                xs, ts = x[idx], th[idx]
                tl = _product_error(xs, beta, ts)
                h, lo = region(xs, ts, tl, beta, softplus)
                vh[idx], vl[idx] = h, lo
                ok[idx] = np.isfinite(h) & (h >= MIN_RESULT)
    return vh.reshape(shape), vl.reshape(shape), ok.reshape(shape)


def _product_error(x: np.ndarray, beta: float, th: np.ndarray) -> np.ndarray:
    """βx − th exactly (Dekker), 0 where |th| < 2**-900 or β is a power of two (th is then exact)."""
    if np.frexp(beta)[0] == 0.5:
        return np.zeros(x.shape)
    tl = two_prod(x, beta)[1]
    return np.where(np.abs(th) >= _TL_MIN, tl, 0.0)


def _tiny(x, th, tl, beta: float, softplus: bool):
    """Region 1: the series at t = 0."""
    if softplus:
        ch, cl = _log2_over(beta)
        s, e = two_sum(ch, x * 0.5)
        return fast_two_sum(s, e + (cl + th * x * 0.125))
    s, e = two_sum(0.5, th * 0.25)
    return fast_two_sum(s, e + (tl * 0.25 - th * th * th / 48.0))


def _main(x, th, tl, beta: float, softplus: bool):
    """Region 3: through e = e**-|βx|."""
    negative = th < 0
    ah = np.abs(th)
    al = np.where(negative, -tl, tl)
    eh, el = _exp_neg(ah, al)
    if softplus:
        lh, ll = _log1p(eh, el)
        if beta != 1.0:
            lh, ll = dw_div_fp(lh, ll, beta)
        return dw_plus_fp(lh, ll, np.maximum(x, 0.0))
    sh, sl = dw_plus_fp(eh, el, 1.0)
    return dw_div_dw(np.where(negative, eh, 1.0), np.where(negative, el, 0.0), sh, sl)


def _scale(v: np.ndarray, k: np.ndarray) -> np.ndarray:
    """v·2**k for integer arrays |k| ≤ 2046, in two exact steps (each factor a normal power of two)."""
    k1 = k // 2
    return v * _pow2(k1) * _pow2(k - k1)


def _ulp_exponent(vh: np.ndarray) -> np.ndarray:
    """k with 2**k = ulp(vh) in float64 (2**-1074 below the normal range)."""
    field = ((vh.view(np.uint64) >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    return np.maximum(field, 1) - 1075


def _power_of_two(vh: np.ndarray) -> np.ndarray:
    """vh is a power of two ≥ 2**-1021 (its gap below is half its ulp)."""
    return ((vh.view(np.uint64) & np.uint64((1 << 52) - 1)) == 0) & (vh >= 2.0 ** -1021)


def rounding(vh: np.ndarray, vl: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bits, decided): the correctly rounded float64 bit patterns (uint64) of f where ``decided``, from an
    enclosure of :func:`enclose` (module doc, "Rounding and ulps"). Undecided elements hold vh's bits."""
    vh = np.ascontiguousarray(vh, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        d = _scale(vl, -_ulp_exponent(vh))
        below = np.where(_power_of_two(vh), -0.25, -0.5)
        decided = ok & (d + RADIUS_ULPS < 0.5) & (d - RADIUS_ULPS > below)
    return vh.view(np.uint64).copy(), decided


def _binade(x: np.ndarray, vh: np.ndarray, vl: np.ndarray, ok: np.ndarray, fn: str):
    """(k, d, known): ulp(f) = 2**k where ``known`` (module doc, "Rounding and ulps"), and D = vl/ulp(vh)."""
    k = _ulp_exponent(vh)
    d = _scale(vl, -k)
    power = _power_of_two(vh)
    below = power & (d + RADIUS_ULPS < 0)
    known = ok & (~power | below | (d - RADIUS_ULPS >= 0))
    if fn == "softplus_grad":  # sigmoid < 1, and sigmoid − 1/2 has the sign of x
        rule = ok & power & ~known & ((vh == 1.0) | (vh == 0.5))
        below |= rule & ((vh == 1.0) | (x < 0))
        known |= rule
    return k - below, d, known


def ulp_errors(y: np.ndarray, x: np.ndarray, vh: np.ndarray, vl: np.ndarray, ok: np.ndarray,
               fn: str) -> tuple[np.ndarray, np.ndarray]:
    """(err, known): signed (y − f(x)) / ulp(f(x)) in float64 ulps, within 2**-24 ulp of the truth where
    ``known``, for finite float64 results y and inputs x and an enclosure of :func:`enclose`."""
    vh = np.ascontiguousarray(vh, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        k, _, known = _binade(x, vh, vl, ok, fn)
        dh, dl = two_sum(_scale(y, -k), -_scale(vh, -k))
        err = dh + (dl - _scale(vl, -k))
    return err, known


def midpoint_distance(x: np.ndarray, vh: np.ndarray, vl: np.ndarray, ok: np.ndarray, fn: str) -> np.ndarray:
    """|f(x)/ulp(f) − (m + 1/2)| for the nearest rounding midpoint, within 2**-24: how hard f(x) is to
    round; inf where the enclosure does not tell."""
    vh = np.ascontiguousarray(vh, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        k, _, known = _binade(x, vh, vl, ok, fn)
        r = _scale(vl, -k)  # v − vh in ulps of f's binade: |r| ≤ 1 (≤ 1/2 but for 1 below a power of two)
        dist = np.abs(0.5 - np.abs(r))
    return np.where(known, dist, np.inf)
