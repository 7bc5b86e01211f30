"""LSH banding: the (bands, rows) choice and its S-curve.

Two documents whose signatures agree on every row of at least one band become a candidate pair.
For true Jaccard ``s`` that happens with probability ``1 - (1 - s**rows)**bands`` (Leskovec,
Rajaraman and Ullman, *Mining of Massive Datasets*, ch. 3.4).

Example:
    >>> optimal_params(0.6, 128, (0.1, 0.9))
    (25, 5)
    >>> round(s_curve(0.7, 25, 5), 3)
    0.99
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np


def s_curve(similarity: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that a pair with this Jaccard similarity shares at least one band."""
    s = np.asarray(similarity, dtype=np.float64)
    p = 1.0 - (1.0 - s ** rows) ** bands
    return float(p) if p.ndim == 0 else p


@lru_cache(maxsize=64)
def optimal_params(threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """datasketch's ``MinHashLSH`` parameter search: the (bands, rows) with ``bands * rows <= num_perm``
    minimizing ``fp_weight * P(false positive) + fn_weight * P(false negative)``, the two areas
    under and over the S-curve on either side of ``threshold``.

    The same search as ``datasketch.lsh._optimal_param`` (the tests compare the two), for every
    pair at once: each area is the integral of a polynomial of degree ``bands * rows <= num_perm``,
    which Gauss-Legendre quadrature with ``num_perm // 2 + 1`` nodes gives exactly where datasketch
    calls scipy's ``quad`` per pair. Importing that module imports ``scipy.integrate`` (0.3-0.4 s),
    a price every process of a run paid for two integers.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    # datasketch's loop order (bands outer, rows inner): argmin keeps the first minimum, as its `<`.
    bands = np.concatenate([np.full(num_perm // b, b) for b in range(1, num_perm + 1)]).astype(np.float64)
    rows = np.concatenate([np.arange(1, num_perm // b + 1) for b in range(1, num_perm + 1)]).astype(np.float64)
    nodes, node_weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def area(lo: float, hi: float, of_band_match: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        s = (hi - lo) / 2 * (nodes + 1) + lo
        return (hi - lo) / 2 * (of_band_match(s[None, :] ** rows[:, None]) @ node_weights)

    false_positive = area(0.0, threshold, lambda p: 1 - (1 - p) ** bands[:, None])
    false_negative = area(threshold, 1.0, lambda p: (1 - p) ** bands[:, None])
    best = int(np.argmin(false_positive * weights[0] + false_negative * weights[1]))
    return int(bands[best]), int(rows[best])


def threshold_of(bands: int, rows: int) -> float:
    """The S-curve's steepest point, ``(1 / bands) ** (1 / rows)``: roughly where P = 0.5."""
    return (1.0 / bands) ** (1.0 / rows)


def describe(bands: int, rows: int, points: tuple[float, ...] = (0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
             ) -> dict[str, float]:
    """The S-curve at a few Jaccard values, for reports: ``{"0.70": 0.918, ...}``."""
    return {f"{p:.2f}": round(s_curve(p, bands, rows), 4) for p in points}
