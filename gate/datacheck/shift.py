"""Distribution shift of a dataset against a reference dataset.

Three views, each with an effect size compared with a policy threshold
(significance alone says little at a million rows, where any difference is
significant):
- labels: total-variation distance of label proportions (with a chi-square
  test for the record);
- length: population stability index over log2 length bins;
- vocabulary: Jensen-Shannon divergence of the most frequent words, with the
  words whose share grew the most as evidence.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gate.datacheck.stats import chi2_two_samples, jensen_shannon, normalise, psi, total_variation

LENGTH_BINS = 20
TOP_WORDS = 2000


@dataclass
class Profile:
    rows: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    lengths: list[int] = field(default_factory=lambda: [0] * LENGTH_BINS)
    words: Counter[str] = field(default_factory=Counter)

    def add_lengths(self, lengths: list[int]) -> None:
        bins = self.lengths
        top = LENGTH_BINS - 1
        for n in lengths:
            b = n.bit_length()
            bins[b if b < top else top] += 1
        self.rows += len(lengths)

    def length_dist(self) -> list[float]:
        total = sum(self.lengths) or 1
        return [v / total for v in self.lengths]

    def top_words(self) -> dict[str, float]:
        top = dict(self.words.most_common(TOP_WORDS))
        total = sum(self.words.values()) or 1
        out = {k: v / total for k, v in top.items()}
        out["(other words)"] = max(0.0, 1.0 - sum(out.values()))
        return out


@dataclass
class Shift:
    metric: str  # "labels" | "length" | "vocabulary"
    value: float
    threshold: float
    detail: dict[str, object]


def compare(
    target: Profile, reference: Profile, max_label: float, max_psi: float, max_jsd: float
) -> list[Shift]:
    out: list[Shift] = []
    if target.labels and reference.labels:
        p, q = normalise(target.labels), normalise(reference.labels)
        tvd = total_variation(p, q)
        stat, dof, pval = chi2_two_samples(target.labels, reference.labels)
        moved = sorted(set(p) | set(q), key=lambda k: -abs(p.get(k, 0) - q.get(k, 0)))[:5]
        out.append(
            Shift(
                "labels",
                tvd,
                max_label,
                {
                    "chi_square": round(stat, 2),
                    "dof": dof,
                    "p_value": pval,
                    "changes": {k: [round(q.get(k, 0.0), 4), round(p.get(k, 0.0), 4)] for k in moved},
                },
            )
        )
    if target.rows and reference.rows:
        value = psi(target.length_dist(), reference.length_dist())
        out.append(
            Shift(
                "length",
                value,
                max_psi,
                {
                    "median_bin_dataset": _median_bin(target.lengths),
                    "median_bin_reference": _median_bin(reference.lengths),
                },
            )
        )
    if target.words and reference.words:
        p, q = target.top_words(), reference.top_words()
        jsd = jensen_shannon(p, q)
        grew = sorted((k for k in p if k != "(other words)"), key=lambda k: -(p[k] - q.get(k, 0.0)))[:10]
        out.append(
            Shift(
                "vocabulary",
                jsd,
                max_jsd,
                {"over_represented": {k: [round(q.get(k, 0.0), 5), round(p[k], 5)] for k in grew}},
            )
        )
    return out


def _median_bin(bins: list[int]) -> str:
    """The length range (characters) holding the median row."""
    total = sum(bins)
    acc = 0
    for i, v in enumerate(bins):
        acc += v
        if acc * 2 >= total:
            lo = 0 if i == 0 else 2 ** (i - 1)
            return f"{lo}-{2**i - 1}"
    return "-"
