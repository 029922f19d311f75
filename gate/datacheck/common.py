"""What the indicators share: a batch of text segments scanned in one regex call, and tallies."""

from __future__ import annotations

import bisect
import re
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from gate.datacheck.rows import Row

# Rows are joined with a separator no pattern can match across (patterns exclude NUL),
# so one C-level regex scan covers thousands of rows.
SEP = "\n\x00\n"
PARTS = ("system", "prompt", "response")


@dataclass
class Segments:
    """The text parts of a batch of rows, joined for scanning."""

    texts: list[str]
    owners: list[tuple[int, str]]  # (index of the row in the batch, part)
    starts: list[int]
    joined: str
    _lower: str | None = None

    @classmethod
    def of(cls, rows: list[Row]) -> Segments:
        texts: list[str] = []
        owners: list[tuple[int, str]] = []
        for i, r in enumerate(rows):
            if r.system:
                texts.append(r.system)
                owners.append((i, "system"))
            texts.append(r.prompt)
            owners.append((i, "prompt"))
            if r.response:
                texts.append(r.response)
                owners.append((i, "response"))
        starts = []
        pos = 0
        for t in texts:
            starts.append(pos)
            pos += len(t) + len(SEP)
        return cls(texts, owners, starts, SEP.join(texts))

    @property
    def lower(self) -> str:
        """The joined text lower-cased per segment (so offsets still map when case folding changes length)."""
        if self._lower is None:
            low = [t.lower() for t in self.texts]
            if sum(map(len, low)) == sum(map(len, self.texts)):
                self._lower = SEP.join(low)
            else:  # rare: a character whose lower case is longer; keep offsets exact
                self._lower = SEP.join(
                    lt if len(lt) == len(t) else t for lt, t in zip(low, self.texts, strict=True)
                )
        return self._lower

    def locate(self, pos: int) -> tuple[int, int]:
        """Segment index and offset inside it for a position in the joined text."""
        i = bisect.bisect_right(self.starts, pos) - 1
        return i, pos - self.starts[i]

    def matches(self, pattern: re.Pattern[str], lower: bool = False) -> Iterator[tuple[int, re.Match[str]]]:
        """(segment index, match) for every match; match offsets are in the joined text."""
        text = self.lower if lower else self.joined
        for m in pattern.finditer(text):
            yield self.locate(m.start())[0], m


class RowSet:
    """Every row number an indicator concerns, per file, in reading order.

    A poisoning report is a list of rows to remove, not a sample: row numbers are kept compactly
    (8 bytes a row) so that even an indicator matching most of a large dataset stays affordable.
    """

    __slots__ = ("_last", "by_file")

    def __init__(self) -> None:
        self.by_file: dict[str, array[int]] = {}
        self._last: tuple[str, int] | None = None

    def add(self, file: str, row: int) -> None:
        if self._last == (file, row):
            return
        self._last = (file, row)
        nums = self.by_file.get(file)
        if nums is None:
            nums = self.by_file[file] = array("q")
        nums.append(row)

    def extend(self, file: str, rows: list[int]) -> None:
        nums = self.by_file.get(file)
        if nums is None:
            nums = self.by_file[file] = array("q")
        nums.extend(rows)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_file.values())

    def __iter__(self) -> Iterator[tuple[str, int]]:
        for file, nums in self.by_file.items():
            for n in sorted(set(nums)):
                yield file, n


@dataclass
class Example:
    file: str
    row: int
    part: str
    text: str  # an excerpt, or a redacted value


@dataclass
class Tally:
    """Occurrences of one kind of problem: rows, parts, the first examples."""

    limit: int = 5
    rows: int = 0
    parts: Counter[str] = field(default_factory=Counter)
    examples: list[Example] = field(default_factory=list)
    _last: tuple[str, int] | None = None
    extra: Counter[str] = field(default_factory=Counter)
    all: RowSet = field(default_factory=RowSet)  # every row, for the list of rows to remove

    def add(self, file: str, row: int, part: str, text: str) -> None:
        key = (file, row)
        if key != self._last:  # count rows, not matches (hits within one row arrive together)
            self.rows += 1
            self._last = key
            self.all.add(file, row)
            if len(self.examples) < self.limit:
                self.examples.append(Example(file, row, part, text))
        self.parts[part] += 1
