"""Near-duplicate flooding and label conflicts, with MinHash and banded LSH.

Each row's word set (stop words removed; for generative data prompt and
response together) has a 32-value MinHash signature (`vocab.signatures`);
4 bands of 4 values index it, so rows whose word sets overlap by Jaccard
0.8 collide in at least one band with probability ~0.88 (0.97 at 0.9) and
rows sharing a third of their words rarely (~3%). A colliding row is compared with the cluster's
first row (the share of equal signature values estimates the Jaccard
similarity) and joins the cluster, which counts its rows and labels.

Memory is bounded by `max_tracked_clusters`: when the table is full, the
clusters with the fewest rows (singletons first) are forgotten. A flood
grows quickly and is never forgotten; two near-copies further apart than
the table's reach can be missed, which the result reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import eq

from gate.datacheck.vocab import BANDS, K, Signature


@dataclass(slots=True)
class Cluster:
    sig: bytes
    keys: tuple[int, ...]
    file: str
    first: int  # row number of the first member
    text: str  # excerpt of the first member
    count: int = 1
    rows: list[tuple[str, int]] = field(default_factory=list)  # first members (file, row)
    labels: dict[str, tuple[int, tuple[str, int]]] | None = None  # label -> (rows, first row)


@dataclass
class DuplicateResult:
    rows: int
    clusters: list[Cluster]  # clusters with more than one row, largest first
    evicted: int  # clusters forgotten to bound memory
    tracked_max: int


class NearDuplicateIndex:
    def __init__(self, similarity: float, max_clusters: int, examples: int = 5) -> None:
        self.need = max(1, round(similarity * K))
        self.max_clusters = max_clusters
        self.examples = examples
        self.index: list[dict[int, Cluster]] = [{} for _ in range(BANDS)]
        self.clusters: list[Cluster] = []
        self.evicted = 0
        self.rows = 0

    def add(self, file: str, n: int, sig: Signature | None, label: str | None, text: str) -> None:
        self.rows += 1
        if sig is None:
            return
        values, keys = sig
        index = self.index
        mine = memoryview(values).cast("H")
        for b, key in enumerate(keys):
            c = index[b].get(key)
            if c is None:
                continue
            if c.sig == values or sum(map(eq, mine, memoryview(c.sig).cast("H"))) >= self.need:
                c.count += 1
                if len(c.rows) < self.examples:
                    c.rows.append((file, n))
                if c.labels is not None and label is not None:
                    slot = c.labels.get(label)
                    c.labels[label] = (1, (file, n)) if slot is None else (slot[0] + 1, slot[1])
                return
        c = Cluster(values, keys, file, n, " ".join(text[:300].split())[:160], rows=[(file, n)])
        if label is not None:
            c.labels = {label: (1, (file, n))}
        self.clusters.append(c)
        for b, key in enumerate(keys):
            index[b].setdefault(key, c)
        if len(self.clusters) > self.max_clusters:
            self._evict()

    def _evict(self) -> None:
        """Forget the smallest clusters until the table is at most half full."""
        target = self.max_clusters // 2
        limit = 1
        keep = self.clusters
        while len(keep) > target:
            keep = [c for c in keep if c.count > limit]
            limit *= 2
        self.evicted += len(self.clusters) - len(keep)
        alive = {id(c) for c in keep}
        self.index = [{k: c for k, c in band.items() if id(c) in alive} for band in self.index]
        self.clusters = keep

    def result(self) -> DuplicateResult:
        multi = sorted((c for c in self.clusters if c.count > 1), key=lambda c: (-c.count, c.first))
        return DuplicateResult(self.rows, multi, self.evicted, self.max_clusters)
