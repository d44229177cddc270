"""Numbers as text that keep their meaning: the one place reports turn errors and fractions into digits.

Three significant digits are enough for an error of 1.26 ulp or 1.42e+03 ulp, but not at the landmarks a reader
judges by: 0.5 ulp (correctly rounded), 1 ulp (faithful) and 0. An error of 0.5000029 ulp printed as "0.5"
says "correctly rounded" of a result that is not, and 99.9996 % printed as "100.000" says "every input". So:

* :func:`num` prints ``digits`` significant digits, and more (up to 17, which round-trip any float64) while
  the text would read as a landmark (0, 0.5, 1) the value is not: 0.5000029 → "0.500003", 0.99996 → "0.99996",
  0.5 → "0.5". None → "–", NaN → "nan", ±inf → "inf"/"-inf" (an infinite error is never a number).
* :func:`num_pair` prints two values (an onset found and the true one) with as many digits as it takes for
  two different values to read differently: -103.97207641601562 and -103.97208404541016, adjacent float32
  values, are "-103.97208" both at 8 digits, which would say "no early underflow" of one that is early.
* :func:`percent` prints a fraction in [0, 1] as a percentage with ``decimals`` places, and more while the text
  would read "100" of a fraction below 1 or "0" of one above 0: 0.999996 → "99.9996", 1 → "100.000".

Both are pure functions of the value; tests hold them to these rules over random values.
"""

from __future__ import annotations

import math

__all__ = ["LANDMARKS", "num", "percent", "num_pair"]

#: Values whose printed form a reader takes at its word: no error, correctly rounded, faithful.
LANDMARKS = (0.0, 0.5, 1.0)

_MAX_DIGITS = 17  # repr-exact for every float64


def num(v: float | int | None, digits: int = 3) -> str:
    """``v`` with ``digits`` significant digits (``%g``), more where fewer would print a landmark it is not."""
    if v is None:
        return "–"
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    d = digits
    text = f"{v:.{d}g}"
    while d < _MAX_DIGITS and float(text) != v and abs(float(text)) in LANDMARKS:
        d += 1
        text = f"{v:.{d}g}"
    return text


def percent(fraction: float, decimals: int = 3) -> str:
    """``100 * fraction`` with ``decimals`` places; never "100…" below 1 nor "0…" above 0. NaN → "nan"."""
    if math.isnan(fraction):
        return "nan"
    d = decimals
    text = f"{100 * fraction:.{d}f}"
    while d < _MAX_DIGITS and ((fraction < 1 and float(text) >= 100) or (fraction > 0 and float(text) <= 0)):
        d += 1
        text = f"{100 * fraction:.{d}f}"
    return text


def num_pair(a: float | None, b: float | None, digits: int = 8) -> tuple[str, str]:
    """``num(a, d)`` and ``num(b, d)`` for the least ``d`` ≥ ``digits`` at which they differ where a ≠ b."""
    d = digits
    while True:
        ta, tb = num(a, d), num(b, d)
        if ta != tb or a == b or a is None or b is None or d >= _MAX_DIGITS:
            return ta, tb
        d += 1
