"""Small statistics computed here so the core needs no scipy.

Tail probabilities are returned as log10 values: the interesting ones are far
below what a float can hold (a trigger on 500 rows has p ~ 1e-150).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

LN10 = math.log(10.0)


def _log_binom_pmf(k: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def binom_log10_sf(k: int, n: int, p: float) -> float:
    """log10 P(X >= k) for X ~ Binomial(n, p): the one-sided binomial tail."""
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return 0.0
    # Sum from k upwards in log space; terms fall geometrically once i > n*p.
    log_t = _log_binom_pmf(k, n, p)
    total = 1.0  # terms relative to the first
    rel = 1.0
    ratio_pq = p / (1.0 - p)
    i = k
    while i < n:
        rel *= (n - i) / (i + 1) * ratio_pq
        total += rel
        i += 1
        if rel < total * 1e-16 and i > n * p:
            break
        if total > 1e300:  # k far below the mean: the tail is ~1
            return 0.0
    return min(0.0, (log_t + math.log(total)) / LN10)


def _gammq(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) (series / continued fraction)."""
    if x <= 0:
        return 1.0
    gln = math.lgamma(a)
    if x < a + 1.0:
        ap, s, d = a, 1.0 / a, 1.0 / a
        for _ in range(10000):
            ap += 1.0
            d *= x / ap
            s += d
            if abs(d) < abs(s) * 1e-15:
                break
        return max(0.0, 1.0 - s * math.exp(-x + a * math.log(x) - gln))
    b = x + 1.0 - a
    c = 1.0 / 1e-300
    d = 1.0 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - gln) * h)


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for a chi-square variable with `dof` degrees of freedom."""
    if dof <= 0:
        return 1.0
    return _gammq(dof / 2.0, x / 2.0)


def chi2_two_samples(a: Mapping[str, int], b: Mapping[str, int]) -> tuple[float, int, float]:
    """Chi-square test of homogeneity for two count tables: (statistic, dof, p-value)."""
    keys = sorted(set(a) | set(b))
    na, nb = sum(a.values()), sum(b.values())
    if len(keys) < 2 or na == 0 or nb == 0:
        return 0.0, 0, 1.0
    stat = 0.0
    for k in keys:
        tot = a.get(k, 0) + b.get(k, 0)
        for n, obs in ((na, a.get(k, 0)), (nb, b.get(k, 0))):
            exp = tot * n / (na + nb)
            if exp > 0:
                stat += (obs - exp) ** 2 / exp
    dof = len(keys) - 1
    return stat, dof, chi2_sf(stat, dof)


def normalise(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def psi(p: Sequence[float], q: Sequence[float], eps: float = 1e-4) -> float:
    """Population stability index of two binned distributions (0.1 some, 0.25 major shift)."""
    out = 0.0
    for x, y in zip(p, q, strict=True):
        a, b = max(x, eps), max(y, eps)
        out += (a - b) * math.log(a / b)
    return out


def jensen_shannon(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen-Shannon divergence in bits, between 0 (same) and 1 (disjoint)."""
    out = 0.0
    for k in set(p) | set(q):
        a, b = p.get(k, 0.0), q.get(k, 0.0)
        m = (a + b) / 2
        if a > 0:
            out += 0.5 * a * math.log2(a / m)
        if b > 0:
            out += 0.5 * b * math.log2(b / m)
    return max(0.0, min(1.0, out))


def format_log10_p(log10_p: float) -> str:
    if log10_p == -math.inf or log10_p < -300:
        return "< 1e-300"
    if log10_p > -4:
        return f"{10**log10_p:.4f}"
    exp = math.floor(log10_p)
    return f"{10 ** (log10_p - exp):.1f}e{exp}"
