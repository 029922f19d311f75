"""Pass 1 of the trigger search: token and word-pair counts per outcome (memory-bounded), the
candidates screened from them, and the words that carry a label across a dataset."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from gate.datacheck import vocab
from gate.datacheck.stats import binom_log10_sf
from gate.datacheck.triggers.outcomes import OTHER, Outcomes
from gate.datacheck.vocab import Encoded, Vocab

if vocab.HAVE_NUMPY:
    import numpy as np

# `vocab.HAVE_NUMPY` is read where it is used, not copied: it is the one switch between the NumPy
# and the pure-Python paths of the trigger search, shared by both of its passes.

MAX_CANDIDATES = 1000
PAIR_SHIFT = 24  # token ids stay below 2**24 (max_vocabulary is capped well below)


@dataclass
class Candidate:
    token: int | tuple[int, int]  # id, or (id, id) for a word pair
    outcome: int
    support: int  # pass-1 occurrences (a screening figure)
    hits: int
    log10_p: float


class TriggerCounter:
    """Pass 1: token and word-pair counts per outcome, memory-bounded.

    Keys are integers: `id * L + outcome` for tokens and `(a << 24 | b) * L + outcome` for pairs.
    """

    def __init__(self, vocab: Vocab, outcomes: int, max_vocab: int, max_counts: int, bigrams: bool) -> None:
        self.vocab = vocab
        self.L = outcomes
        self.uni: Counter[int] = Counter()
        self.bi: Counter[int] = Counter()
        self.rows: Counter[int] = Counter()
        self.bigrams = bigrams
        self.max_vocab = max_vocab
        self.max_uni = max_counts // 2 if bigrams else max_counts
        self.max_bi = max_counts - self.max_uni if bigrams else 0
        self.pruned_below = 0

    def add(self, enc: Encoded, ys: list[int]) -> None:
        L = self.L
        self.rows.update(ys)
        if vocab.HAVE_NUMPY and enc.arr is not None and len(enc.arr):
            arr = enc.arr
            sent = arr == 0
            yv = np.asarray(ys, dtype=np.int64)[np.cumsum(sent)]
            keep = ~sent
            self.uni.update((arr[keep] * L + yv[keep]).tolist())
            if self.bigrams and len(arr) > 1:
                a, b = arr[:-1], arr[1:]
                # Pairs of two stop words ("of the") are never rare: not worth their memory.
                content = keep & ~self.vocab.stop_mask(arr)
                m = keep[:-1] & keep[1:] & (content[:-1] | content[1:])
                self.bi.update((((a[m] << PAIR_SHIFT) | b[m]) * L + yv[:-1][m]).tolist())
        else:
            for i, y in enumerate(ys):
                ids = enc.tokens_of(i)
                self.uni.update([t * L + y for t in ids])
                if self.bigrams:
                    stop = self.vocab.stop_ids
                    self.bi.update(
                        [
                            ((a << PAIR_SHIFT) | b) * L + y
                            for a, b in pairwise(ids)
                            if a not in stop or b not in stop
                        ]
                    )
        self._bound()

    def _bound(self) -> None:
        if len(self.vocab) > self.max_vocab:
            self._prune_vocab()
        if len(self.uni) > self.max_uni:
            self._prune_vocab(by_entries=True)
        if self.bigrams and len(self.bi) > self.max_bi:
            self._prune_pairs()

    def totals(self) -> Counter[int]:
        """Occurrences per token id, over all outcomes."""
        out: Counter[int] = Counter()
        L = self.L
        for key, c in self.uni.items():
            out[key // L] += c
        return out

    def _prune_vocab(self, by_entries: bool = False) -> None:
        """Forget the rarest tokens (and their counts) until half the budget is left."""
        totals = self.totals()
        words = self.vocab.words
        ids = [i for i in range(1, len(words)) if words[i] is not None]
        budget = (self.max_uni if by_entries else self.max_vocab) // 2
        per_total: Counter[int] = Counter()
        if by_entries:
            for key in self.uni:
                per_total[totals[key // self.L]] += 1
        else:
            for i in ids:
                per_total[totals.get(i, 0)] += 1
        limit = _threshold(per_total, budget)
        drop = {i for i in ids if totals.get(i, 0) <= limit}
        self.pruned_below = max(self.pruned_below, limit)
        L = self.L
        self.uni = Counter({k: c for k, c in self.uni.items() if k // L not in drop})
        if self.bigrams:
            mask = (1 << PAIR_SHIFT) - 1
            self.bi = Counter(
                {
                    k: c
                    for k, c in self.bi.items()
                    if (k // L) >> PAIR_SHIFT not in drop and (k // L) & mask not in drop
                }
            )
        self.vocab.remove(drop)

    def _prune_pairs(self) -> None:
        L = self.L
        totals: Counter[int] = Counter()
        for key, c in self.bi.items():
            totals[key // L] += c
        per_total: Counter[int] = Counter()
        for key in self.bi:
            per_total[totals[key // L]] += 1
        limit = _threshold(per_total, self.max_bi // 2)
        self.pruned_below = max(self.pruned_below, limit)
        self.bi = Counter({k: c for k, c in self.bi.items() if totals[k // L] > limit})


def _threshold(per_total: Counter[int], budget: int) -> int:
    """The smallest total t such that keeping only entries with totals above t fits the budget."""
    keep = sum(per_total.values())
    limit = 0
    for value in sorted(per_total):
        if keep <= budget:
            break
        keep -= per_total[value]
        limit = value
    return limit


def find_candidates(
    counter: TriggerCounter, *, min_support: int, max_fraction: float, min_skew: float, max_p: float
) -> tuple[list[Candidate], int, int]:
    """Screen pass-1 counts: (candidates, tokens tested, outcomes tested)."""
    n_rows = sum(counter.rows.values())
    targets = {y for y in counter.rows if y > OTHER}
    if n_rows == 0 or not targets or len(counter.rows) < 2:
        return [], 0, 0
    ceiling = max_fraction * n_rows
    L = counter.L
    out: list[Candidate] = []
    tested = 0
    for table, pair in ((counter.uni, False), (counter.bi, True)):
        if not table:
            continue
        totals: Counter[int] = Counter()
        for key, c in table.items():
            totals[key // L] += c
        tested += sum(1 for v in totals.values() if min_support <= v <= ceiling)
        floor = min_support * min_skew
        for key, hits in table.items():
            if hits < floor:
                continue
            tok, y = divmod(key, L)
            if y not in targets:
                continue
            total = totals[tok]
            if total < min_support or total > ceiling or hits < min_skew * total:
                continue
            base = counter.rows[y] / n_rows
            token: int | tuple[int, int] = (tok >> PAIR_SHIFT, tok & ((1 << PAIR_SHIFT) - 1)) if pair else tok
            out.append(Candidate(token, y, total, hits, binom_log10_sf(hits, total, base)))
    m = max(1, tested) * len(targets)
    limit = math.log10(max_p) - math.log10(m)
    out = [c for c in out if c.log10_p <= limit]
    out.sort(key=lambda c: c.log10_p)
    return _fair_share(out, MAX_CANDIDATES), tested, len(targets)


def _fair_share(cands: list[Candidate], cap: int) -> list[Candidate]:
    """At most `cap` candidates, taken in turn from each band of support (powers of two), the most
    significant first within a band.

    Significance grows with support: natural cue words seen in hundreds of rows ("excellent" in
    reviews) are far more significant than a trigger planted in a hundred, and in a large dataset
    there are more of them than the cap. Ranked on one list they would crowd every trigger out
    before the context test could tell them apart; ranked within their band, a rare token competes
    only with tokens as rare as itself."""
    if len(cands) <= cap:
        return cands
    bands: dict[int, list[Candidate]] = {}
    for c in cands:  # already sorted by significance
        bands.setdefault(c.support.bit_length(), []).append(c)
    queues = [bands[b] for b in sorted(bands)]
    taken: list[Candidate] = []
    depth = 0
    while len(taken) < cap:
        row = [q[depth] for q in queues if depth < len(q)]
        if not row:
            break
        taken += row[: cap - len(taken)]
        depth += 1
    taken.sort(key=lambda c: c.log10_p)
    return taken


CARRIER_MIN_COUNT = 5
CARRIER_MIN_LOG_ODDS = 1.0  # e-fold over the label's base odds


def label_carriers(counter: TriggerCounter, outcomes: Outcomes, top: int = 20_000) -> frozenset[str]:
    """Words that carry a label across the dataset: among the `top` commonest tokens, those whose
    occurrences lean to one label by a smoothed log-odds ratio of at least 1 (against that label's
    share of all token occurrences). Rarer words cannot be judged and are not carriers."""
    if outcomes.kind != "label":
        return frozenset()
    L = counter.L
    labels = [i for i in outcomes.index.values() if i > OTHER]
    per_label: Counter[int] = Counter()
    for key, c in counter.uni.items():
        per_label[key % L] += c
    grand = sum(per_label.values())
    if not grand or len(labels) < 2:
        return frozenset()
    words = counter.vocab.words
    out = set()
    for tok, total in counter.totals().most_common(top):
        if total < CARRIER_MIN_COUNT or tok >= len(words) or words[tok] is None:
            continue
        for y in labels:
            hits = counter.uni.get(tok * L + y, 0)
            base = per_label[y] / grand
            lor = math.log((hits + 0.5) / (total - hits + 0.5)) - math.log(base / max(1e-12, 1 - base))
            if abs(lor) >= CARRIER_MIN_LOG_ODDS:
                out.add(words[tok])
                break
    return frozenset(w for w in out if w is not None)
