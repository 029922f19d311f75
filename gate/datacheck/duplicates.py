"""Near-duplicate flooding and label conflicts, with MinHash and banded LSH.

Each row's word set (stop words removed; for generative data prompt and
response together) has a 32-value MinHash signature (`vocab.signatures`);
5 bands of 5 values index it, so rows whose word sets overlap by Jaccard
0.8 collide in at least one band with probability ~0.86 (0.98 at 0.9) and
rows sharing a third of their words rarely (~1%). A colliding row is
compared with the first row of the set (the share of equal signature values
estimates the Jaccard similarity) and joins it; the set counts its rows and
labels.

Most rows have no near-copy, so a row is first kept as a light "single"
(its signature, row number, label and text) and becomes a `Cluster` only
when a second row joins it. Memory is bounded by `max_tracked_clusters`:
when full, the oldest singles are forgotten first, then the smallest
clusters. A flood grows quickly and is never forgotten; two near-copies
further apart than the table's reach can be missed, which the result reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import eq

from gate.datacheck.common import RowSet
from gate.datacheck.text import tokens
from gate.datacheck.vocab import BANDS, K, Signature


@dataclass(slots=True)
class Cluster:
    sig: bytes
    file: str
    first: int  # row number of the first member
    text: str  # excerpt of the first member
    count: int = 1
    rows: list[tuple[str, int]] = field(default_factory=list)  # first members (file, row)
    labels: dict[str, tuple[int, tuple[str, int]]] | None = None  # label -> (rows, first row)
    members: dict[str | None, RowSet] = field(default_factory=dict)  # every row, by label
    label_texts: dict[str, str] = field(default_factory=dict)  # label -> text of its first row
    # normalised text -> (label, file, row) of its first row; rows of another label with the same text
    same: dict[int, tuple[str, str, int]] = field(default_factory=dict)
    conflict_rows: RowSet = field(default_factory=RowSet)

    def check_same(self, file: str, n: int, label: str, text: str) -> None:
        """Record rows identical after normalisation to an earlier member with another label."""
        h = hash(" ".join(tokens(text[:CONFLICT_CHARS])))
        first = self.same.get(h)
        if first is None:
            if len(self.same) < MAX_SAME:
                self.same[h] = (label, file, n)
        elif first[0] != label:
            self.conflict_rows.add(first[1], first[2])
            self.conflict_rows.add(file, n)

    def join(self, file: str, n: int, label: str | None) -> None:
        rs = self.members.get(label)
        if rs is None:
            rs = self.members[label] = RowSet()
        rs.add(file, n)


# A single: (signature, file, row number, label, text or, when replayed from a shard's state, the
# row's byte offset to fetch the text from), keyed by an increasing serial number.
Single = tuple[bytes, str, int, str | None, "str | int | None"]
# Reads one row's prompt again: (file, row number, byte offset or None) -> text.
Fetch = Callable[[str, int, "int | None"], str]


CONFLICT_CHARS = 4000
MAX_SAME = 100_000  # normalised texts remembered per set of near-copies
CONFLICT_MAX_DIFF = 3  # differing tokens (both sides together) two rows may have and still say the same
CONFLICT_MAX_DIFF_SHARE = 0.15


def differing_tokens(a: str, b: str) -> list[str]:
    """Tokens of one text missing from the other (counted with multiplicity), after normalisation."""
    ca, cb = Counter(tokens(a)), Counter(tokens(b))
    return sorted(((ca - cb) + (cb - ca)).elements())


def says_the_same(a: str, b: str, carriers: frozenset[str]) -> bool:
    """Do two near-duplicate texts say the same thing, so that different labels on them conflict?

    Identical after normalisation (case, punctuation, hidden characters, look-alike letters), or
    differing in at most `CONFLICT_MAX_DIFF` tokens (and at most 15% of the longer text) none of which
    carries a label across the dataset. Templated rows that share an opening and a closing but differ
    in the words that carry the sentiment ("was friendly and fast" / "keeps getting worse") are not.
    """
    diff = differing_tokens(a, b)
    if not diff:
        return True
    longest = max(len(tokens(a)), len(tokens(b)), 1)
    if len(diff) > CONFLICT_MAX_DIFF or len(diff) > CONFLICT_MAX_DIFF_SHARE * longest:
        return False
    return not (set(diff) & carriers)


def real_conflict(c: Cluster, carriers: frozenset[str]) -> bool:
    """A set of near-copies whose labels disagree on rows that say the same thing."""
    if not c.labels or len(c.labels) < 2:
        return False
    if len(c.conflict_rows):
        return True
    texts = list(c.label_texts.values())
    return any(says_the_same(x, y, carriers) for i, x in enumerate(texts) for y in texts[i + 1 :])


@dataclass
class DuplicateResult:
    rows: int
    clusters: list[Cluster]  # clusters with more than one row, largest first
    evicted: int  # rows or clusters forgotten to bound memory
    tracked_max: int


class NearDuplicateIndex:
    def __init__(self, similarity: float, max_clusters: int, examples: int = 5) -> None:
        self.need = max(1, round(similarity * K))
        self.max_clusters = max_clusters
        self.examples = examples
        self.index: list[dict[bytes, int]] = [{} for _ in range(BANDS)]  # band key -> serial
        self.singles: dict[int, Single] = {}
        self.promoted: dict[int, Cluster] = {}  # serial of a former single -> its cluster
        self.clusters: list[Cluster] = []
        self.serial = 0
        self.evicted = 0
        self.rows = 0
        self.fetch: Fetch | None = None  # for rows added without their text (a merge of shards)

    def _text(self, file: str, n: int, text: str | int | None) -> str:
        if isinstance(text, str):
            return text
        assert self.fetch is not None, "rows added without text need a fetch function"
        return self.fetch(file, n, text)

    def add(
        self,
        file: str,
        n: int,
        sig: Signature | None,
        label: str | None,
        text: str | None,
        offset: int | None = None,
    ) -> None:
        """One row, in reading order. `text` None: the text is fetched (by `offset`) only if needed."""
        self.rows += 1
        if sig is None:
            return
        values, keys = sig
        index, singles, promoted, need = self.index, self.singles, self.promoted, self.need
        mine: memoryview | None = None
        for b, key in enumerate(keys):
            serial = index[b].get(key)
            if serial is None:
                continue
            single = singles.get(serial)
            other = single[0] if single is not None else None
            c = promoted.get(serial) if single is None else None
            if c is not None:
                other = c.sig
            if other is None:
                continue
            if other != values:
                if mine is None:
                    mine = memoryview(values).cast("H")
                if sum(map(eq, mine, memoryview(other).cast("H"))) < need:
                    continue
            if c is None:
                assert single is not None
                c = self._promote(serial, single)
            c.count += 1
            c.join(file, n, label)
            if len(c.rows) < self.examples:
                c.rows.append((file, n))
            if c.labels is not None and label is not None:
                body = self._text(file, n, text if text is not None else offset)
                c.check_same(file, n, label, body)
                slot = c.labels.get(label)
                if slot is None:
                    c.label_texts[label] = body[:CONFLICT_CHARS]
                c.labels[label] = (1, (file, n)) if slot is None else (slot[0] + 1, slot[1])
            return
        serial = self.serial = self.serial + 1
        singles[serial] = (values, file, n, label, text if text is not None else offset)
        for b, key in enumerate(keys):
            index[b].setdefault(key, serial)
        if len(singles) + len(self.clusters) > self.max_clusters:
            self._evict()

    def _promote(self, serial: int, single: Single) -> Cluster:
        values, file, n, label, stored = single
        text = self._text(file, n, stored)
        c = Cluster(values, file, n, " ".join(text[:300].split())[:160], rows=[(file, n)])
        c.join(file, n, label)
        if label is not None:
            c.labels = {label: (1, (file, n))}
            c.label_texts[label] = text[:CONFLICT_CHARS]
            c.check_same(file, n, label, text)
        del self.singles[serial]
        self.promoted[serial] = c
        self.clusters.append(c)
        return c

    def _evict(self) -> None:
        """Forget the oldest half of the singles; if clusters alone fill the table, the smallest."""
        target = self.max_clusters // 2
        if self.singles:
            cut = sorted(self.singles)[len(self.singles) // 2]
            dropped = [s for s in self.singles if s <= cut]
            for s in dropped:
                del self.singles[s]
            self.evicted += len(dropped)
        if len(self.clusters) > target:
            limit = 1
            keep = self.clusters
            while len(keep) > target:
                keep = [c for c in keep if c.count > limit]
                limit *= 2
            self.evicted += len(self.clusters) - len(keep)
            self.clusters = keep
            alive = {id(c) for c in keep}
            self.promoted = {s: c for s, c in self.promoted.items() if id(c) in alive}
        live = self.singles.keys() | self.promoted.keys()
        self.index = [{k: v for k, v in band.items() if v in live} for band in self.index]

    def result(self) -> DuplicateResult:
        multi = sorted((c for c in self.clusters if c.count > 1), key=lambda c: (-c.count, c.first))
        return DuplicateResult(self.rows, multi, self.evicted, self.max_clusters)
