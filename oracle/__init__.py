"""softplus-cert's oracle: exact softplus and sigmoid, correctly rounded into any supported format.

Public API::

    oracle.softplus(x, beta=1.0)        # correctly rounded softplus_β(x) = log1p(exp(βx))/β
    oracle.softplus_grad(x, beta=1.0)   # correctly rounded sigmoid(βx), the derivative
    oracle.ulp_error(y, x, fn="softplus", beta=1.0)   # error of results y, in ulps of y's format
    oracle.FORMATS, oracle.get_format(name_or_dtype)

x is a NumPy array of float16, bfloat16, float32, float64, float8_e4m3fn or float8_e5m2 (ml_dtypes dtypes
for bfloat16 and float8); results have x's dtype and shape. β is taken as its float64 value and must be
finite and > 0.
"""

from __future__ import annotations

import numpy as np

from oracle.evaluate import correctly_rounded
from oracle.formats import FORMATS, Format, format_of, get_format
from oracle.ulp import ulp_error

__all__ = ["softplus", "softplus_grad", "ulp_error", "FORMATS", "Format", "get_format", "format_of"]


def softplus(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """softplus_β(x) = log1p(exp(βx))/β, correctly rounded (nearest-even) to x's format, elementwise.

    Edge cases: softplus(-inf) = +0, softplus(+inf) = +inf, NaN → NaN; results beyond the format's range
    overflow to +inf (NaN in float8_e4m3fn, which has no inf); tiny results underflow gradually to +0.
    Raises ValueError for an unsupported dtype or a β that is not finite and > 0.
    """
    return correctly_rounded(x, "softplus", beta)


def softplus_grad(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """d/dx softplus_β(x) = sigmoid(βx) = 1/(1 + exp(-βx)), correctly rounded to x's format, elementwise.

    Edge cases: sigmoid(-inf) = +0, sigmoid(+inf) = 1, NaN → NaN, sigmoid(±0) = 0.5 exactly.
    Raises ValueError for an unsupported dtype or a β that is not finite and > 0.
    """
    return correctly_rounded(x, "softplus_grad", beta)
