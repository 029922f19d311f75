"""Near-duplicate flooding and label conflicts, with MinHash and banded LSH.

Each row's word set (stop words removed) gets a 16-value MinHash signature;
4 bands of 4 values index it, so rows whose word sets overlap by Jaccard
0.8 collide in at least one band with probability ~0.9 and unrelated rows
almost never. Each colliding row is checked against the cluster's first
row (signature agreement estimates the Jaccard similarity) and joins the
cluster, which counts its rows and labels.

Memory is bounded by `max_tracked_clusters`: when the table is full, the
clusters with the fewest rows (singletons first) are forgotten. A flood
grows quickly and is never forgotten; two near-copies further apart than
the table's reach can be missed, which the result reports.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from gate.datacheck.text import STOPWORDS

K = 16
BANDS = 4
ROWS_PER_BAND = K // BANDS
_UNPACK = struct.Struct(f"<{K}I").unpack
TOKEN_CACHE_MAX = 400_000


@dataclass(slots=True)
class Cluster:
    sig: tuple[int, ...]
    keys: tuple[int, ...]
    file: str
    first: int  # row number of the first member
    text: str  # excerpt of the first member
    count: int = 1
    rows: list[tuple[str, int]] = field(default_factory=list)  # first members (file, row)
    labels: dict[str, list[object]] | None = None  # label -> [count, (file, row) of its first row]


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
        self.index: dict[int, Cluster] = {}
        self.clusters: list[Cluster] = []
        self.cache: dict[str, tuple[int, ...]] = {}
        self.evicted = 0
        self.rows = 0

    def _hashes(self, words: set[str]) -> list[tuple[int, ...]]:
        cache = self.cache
        missing = words.difference(cache.keys())
        if missing:
            if len(cache) + len(missing) > TOKEN_CACHE_MAX:
                cache.clear()
                missing = words
            for w in missing:
                cache[w] = _UNPACK(hashlib.blake2b(w.encode("utf-8", "surrogatepass"), digest_size=4 * K).digest())
        return list(map(cache.__getitem__, words))

    def add(self, file: str, n: int, toks: list[str], label: str | None, text: str) -> None:
        self.rows += 1
        words = set(toks)
        content = words - STOPWORDS
        if content:
            words = content
        if not words:
            return
        sig = tuple(map(min, zip(*self._hashes(words), strict=True)))
        keys = tuple(
            hash(sig[b * ROWS_PER_BAND : (b + 1) * ROWS_PER_BAND]) * BANDS + b for b in range(BANDS)
        )
        index = self.index
        for key in keys:
            c = index.get(key)
            if c is None:
                continue
            if c.sig is sig or sum(a == b for a, b in zip(sig, c.sig, strict=True)) >= self.need:
                c.count += 1
                if len(c.rows) < self.examples:
                    c.rows.append((file, n))
                if c.labels is not None and label is not None:
                    slot = c.labels.get(label)
                    if slot is None:
                        c.labels[label] = [1, (file, n)]
                    else:
                        slot[0] = int(slot[0]) + 1  # type: ignore[call-overload]
                return
        c = Cluster(sig, keys, file, n, text[:160], rows=[(file, n)])
        if label is not None:
            c.labels = {label: [1, (file, n)]}
        self.clusters.append(c)
        for key in keys:
            index.setdefault(key, c)
        if len(self.clusters) > self.max_clusters:
            self._evict()

    def _evict(self) -> None:
        """Forget the smallest clusters until the table is half full."""
        target = self.max_clusters // 2
        limit = 1
        keep = self.clusters
        while len(keep) > target:
            keep = [c for c in keep if c.count > limit]
            limit *= 2
        dropped = len(self.clusters) - len(keep)
        self.evicted += dropped
        alive = {id(c) for c in keep}
        self.index = {k: c for k, c in self.index.items() if id(c) in alive}
        self.clusters = keep

    def result(self) -> DuplicateResult:
        multi = sorted((c for c in self.clusters if c.count > 1), key=lambda c: (-c.count, c.first))
        return DuplicateResult(self.rows, multi, self.evicted, self.max_clusters)
