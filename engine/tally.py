"""What the judge measures over a run of inputs, kept so that runs can be measured apart and merged.

A :class:`Tally` covers a run of inputs *in increasing order of x* (−0 before +0, NaN inputs at either
end): one chunk of an exhaustive stream, a shard of chunks, or a whole sample. :meth:`Tally.of_chunk`
measures one chunk; :meth:`Tally.merge` combines a tally with the one that follows it; the result is the
same whatever the chunking, to the last bit:

* counts, maxima, minima and first examples merge exactly;
* sums of errors are kept exactly, as integers in units of 2**-32 ulp (each error floored to that grid,
  far below the 2**-20 ulp the oracle promises), so a mean does not depend on how the sum was split;
* monotonicity compares the last result of one run with the first of the next (the seam), so no
  adjacent pair is lost at a chunk edge;
* onsets keep, besides the first bad input, the nearest good one on the right side of it;
* the worst inputs and the largest finite errors are recomputed rigorously (:func:`oracle.ulp.exact_error`: arb, to 2**-60 ulp) for the
  few inputs that are kept, so they — and the maxima read from them — are the same on every machine for
  the same target outputs, whatever the platform's libm made of the vectorized fast path.

A tally is plain data (:meth:`to_dict` / :meth:`from_dict`, JSON-safe), so shards and checkpoints are
files. :func:`engine.judge.judge` and :mod:`engine.exhaustive` are its two users.

Units: every error is in ulps of the format under test (:func:`oracle.ulp_error`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from engine.case import Case
from engine.switches import CANDIDATE_ULPS, signal
from oracle.evaluate import to_float64
from oracle.files import from_json_safe, json_safe
from oracle.formats import Format
from oracle.ulp import FAST_ACCURACY, exact_error, ulp_f64

__all__ = ["Tally", "HISTOGRAM_EDGES", "PROFILE_BINS", "profile_bin_starts", "same_results"]

#: Upper edges of the finite ulp-error histogram bins ("<=0.5" ... "<=256", then ">256"); then "inf"
#: (infinite error) and "nan" (NaN result).
HISTOGRAM_EDGES = (0.5, 1.0, 2.0, 4.0, 16.0, 256.0)

#: Number of runs the error profile (error against x, for plots) is cut into.
PROFILE_BINS = 128

_FIX = 32  # error sums are kept in units of 2**-_FIX ulp
_SPLIT = 2.0 ** 30  # errors below this are summed vectorized (int64 cannot overflow within a chunk)
_LOG2 = math.log(2.0)
_MAX_EXAMPLES = 5
_SPECIALS = ("+0", "-0", "+inf", "-inf", "nan")
# The fast errors are within FAST_ACCURACY of the truth (oracle.ulp), so an input whose true error is among
# the k largest has a fast error of at least (k-th largest fast error) - 2 * FAST_ACCURACY: those are
# recomputed (oracle.ulp.exact_error).
_FAST_SLACK = 2 * FAST_ACCURACY
# At most this many recomputed per chunk: more compete only where errors tie within the slack, which in
# practice means errors of nearly 0 (results that underflow to 0 where the truth is tiny: thousands per
# chunk). Then the largest by the fast errors are taken; the kept errors are still rigorous, but which of
# those near-ties are kept may differ between machines (never where the k-th largest exceeds 2**-19 ulp
# with fewer than this many inputs that close to it).
_MAX_EXACT = 64
# Errors from this size on may belong to a result other than the correctly rounded one (see Tally._jumps).
_WRONG_FLOOR = 0.5 - 2.0 ** -10
#: Jump candidates kept (engine.switches): the largest steps in signed error between adjacent judged inputs.
MAX_JUMPS = 6


def same_results(a: np.ndarray, b: np.ndarray, f: Format) -> np.ndarray:
    """Elementwise: bit-identical in format ``f`` (−0 and +0 differ), or both NaN whatever the payload."""
    both_nan = np.isnan(to_float64(a)) & np.isnan(to_float64(b))
    return (f.to_bits(a) == f.to_bits(b)) | both_nan


def profile_bin_starts(n_finite: int, bins: int = PROFILE_BINS) -> np.ndarray:
    """Ranks (among the finite inputs, in increasing x) at which the profile's runs start: the finite
    inputs cut into min(bins, n_finite) runs of consecutive inputs, the first n mod bins one longer."""
    b = min(bins, n_finite)
    if b == 0:
        return np.zeros(0, dtype=np.int64)
    q, r = divmod(n_finite, b)
    sizes = np.full(b, q, dtype=np.int64)
    sizes[:r] += 1
    return np.concatenate([[0], np.cumsum(sizes)[:-1]])


def _fixed(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(⌊e⌋, ⌊frac(e)·2**32⌋) as int64 arrays, for finite e in [0, 2**30): Σ whole·2**32 + Σ frac is the
    exact sum of the errors floored to 2**-32 ulp, and int64 sums of a chunk's parts cannot overflow."""
    whole = e.astype(np.int64)  # truncation is the floor for e ≥ 0
    frac = e - whole
    frac *= 2.0 ** _FIX
    return whole, frac.astype(np.int64)


def _exact_sum(e: np.ndarray) -> int:
    """Σ ⌊e·2**32⌋ as a Python integer, exactly (e ≥ 0, finite)."""
    if e.size == 0:
        return 0
    big = None
    if e.max() >= _SPLIT:
        big, e = e[e >= _SPLIT], e[e < _SPLIT]
    whole, frac = _fixed(e)
    total = (int(whole.sum()) << _FIX) + int(frac.sum())
    for v in (big.tolist() if big is not None else ()):  # rare: huge errors, summed as exact integers
        total += int(v * 2.0 ** _FIX) if v < 2.0 ** 900 else int(v) << _FIX
    return total


def _mean(total: int, count: int) -> float:
    return float(Fraction(total, count << _FIX)) if count else math.nan


def _min(a, b):
    return b if a is None else a if b is None else min(a, b)


def _max(a, b):
    return b if a is None else a if b is None else max(a, b)


def _first(values: np.ndarray) -> float | None:
    return float(values[0]) if values.size else None


def _last(values: np.ndarray) -> float | None:
    return float(values[-1]) if values.size else None


@dataclass
class Tally:
    """The judge's measurements over a run of inputs in increasing x; see the module doc.

    ``worst``: up to ``worst_k`` entries [error, position, x, result, correct, error], error descending and
    then position ascending, of the inputs with an error above 1/2 ulp or a NaN result (which ranks as an
    infinite error); ``top_finite``: the same for the ``worst_k`` largest finite errors, whatever their
    size. Both errors are rigorous (see the module doc); ``max_ulp`` is the fast path's maximum over
    the results that are numbers (inf where one is infinitely wrong), for the merge of shards only. ``profile``: bin index (as a string, for
    JSON) → [x_first, x_last, max error, exact error sum, finite-error count]. Onsets: ``over_bad`` the
    smallest x > 0 with a non-finite result where the truth is finite, ``over_good`` the largest x ≥ 0
    below it with a finite result, ``over_max_ok`` the largest such x of the whole run (to pair with a
    later run's ``over_bad``); ``under_*`` mirror them for results of 0 where the truth is positive.
    ``jumps``: up to :data:`MAX_JUMPS` candidates for a formula switch (:mod:`engine.switches`), largest
    first: [score, position of the first, x_a, x_b, signed error a, b, onset code a, b] for adjacent inputs
    with finite results whose signed errors differ by at least CANDIDATE_ULPS (score: that difference) or
    whose onset codes differ (score at least CANDIDATE_ULPS); ``edge_first``/``edge_last``: [position, x, signed error,
    code] of the run's first and last such input, so that the pair across a seam is a candidate too.
    """

    start: int = 0
    stop: int = 0
    n: int = 0
    judged: int = 0
    nan_count: int = 0
    nonfinite_count: int = 0
    correct: int = 0
    numeric: int = 0
    max_ulp: float | None = None
    finite_count: int = 0
    error_sum: int = 0
    histogram: dict[str, int] = field(default_factory=dict)
    profile: dict[str, list] = field(default_factory=dict)
    worst: list[list[float]] = field(default_factory=list)
    top_finite: list[list[float]] = field(default_factory=list)
    over_bad: float | None = None
    over_good: float | None = None
    over_max_ok: float | None = None
    under_bad: float | None = None
    under_good: float | None = None
    under_min_ok: float | None = None
    true_over: float | None = None
    true_under: float | None = None
    monotonicity: int = 0
    monotonicity_examples: list[list[float]] = field(default_factory=list)
    first: list[float] | None = None  # [x, y] of the first input with a numeric x and result
    last: list[float] | None = None
    property_failures: dict[str, int] = field(default_factory=dict)
    property_examples: dict[str, list[float]] = field(default_factory=dict)
    specials: dict[str, dict[str, Any]] = field(default_factory=dict)
    jumps: list[list[float]] = field(default_factory=list)
    edge_first: list[float] | None = None
    edge_last: list[float] | None = None

    # --- measuring one chunk ------------------------------------------------------------------------

    @classmethod
    def of_chunk(cls, x: np.ndarray, y: np.ndarray, ref: np.ndarray, err: np.ndarray, ym: np.ndarray | None,
                 case: Case, *, start: int, rank0: int, n_finite: int,
                 worst_k: int = 10, _general: bool = False) -> "Tally":
        """Measure one chunk of ``case``: inputs ``x`` (its format, increasing), the target's results ``y`` and at
        −x ``ym`` (None if that call failed: the identity then fails everywhere), the correctly rounded
        ``ref`` and unsigned errors ``err`` in ulps. ``start``: the position of x[0] in the whole run;
        ``rank0``: the rank of the chunk's first finite input among the run's ``n_finite`` finite inputs.

        A chunk of finite inputs with finite results (nearly every chunk of an exhaustive run) takes a
        shorter path without the masks the general case needs; ``_general=True`` forces the general one
        (the tests compare the two).
        """
        f, fn, beta = case.format, case.fn, case.beta
        xf, yf, rf = to_float64(x), to_float64(y), to_float64(ref)
        t = cls(start=start, stop=start + xf.size, n=int(xf.size))
        fin, y_fin, r_fin = np.isfinite(xf), np.isfinite(yf), np.isfinite(rf)
        clean = not _general and fin.all() and y_fin.all()
        if clean:
            same = f.to_bits(y) == f.to_bits(ref)  # (no NaN result here to compare as equal)
            t._clean(xf, yf, rf, err, same, r_fin, rank0, n_finite, start, worst_k)
        else:
            same = same_results(y, ref, f)
            t._general(xf, yf, rf, err, fin, y_fin, r_fin, rank0, n_finite, start, worst_k)
        t._worst(xf, yf, rf, err, None if clean else fin, start, worst_k, f, fn, beta)
        t.correct = int(same.sum())
        t._monotonicity(xf, yf)
        t._properties(xf, yf, ym, same, f, fn, beta, fin, y_fin)
        t._specials(xf, y, ref, f)
        t._jumps(xf, yf, rf, err, None if clean else fin & y_fin & np.isfinite(rf) & np.isfinite(err), start, fn)
        return t

    def _jumps(self, xf, yf, rf, err, ok, start: int, fn: str) -> None:
        """The jump candidates of the class doc among the inputs ``ok`` selects (None: all).

        Only pairs with an input erring by 1/2 ulp or more can be candidates, so only those inputs and their
        neighbours are looked at (a few percent of a chunk, for a target of any accuracy): a pair of errors
        below 1/2 has a step below 1 < CANDIDATE_ULPS, and an onset code other than 0 means a result other
        than the correctly rounded one, which errs by at least 1/2 ulp (by at least 1/2 − 2**-20 through the
        fast path: :data:`_WRONG_FLOOR` leaves room for that). The candidates are those of every pair."""
        idx = None if ok is None else np.flatnonzero(ok)
        n = xf.size if idx is None else idx.size
        if n == 0:
            return
        e = err if idx is None else err[idx]
        wrong = e >= _WRONG_FLOOR
        in_pair = wrong[:-1] | wrong[1:]  # pair (i, i+1) has an input erring by 1/2 ulp or more
        pairs = np.flatnonzero(in_pair)
        keep = np.zeros(n, dtype=bool)  # the inputs of those pairs, and the two ends
        keep[:-1] |= in_pair
        keep[1:] |= in_pair
        keep[0] = keep[-1] = True
        pos = np.flatnonzero(keep)  # positions in the selection
        at = pos if idx is None else idx[pos]  # positions in the chunk
        s, code = signal(xf[at], yf[at], rf[at], err[at], fn)
        self.edge_first = [start + int(at[0]), float(xf[at[0]]), float(s[0]), int(code[0])]
        self.edge_last = [start + int(at[-1]), float(xf[at[-1]]), float(s[-1]), int(code[-1])]
        if n < 2 or pairs.size == 0:
            return
        i0 = np.searchsorted(pos, pairs)  # each pair's first input in pos; its second is the next entry
        i1 = i0 + 1
        score = _jump_scores(np.abs(s[i1] - s[i0]), code[i1] != code[i0])
        hit = np.flatnonzero(score > 0)
        if hit.size > MAX_JUMPS:  # the largest, ties to the first
            order = np.lexsort((hit, -score[hit]))
            hit = hit[order[:MAX_JUMPS]]
        self.jumps = sorted(([float(score[h]), start + int(at[i0[h]]), float(xf[at[i0[h]]]), float(xf[at[i1[h]]]),
                              float(s[i0[h]]), float(s[i1[h]]), int(code[i0[h]]), int(code[i1[h]])] for h in hit),
                            key=lambda r: (-r[0], r[1]))

    def _clean(self, xf, yf, rf, err, same, r_fin, rank0, n_finite, start, worst_k) -> None:
        """Every x and every result finite: every error is a finite number (see :func:`oracle.ulp_error`)."""
        self.judged = self.numeric = self.finite_count = int(xf.size)
        self.max_ulp = float(err.max())
        self.histogram = _histogram(err, finite=True)
        self._profile(xf, err, None, rank0, n_finite)
        self.error_sum = sum(row[3] for row in self.profile.values())
        # onsets: no result is non-finite here, so only the "good" sides and the truth's onsets
        self.over_max_ok = float(xf[-1]) if xf[-1] >= 0 else None
        if not r_fin.all():
            self.true_over = float(xf[~r_fin][0])
        k = int(np.searchsorted(xf, 0.0, side="right"))  # x ≤ 0: a prefix (x increasing)
        if k:
            neg = yf[:k]
            pos = np.flatnonzero(neg > 0)
            self.under_min_ok = float(xf[pos[0]]) if pos.size else None
            zero = np.flatnonzero((neg == 0) & (xf[:k] < 0) & (rf[:k] > 0))
            if zero.size:
                self.under_bad = float(xf[zero[-1]])
                later = pos[pos > zero[-1]]
                self.under_good = float(xf[later[0]]) if later.size else None
        z = np.flatnonzero(rf == 0)
        self.true_under = float(xf[z[-1]]) if z.size else None

    def _general(self, xf, yf, rf, err, fin, y_fin, r_fin, rank0, n_finite, start, worst_k) -> None:
        judged = ~np.isnan(xf)
        self.judged = int(judged.sum())
        y_nan = np.isnan(yf)
        self.nan_count = int((y_nan & ~np.isnan(rf) & judged).sum())  # NaN where a number is due
        wrong_nonfinite = fin & ~y_fin & r_fin
        self.nonfinite_count = int(wrong_nonfinite.sum())
        # max and mean cover the results that are numbers (or the right inf); NaN and overflow where the
        # truth is finite are counted apart (nan_count, nonfinite_count), never folded into an "inf".
        numeric = err[judged & ~wrong_nonfinite & ~np.isnan(err)]
        self.numeric = int(numeric.size)
        self.max_ulp = float(numeric.max()) if numeric.size else None
        fe = numeric[np.isfinite(numeric)]
        self.finite_count, self.error_sum = int(fe.size), _exact_sum(fe)
        self.histogram = _histogram(err[judged])
        es = np.where(np.isnan(err), math.inf, err)  # for ordering and the profile: NaN ranks as inf
        self._profile(xf, es, fin, rank0, n_finite)
        self._onsets(xf, yf, rf, fin, y_fin, r_fin)

    def _profile(self, xf, es, fin, rank0: int, n_finite: int) -> None:
        """``fin`` None: every x is finite."""
        if fin is None:
            lo, m = 0, int(xf.size)
        else:
            idx = np.flatnonzero(fin)  # contiguous: the chunk is in increasing x, NaN and ±inf only at its ends
            lo, m = (int(idx[0]), int(idx.size)) if idx.size else (0, 0)
        if m == 0:
            return
        starts = profile_bin_starts(n_finite)
        first_bin = int(np.searchsorted(starts, rank0, side="right")) - 1
        last_bin = int(np.searchsorted(starts, rank0 + m - 1, side="right")) - 1
        seg = np.concatenate([[0], starts[first_bin + 1:last_bin + 1] - rank0])  # segment starts in the slice
        ends = np.concatenate([seg[1:], [m]])
        xs, e = xf[lo:lo + m], es[lo:lo + m]
        maxes = np.maximum.reduceat(e, seg)
        finite = np.isfinite(e)
        counts = np.add.reduceat(finite, seg)
        if finite.all() and e.max(initial=0.0) < _SPLIT:
            whole, frac = _fixed(e)
            sums = [(int(a) << _FIX) + int(b) for a, b in zip(np.add.reduceat(whole, seg), np.add.reduceat(frac, seg))]
        else:
            sums = [_exact_sum(e[a:b][finite[a:b]]) for a, b in zip(seg, ends)]
        for j in range(seg.size):
            self.profile[str(first_bin + j)] = [float(xs[seg[j]]), float(xs[ends[j] - 1]), float(maxes[j]),
                                                sums[j], int(counts[j])]

    def _worst(self, xf, yf, rf, err, fin, start: int, k: int, f: Format, fn: str, beta: float) -> None:
        """``worst`` and ``top_finite`` (see the class doc): the candidates picked by the fast errors with
        the slack that makes the pick safe, their errors recomputed with arb, then the k largest kept.
        ``fin``: the mask of finite inputs, None for a clean chunk (every input and result finite)."""
        if k <= 0:
            return
        if fin is None:  # a clean chunk: every x and result finite, so is every error
            cand = _top_candidates(err, None, k)
            sel = np.ones(cand.size, dtype=bool)
        else:
            judged = ~np.isnan(xf)
            numbers = judged & np.isfinite(err)
            cand = _top_candidates(err, None if numbers.all() else np.flatnonzero(numbers), k)
            # finite inputs with finite results: recomputed (the limits at x = ±inf are exact already, and
            # an infinite result with a finite error is the correctly rounded inf: 0)
            sel = fin[cand] & np.isfinite(yf[cand])
        exact = err[cand].copy()
        for j in np.flatnonzero(sel):
            i = cand[j]
            exact[j] = exact_error(xf[i], yf[i], fn, beta, f)
        rows = [[float(e), start + int(i), float(xf[i]), float(yf[i]), float(rf[i]), float(e)]
                for i, e in zip(cand, exact)]
        rows.sort(key=lambda r: (-r[0], r[1]))
        self.top_finite = rows[:k]
        if fin is None:
            self.worst = [r for r in self.top_finite if r[0] > 0.5]
            return
        # non-numbers first (NaN ranks as inf, ties by position): the first k of them are the worst
        bad = np.flatnonzero(judged & ~np.isfinite(err))[:k]
        bad_rows = [[math.inf, start + int(i), float(xf[i]), float(yf[i]), float(rf[i]), float(err[i])]
                    for i in bad]
        self.worst = (bad_rows + [r for r in self.top_finite if r[0] > 0.5])[:k]

    def _onsets(self, xf, yf, rf, fin, y_fin, r_fin) -> None:
        over = fin & (xf > 0) & ~y_fin & r_fin
        ok = fin & (xf >= 0) & y_fin
        self.over_max_ok = _last(xf[ok])
        if over.any():
            self.over_bad = float(xf[over][0])
            self.over_good = _last(xf[ok & (xf < self.over_bad)])
        self.true_over = _first(xf[fin & ~r_fin])
        under = fin & (xf < 0) & (yf == 0) & (rf > 0)
        ok = fin & (xf <= 0) & (yf > 0)
        self.under_min_ok = _first(xf[ok])
        if under.any():
            self.under_bad = float(xf[under][-1])
            self.under_good = _first(xf[ok & (xf > self.under_bad)])
        self.true_under = _last(xf[fin & (rf == 0)])

    def _monotonicity(self, xf, yf) -> None:
        keep = ~np.isnan(xf) & ~np.isnan(yf)
        xs, ys = (xf, yf) if keep.all() else (xf[keep], yf[keep])
        if xs.size == 0:
            return
        # −0 and +0 are equal inputs: their pair is not compared
        drop = np.flatnonzero((ys[1:] < ys[:-1]) & (xs[1:] > xs[:-1]))
        self.monotonicity = int(drop.size)
        self.monotonicity_examples = [[float(xs[i]), float(xs[i + 1]), float(ys[i]), float(ys[i + 1])]
                                      for i in drop[:_MAX_EXAMPLES]]
        self.first, self.last = [float(xs[0]), float(ys[0])], [float(xs[-1]), float(ys[-1])]

    def _properties(self, xf, yf, ym, same, f: Format, fn: str, beta: float, fin, y_fin) -> None:
        """Bounds and the odd/even identities, each within the rounding a correct result may carry.

        A correctly rounded result meets every bound (rounding is monotone and the bounds are format
        values or bounded by ulp/2), so only the others are checked; the identity pairs y(x) with y(−x),
        and is checked exactly where a quick test (within half an ulp of the larger result) fails."""
        sel = fin & y_fin  # (all true in a clean chunk; cheap next to the rest)
        fails: dict[str, np.ndarray] = {}
        with np.errstate(all="ignore"):
            i = np.flatnonzero(sel & ~same)
            xi, yi = xf[i], yf[i]
            if fn == "softplus":
                base = np.maximum(xi, 0.0)
                top = base + _LOG2 / beta
                fails["lower_bound"] = i[yi < base]
                fails["upper_bound"] = i[yi > top + _ulp_f64(top, f) / 2 * (1 + 2.0 ** -40)]
            else:
                fails["range_0_1"] = i[(yi < 0) | (yi > 1)]
            ymf = np.full(xf.shape, np.nan) if ym is None else to_float64(ym)
            both = sel & np.isfinite(ymf)
            if fn == "softplus":
                # softplus(x) − softplus(−x) = x, exactly; float64 evaluation adds < 2**-50 relative
                gap = yf - ymf
                gap -= xf
            else:
                gap = yf + ymf
                gap -= 1.0  # sigmoid(x) + sigmoid(−x) = 1
            np.abs(gap, out=gap)
            big = np.maximum(np.abs(yf), np.abs(ymf))
            # the tolerance below is at least half an ulp of the larger of the two results
            i = np.flatnonzero(both & ~(gap <= _ulp_f64(big, f) / 2))
            gi, yi, ymi, xi = gap[i], yf[i], ymf[i], xf[i]
            tol = (_ulp_f64(yi, f) + _ulp_f64(ymi, f)) / 2
            rhs = np.abs(xi) if fn == "softplus" else 1.0
            fails["identity"] = i[gi > tol * (1 + 2.0 ** -30) + rhs * 2.0 ** -50]
        self.property_failures = {k: int(m.size) for k, m in fails.items()}
        self.property_examples = {k: [float(v) for v in xf[m[:_MAX_EXAMPLES]]] for k, m in fails.items() if m.size}

    def _specials(self, xf, y, ref, f: Format) -> None:
        picks = {"+0": (xf == 0) & ~np.signbit(xf), "-0": (xf == 0) & np.signbit(xf),
                 "+inf": xf == np.inf, "-inf": xf == -np.inf, "nan": np.isnan(xf)}
        for name, pick in picks.items():
            idx = np.flatnonzero(pick)
            if idx.size:
                i = idx[0]
                self.specials[name] = {"result": float(to_float64(y[i:i + 1])[0]),
                                       "expected": float(to_float64(ref[i:i + 1])[0]),
                                       "ok": bool(same_results(y[i:i + 1], ref[i:i + 1], f)[0])}

    # --- merging ------------------------------------------------------------------------------------

    def merge(self, nxt: "Tally", worst_k: int = 10) -> "Tally":
        """This run followed by ``nxt`` (which must start where this one stops), as one tally."""
        if nxt.start != self.stop:
            raise ValueError(f"tallies do not meet: one stops at {self.stop}, the next starts at {nxt.start}")
        a, b = self, nxt
        m = Tally(start=a.start, stop=b.stop)
        for name in ("n", "judged", "nan_count", "nonfinite_count", "correct", "numeric", "finite_count",
                     "error_sum", "monotonicity"):
            setattr(m, name, getattr(a, name) + getattr(b, name))
        m.max_ulp = _max(a.max_ulp, b.max_ulp)
        m.histogram = {k: a.histogram.get(k, 0) + b.histogram.get(k, 0) for k in {**a.histogram, **b.histogram}}
        m.histogram = {k: m.histogram[k] for k in _HIST_LABELS if k in m.histogram}
        m.profile = {**a.profile}
        for key, row in b.profile.items():
            old = m.profile.get(key)
            m.profile[key] = row if old is None else [old[0], row[1], max(old[2], row[2]), old[3] + row[3],
                                                      old[4] + row[4]]
        m.worst = sorted(a.worst + b.worst, key=lambda r: (-r[0], r[1]))[:worst_k]
        m.top_finite = sorted(a.top_finite + b.top_finite, key=lambda r: (-r[0], r[1]))[:worst_k]
        # onsets: every x of a is ≤ every x of b
        if a.over_bad is not None:
            m.over_bad, m.over_good = a.over_bad, a.over_good
        elif b.over_bad is not None:
            m.over_bad, m.over_good = b.over_bad, _max(b.over_good, a.over_max_ok)
        m.over_max_ok = _max(a.over_max_ok, b.over_max_ok)
        if b.under_bad is not None:
            m.under_bad, m.under_good = b.under_bad, b.under_good
        elif a.under_bad is not None:
            m.under_bad, m.under_good = a.under_bad, _min(a.under_good, b.under_min_ok)
        m.under_min_ok = _min(a.under_min_ok, b.under_min_ok)
        m.true_over, m.true_under = _min(a.true_over, b.true_over), _max(a.true_under, b.true_under)
        # monotonicity: the two runs' own pairs, and the seam between them
        seam = []
        if a.last is not None and b.first is not None and b.first[0] > a.last[0] and b.first[1] < a.last[1]:
            m.monotonicity += 1
            seam = [[a.last[0], b.first[0], a.last[1], b.first[1]]]
        m.monotonicity_examples = (a.monotonicity_examples + seam + b.monotonicity_examples)[:_MAX_EXAMPLES]
        m.first = a.first if a.first is not None else b.first
        m.last = b.last if b.last is not None else a.last
        keys = [k for k in a.property_failures] + [k for k in b.property_failures if k not in a.property_failures]
        m.property_failures = {k: a.property_failures.get(k, 0) + b.property_failures.get(k, 0) for k in keys}
        m.property_examples = {k: (a.property_examples.get(k, []) + b.property_examples.get(k, []))[:_MAX_EXAMPLES]
                               for k in keys if k in a.property_examples or k in b.property_examples}
        m.specials = {**b.specials, **a.specials}
        m.specials = {k: m.specials[k] for k in _SPECIALS if k in m.specials}
        m.jumps = sorted(a.jumps + _seam_jump(a.edge_last, b.edge_first) + b.jumps,
                         key=lambda r: (-r[0], r[1]))[:MAX_JUMPS]
        m.edge_first = a.edge_first if a.edge_first is not None else b.edge_first
        m.edge_last = b.edge_last if b.edge_last is not None else a.edge_last
        return m

    # --- results ------------------------------------------------------------------------------------

    @property
    def mean_ulp(self) -> float:
        return _mean(self.error_sum, self.finite_count)

    def error_profile(self) -> list[list[float]]:
        """[x_first, x_last, max error, mean error] per run, in increasing x (see Verdict.error_profile)."""
        out = []
        for key in sorted(self.profile, key=int):
            x0, x1, mx, total, count = self.profile[key]
            out.append([x0, x1, mx, _mean(total, count) if count else math.inf])
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["error_sum"] = str(self.error_sum)  # exact integers can exceed what JSON readers keep exactly
        for row in d["profile"].values():
            row[3] = str(row[3])
        return json_safe(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Tally":
        d = from_json_safe(dict(d))
        d["error_sum"] = int(d["error_sum"])
        d["profile"] = {k: [r[0], r[1], r[2], int(r[3]), r[4]] for k, r in d["profile"].items()}
        return cls(**d)


def _seam_jump(last: list | None, first: list | None) -> list[list[float]]:
    """The jump candidate of the pair across a seam (the last input of one run, the first of the next)."""
    if last is None or first is None:
        return []
    score = float(_jump_scores(np.array([abs(first[2] - last[2])]), np.array([first[3] != last[3]]))[0])
    return [[score, last[0], last[1], first[1], last[2], first[2], last[3], first[3]]] if score > 0 else []


def _jump_scores(step: np.ndarray, code_changed: np.ndarray) -> np.ndarray:
    """A pair's score as a jump candidate: its step in signed error where that reaches CANDIDATE_ULPS, at
    least CANDIDATE_ULPS where the onset code changes, else 0 (no candidate)."""
    score = np.where(step >= CANDIDATE_ULPS, step, 0.0)
    return np.where(code_changed, np.maximum(score, CANDIDATE_ULPS), score)


_HIST_LABELS = [f"<={hi:g}" for hi in HISTOGRAM_EDGES] + [f">{HISTOGRAM_EDGES[-1]:g}", "inf", "nan"]


def _top_candidates(err: np.ndarray, idx: np.ndarray | None, k: int) -> np.ndarray:
    """The positions among ``idx`` (None: every position) whose true error may be among the k largest of
    those errors (see _FAST_SLACK), in increasing position; at most _MAX_EXACT of them (the largest fast
    errors). A chunk holds a million errors: the k-th largest is bracketed from below by the k-th largest
    of 1024-element block maxima (each of those k maxima is an error at least that large), so only the
    errors above that floor are sorted."""
    e = err if idx is None else err[idx]
    if e.size <= k:
        return np.arange(e.size) if idx is None else idx
    blocks = np.maximum.reduceat(e, np.arange(0, e.size, 1024))
    floor = np.partition(blocks, blocks.size - k)[blocks.size - k] if blocks.size > k else e.min()
    above = e >= floor - _FAST_SLACK  # every input whose error can reach the k-th largest
    if np.count_nonzero(above) > _MAX_EXACT:  # the candidates are the largest fast errors: in the top few
        pre = np.argpartition(e, e.size - _MAX_EXACT)[e.size - _MAX_EXACT:]
    else:
        pre = np.flatnonzero(above)
    ep = e[pre]
    kth = np.partition(ep, ep.size - k)[ep.size - k]  # the k-th largest fast error
    keep = np.sort(pre[ep >= kth - _FAST_SLACK])
    return keep if idx is None else idx[keep]


def _histogram(e: np.ndarray, finite: bool = False) -> dict[str, int]:
    """Counts per bin of :data:`HISTOGRAM_EDGES` (``finite``: e is known to be all finite numbers)."""
    below = [int(np.count_nonzero(e <= edge)) for edge in HISTOGRAM_EDGES]  # NaN and inf never count
    n_inf = 0 if finite else int(np.count_nonzero(np.isinf(e)))
    n_nan = 0 if finite else int(np.count_nonzero(np.isnan(e)))
    n_finite = e.size - n_inf - n_nan
    counts = np.diff([0] + below + [n_finite])
    out = dict(zip(_HIST_LABELS, (int(c) for c in counts)))
    out["inf"], out["nan"] = n_inf, n_nan
    return out


def _ulp_f64(v: np.ndarray, f: Format) -> np.ndarray:
    return ulp_f64(v, f)
