"""Token ids for a batch of texts, tokenised in one C-level call per batch.

Per-row Python work is what makes a million rows slow, so a batch of texts is
lower-cased, joined with a sentinel token, translated and split once; tokens
become small integer ids (`Vocab`) that the counters and the MinHash index
use. numpy (the `data` extra) vectorises the per-token work; without it the
same ids, counts and signatures are computed in pure Python, only slower.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_
from typing import Any

from gate.datacheck.text import STOPWORDS, TOKEN_TABLE

try:
    import numpy as np

    HAVE_NUMPY = True
except ImportError:  # pragma: no cover - depends on the installation
    np = None  # type: ignore[assignment]
    HAVE_NUMPY = False

UNKNOWN = -1  # a word not in the vocabulary, when encoding without adding words
SENTINEL = "\x00"  # never a token: NULs in texts are replaced before joining
JOIN = " \x00 "
K = 32  # MinHash values per token / signature
EMPTY = 0xFFFF  # the MinHash value of stop words and the sentinel: never the minimum of a real word
_UNPACK = struct.Struct(f"<{K}H").unpack


def minhash_values(word: str) -> tuple[int, ...]:
    """K 16-bit hash values of a word (blake2b, so the same in every process and run)."""
    return _UNPACK(hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=2 * K).digest())


class Vocab:
    """token <-> id, with a free list so pruned ids are reused and memory stays bounded.

    Each id also has its K MinHash values: a row of a numpy uint16 table (64 bytes a word), or
    a tuple without numpy.
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {SENTINEL: 0}
        self.words: list[str | None] = [SENTINEL]
        self.free: list[int] = []
        self.rows: list[tuple[int, ...]] = []  # without numpy
        self.table: Any = None  # with numpy: (capacity, K) uint16
        self.stop_ids: set[int] = set()
        self._stop: Any = None  # numpy bool per id, True for stop words
        if HAVE_NUMPY:
            self.table = np.full((1024, K), EMPTY, dtype=np.uint16)
        else:
            self.rows.append((EMPTY,) * K)

    def __len__(self) -> int:
        return len(self.ids)

    def _add(self, word: str) -> int:
        stop = word in STOPWORDS
        values = (EMPTY,) * K if stop else minhash_values(word)
        if self.free:
            i = self.free.pop()
            self.words[i] = word
        else:
            i = len(self.words)
            self.words.append(word)
        if stop:
            self.stop_ids.add(i)
            if self._stop is not None and i < len(self._stop):
                self._stop[i] = True
        elif self._stop is not None and i < len(self._stop):
            self._stop[i] = False
        if HAVE_NUMPY:
            if i >= len(self.table):
                grown = np.full((len(self.table) * 2, K), EMPTY, dtype=np.uint16)
                grown[: len(self.table)] = self.table
                self.table = grown
            self.table[i] = values
        elif i < len(self.rows):
            self.rows[i] = values
        else:
            self.rows.append(values)
        self.ids[word] = i
        return i

    def encode(self, flat: list[str], grow: bool = True) -> list[int]:
        out: list[int | None] = list(map(self.ids.get, flat))
        if None in out and not grow:
            return [UNKNOWN if v is None else v for v in out]
        if None in out:
            for w in set(compress(flat, map(is_, out, repeat(None)))):
                self._add(w)
            return list(map(self.ids.__getitem__, flat))
        return out  # type: ignore[return-value]

    def stop_mask(self, arr: Any) -> Any:
        """numpy: True where an id (of the encoded batch) is a stop word."""
        if self._stop is None or len(self._stop) < len(self.words):
            self._stop = np.zeros(max(1024, 2 * len(self.words)), dtype=bool)
            if self.stop_ids:
                self._stop[list(self.stop_ids)] = True
        return self._stop[arr]

    def remove(self, drop: set[int]) -> None:
        for i in drop:
            w = self.words[i]
            if w is None or i == 0:
                continue
            self.stop_ids.discard(i)
            del self.ids[w]
            self.words[i] = None
            self.free.append(i)


def _clean(texts: Sequence[str]) -> list[str]:
    return [t.replace(SENTINEL, " ") if SENTINEL in t else t for t in texts]


@dataclass
class Encoded:
    """One batch of texts as token ids: `flat` with 0 between texts, and each text's [start, end)."""

    flat: list[int]
    starts: list[int]
    ends: list[int]
    arr: Any = None  # numpy int64 array of flat, when numpy is there

    def tokens_of(self, i: int) -> list[int]:
        return self.flat[self.starts[i] : self.ends[i]]


def tokenize(texts: Sequence[str]) -> list[str]:
    """The tokens of a batch of texts, one flat list with the sentinel between texts."""
    joined = JOIN.join(texts)
    if joined.count(SENTINEL) != max(0, len(texts) - 1):
        joined = JOIN.join(_clean(texts))
    return joined.lower().translate(TOKEN_TABLE).split()


def encode(vocab: Vocab, texts: Sequence[str], grow: bool = True) -> Encoded:
    return encode_tokens(vocab, tokenize(texts), grow)


def encode_tokens(vocab: Vocab, words: list[str], grow: bool = True) -> Encoded:
    """`tokenize`'s output as ids (the words of a batch, from text or from a shard's state)."""
    flat = vocab.encode(words, grow)
    if HAVE_NUMPY:
        arr = np.array(flat, dtype=np.int64)
        cuts = np.flatnonzero(arr == 0)
        starts = np.concatenate(([0], cuts + 1)).tolist()
        ends = np.concatenate((cuts, [len(flat)])).tolist()
        return Encoded(flat, starts, ends, arr)
    starts, ends = [0], []
    for i, v in enumerate(flat):
        if v == 0:
            ends.append(i)
            starts.append(i + 1)
    ends.append(len(flat))
    return Encoded(flat, starts, ends)


Signature = tuple[bytes, tuple[bytes, ...]]  # (K little-endian uint16 values, one key per band)
BANDS = 5  # 5 bands of 5 values (the first 25); all K values decide similarity
BAND_ROWS = 5
_BAND_BYTES = 2 * BAND_ROWS


def _band_keys(raw: bytes) -> tuple[bytes, ...]:
    return (raw[0:10], raw[10:20], raw[20:30], raw[30:40], raw[40:50])  # BANDS x _BAND_BYTES


assert BANDS * _BAND_BYTES == 50


def signatures(vocab: Vocab, *encs: Encoded) -> list[Signature | None]:
    """The MinHash signature of each text over the union of its words in every encoding given
    (e.g. prompt and response); None when the text has no word outside the stop words."""
    n = len(encs[0].starts)
    if HAVE_NUMPY:
        mins = np.full((n, K), EMPTY, dtype=np.uint16)
        for enc in encs:
            if not enc.flat:
                continue
            m = np.minimum.reduceat(vocab.table[enc.arr], enc.starts, axis=0)
            # reduceat gives an empty segment the value at its start: mark empty texts explicitly.
            m[np.asarray(enc.ends) <= np.asarray(enc.starts)] = EMPTY
            np.minimum(mins, m, out=mins)
        empty = (mins == EMPTY).all(axis=1).tolist()
        raw = mins.tobytes()
        w = 2 * K
        out_np: list[Signature | None] = []
        for i in range(n):
            if empty[i]:
                out_np.append(None)
            else:
                values = raw[i * w : (i + 1) * w]
                out_np.append((values, _band_keys(values)))
        return out_np
    out: list[Signature | None] = []
    rows = vocab.rows
    for i in range(n):
        sig: tuple[int, ...] | None = None
        for enc in encs:
            ids = enc.flat[enc.starts[i] : enc.ends[i]]
            if not ids:
                continue
            part = tuple(map(min, zip(*(rows[j] for j in ids), strict=True)))
            sig = part if sig is None else tuple(map(min, sig, part))
        if sig is None or min(sig) == EMPTY:
            out.append(None)
        else:
            values = struct.pack(f"<{K}H", *sig)
            out.append((values, _band_keys(values)))
    return out
