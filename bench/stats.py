"""Small numeric helpers shared by the benchmarks."""
from __future__ import annotations


def pct(xs: list[float], p: float) -> float:
    """The p-th percentile with linear interpolation between the closest ranks; NaN for no data."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)
