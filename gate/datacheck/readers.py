"""Streaming readers: JSONL, CSV and Parquet files into batches of `Row`.

Memory is bounded by the batch size and `max_row_bytes`, never by the file:
a line or field longer than the limit is a malformed row, not a reason to
read gigabytes into memory. A row that cannot be parsed or normalised is
recorded (row number + one-line reason) and skipped; a file that cannot be
read at all raises `DatasetUnreadable`.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.datacheck.rows import FieldMap, Row, RowError, normalise
from gate.extras import needs

BATCH = 2048
FORMATS = ("jsonl", "csv", "parquet")
SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Give up on a file whose first rows are all unreadable: it is in the wrong format or encoding.
GIVE_UP_AFTER = 1000

try:  # orjson is an optional accelerator (the `data` extra); stdlib json decides every disagreement.
    import orjson

    _fast_loads: Callable[[str], Any] | None = orjson.loads
    _FastError: type[Exception] = orjson.JSONDecodeError
except ImportError:  # pragma: no cover - depends on the installation
    _fast_loads = None
    _FastError = ValueError


class DatasetUnreadable(Exception):
    """The file cannot be read as a dataset at all (wrong format, encoding, truncated)."""

    def __init__(self, reason: str, row: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.row = row


@dataclass
class BadRows:
    """Malformed rows: how many, and the first few with their reasons."""

    limit: int = 5
    count: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)

    def add(self, n: int, reason: str) -> None:
        self.count += 1
        if len(self.examples) < self.limit:
            self.examples.append((n, reason[:200]))


def detect_format(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DatasetUnreadable(
            f"cannot tell the format from the name '{path.name}'; set `format` (jsonl, csv or parquet) "
            "for this dataset in release.yaml"
        )
    return fmt


# A byte range [start, stop) of a file: the rows whose first byte lies in it (stop None: to the end).
# Parquet rows have no byte position of their own: row i of N in a file of S bytes stands at i * S / N.
Span = tuple[int, int | None]


def read_batches(
    path: Path,
    fmt: str,
    fields: FieldMap,
    bad: BadRows,
    *,
    max_row_bytes: int = 1 << 20,
    batch: int = BATCH,
    span: Span | None = None,
) -> Iterator[list[Row]]:
    """Yield lists of rows (of `span` only, when given); malformed rows go to `bad`."""
    if fmt == "jsonl":
        yield from _jsonl(path, fields, bad, max_row_bytes, batch, span)
    elif fmt == "csv":
        yield from _csv(path, fields, bad, max_row_bytes, batch, span)
    elif fmt == "parquet":
        yield from _parquet(path, fields, bad, batch, span)
    else:  # pragma: no cover - the manifest model restricts formats
        raise DatasetUnreadable(f"unsupported format '{fmt}'")


def _in_span(offset: int, span: Span | None) -> int:
    """-1 before the span, 0 inside, 1 after it."""
    if span is None:
        return 0
    if offset < span[0]:
        return -1
    return 1 if span[1] is not None and offset >= span[1] else 0


def _jsonl_lines(fh: Any, max_row: int, span: Span | None) -> Iterator[tuple[int, int, bytes | None]]:
    """(line number, byte offset, line) for every line of a JSONL file that starts in `span`; the line
    is None when it is longer than `max_row` (skipped in bounded chunks, never held whole).

    The one definition of a JSONL row's number and offset: the reader and the sidecar's offsets use it.
    """
    pos = fh.tell()
    n = 0
    if span is not None and span[0] > pos:
        # Lines are numbered from the file's start: count the newlines before the span (C speed),
        # then start at the first line that begins inside it.
        while pos < span[0] - 1:
            chunk = fh.read(min(1 << 20, span[0] - 1 - pos))
            if not chunk:
                return
            n += chunk.count(b"\n")
            pos += len(chunk)
        while True:  # pos == span[0] - 1: the line that byte belongs to ends at or after it
            raw = fh.readline(max_row + 1)
            if not raw:
                return
            pos += len(raw)
            if raw.endswith(b"\n"):
                n += 1
                break
    while True:
        raw = fh.readline(max_row + 1)
        if not raw:
            return
        n += 1
        start = pos
        pos += len(raw)
        if _in_span(start, span) > 0:
            return
        if len(raw) > max_row and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line, bounded chunks
                raw = fh.readline(max_row + 1)
                pos += len(raw)
            yield n, start, None
            continue
        yield n, start, raw


def _check_encoding(head: bytes) -> int:
    """Refuse UTF-16/32 files with a clear reason; return the length of a UTF-8 BOM to skip."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise DatasetUnreadable("file is UTF-32 encoded; expected UTF-8", row=1)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DatasetUnreadable("file is UTF-16 encoded; expected UTF-8", row=1)
    if len(head) >= 4 and head[1:4:2] == b"\x00\x00" and head[0] and head[2]:
        raise DatasetUnreadable("file looks UTF-16-LE encoded (no BOM); expected UTF-8", row=1)
    return len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0


def _decode_error(exc: UnicodeDecodeError) -> str:
    return f"invalid UTF-8 at byte {exc.start} of the row (wrong encoding?)"


def _loads(text: str) -> Any:
    if _fast_loads is not None:
        try:
            return _fast_loads(text)
        except _FastError:
            pass  # stdlib json decides (it accepts NaN and big integers; it gives the better message)
    return json.loads(text)


def _give_up(bad: BadRows, good: int, whole: bool = True) -> None:
    if whole and good == 0 and bad.count >= GIVE_UP_AFTER:
        first = bad.examples[0] if bad.examples else (0, "?")
        raise DatasetUnreadable(
            f"none of the first {bad.count} rows could be read (row {first[0]}: {first[1]})", row=first[0]
        )


def _jsonl(
    path: Path, fields: FieldMap, bad: BadRows, max_row: int, batch: int, span: Span | None = None
) -> Iterator[list[Row]]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally; a generator cannot use `with` across yields cleanly
    except OSError as exc:
        raise DatasetUnreadable(f"cannot open: {exc.strerror or exc}") from None
    try:
        fh.seek(_check_encoding(fh.read(4)))
        out: list[Row] = []
        good = 0
        # A span that starts after the file's first row never gives up: the start is judged by its own span.
        whole = span is None or span[0] <= fh.tell()
        for n, offset, line in _jsonl_lines(fh, max_row, span):
            if line is None:
                bad.add(n, f"row longer than {max_row} bytes")
                continue
            raw = line
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad.add(n, _decode_error(exc))
                _give_up(bad, good, whole)
                continue
            try:
                obj = _loads(text)
            except RecursionError:
                bad.add(n, "JSON nested too deeply")
                _give_up(bad, good, whole)
                continue
            except ValueError as exc:
                if n == 1 and text.lstrip().startswith("["):
                    raise DatasetUnreadable(
                        "file is a JSON array, not JSON Lines (one object per line)", row=1
                    ) from None
                truncated = not raw.endswith(b"\n")
                why = f"invalid JSON ({_first_line(exc)})"
                bad.add(n, ("truncated row at end of file: " if truncated else "") + why)
                _give_up(bad, good, whole)
                continue
            first_is_array = isinstance(obj, list) and obj and isinstance(obj[0], dict)
            if whole and good == 0 and not bad.count and first_is_array:
                raise DatasetUnreadable("file is a JSON array, not JSON Lines (one object per line)", row=n)
            try:
                out.append(normalise(obj, n, fields, offset))
            except RowError as exc:
                bad.add(n, str(exc))
                _give_up(bad, good, whole)
                continue
            good += 1
            if len(out) >= batch:
                yield out
                out = []
        if out:
            yield out
    except OSError as exc:
        raise DatasetUnreadable(f"read failed: {exc.strerror or exc}") from None
    finally:
        fh.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def _counted(text: Iterator[str], at: list[int]) -> Iterator[str]:
    """The lines csv.reader reads, in its own splitting (newline="" keeps \\r\\n, \\r and \\n as
    written), with `at[0]` the byte offset where the next line starts: surrogateescape decoding
    round-trips every byte, so a line's length in bytes is its re-encoded length."""
    for line in text:
        at[0] += len(line) if line.isascii() else len(line.encode("utf-8", "surrogateescape"))
        yield line


def csv_lines(path: Path) -> Iterator[tuple[int, int]]:
    """(line number, byte offset) of every line of a CSV file as its reader splits lines."""
    with open(path, "rb") as raw:
        at = [_check_encoding(raw.read(4))]
        raw.seek(at[0])
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        start = at[0]
        for n, _ in enumerate(_counted(text, at), 1):
            yield n, start
            start = at[0]


def _csv(
    path: Path, fields: FieldMap, bad: BadRows, max_row: int, batch: int, span: Span | None = None
) -> Iterator[list[Row]]:
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed in finally
    except OSError as exc:
        raise DatasetUnreadable(f"cannot open: {exc.strerror or exc}") from None
    old_limit = csv.field_size_limit()
    try:
        at = [_check_encoding(raw.read(4))]
        raw.seek(at[0])
        # surrogateescape: a bad byte marks its row malformed instead of ending the file.
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        csv.field_size_limit(max_row)
        # Quoted fields may hold newlines: records are found by parsing from the start, whatever the span.
        reader = csv.reader(_counted(text, at), strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise DatasetUnreadable("empty CSV file (no header row)", row=1) from None
        except csv.Error as exc:
            raise DatasetUnreadable(f"unreadable CSV header: {_first_line(exc)}", row=1) from None
        names = [h.strip().lstrip("\ufeff") for h in header]
        if any(_has_surrogates(h) for h in names):
            raise DatasetUnreadable("CSV header is not valid UTF-8 (wrong encoding?)", row=1)
        known = set(fields.columns())
        if not known.intersection(names):
            raise DatasetUnreadable(
                "CSV header has no known column (expected one of: "
                + ", ".join((*fields.prompt, *fields.text, *fields.messages))
                + f"; found: {', '.join(n[:40] for n in names[:10])})",
                row=1,
            )
        msg_cols = set(fields.messages)
        out: list[Row] = []
        good = 0
        errors_in_a_row = 0
        start = reader.line_num + 1
        whole = span is None or span[0] <= at[0]
        while True:
            offset = at[0]  # csv.reader reads no further than the record it returns
            where = _in_span(offset, span)
            if where > 0:
                break
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if where < 0:
                    start = reader.line_num + 1
                    continue
                bad.add(start, f"malformed CSV ({_first_line(exc)})")
                errors_in_a_row += 1
                if errors_in_a_row > GIVE_UP_AFTER:
                    raise DatasetUnreadable(
                        f"more than {GIVE_UP_AFTER} malformed CSV records in a row", row=start
                    ) from None
                _give_up(bad, good, whole)
                start = reader.line_num + 1
                continue
            errors_in_a_row = 0
            n = start
            start = reader.line_num + 1
            if where < 0:
                continue
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if len(record) != len(names):
                bad.add(n, f"row has {len(record)} fields, the header has {len(names)}")
                _give_up(bad, good, whole)
                continue
            if any(_has_surrogates(v) for v in record):
                bad.add(n, "invalid UTF-8 in the row (wrong encoding?)")
                _give_up(bad, good, whole)
                continue
            try:
                out.append(normalise(_csv_object(names, record, msg_cols), n, fields, offset))
            except (RowError, ValueError, RecursionError) as exc:
                bad.add(
                    n, str(exc) if isinstance(exc, RowError) else f"invalid JSON in messages column ({exc})"
                )
                _give_up(bad, good, whole)
                continue
            good += 1
            if len(out) >= batch:
                yield out
                out = []
        if out:
            yield out
    except OSError as exc:
        raise DatasetUnreadable(f"read failed: {exc.strerror or exc}") from None
    finally:
        csv.field_size_limit(old_limit)
        raw.close()


def _has_surrogates(value: str) -> bool:
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parquet_rows(size: int, rows: int, span: Span | None) -> tuple[int, int]:
    """0-based [first, last) rows of a Parquet file of `size` bytes and `rows` rows that fall in
    `span`: row i stands at byte i * size / rows, so the spans of a split cover every row once."""
    if span is None or rows == 0 or size == 0:
        return 0, rows
    lo, hi = span
    first = min(rows, -(-lo * rows // size))
    last = rows if hi is None else min(rows, -(-hi * rows // size))
    return first, max(first, last)


def _parquet_rows_range(
    path: Path, fields: FieldMap, bad: BadRows, rows: tuple[int, int]
) -> Iterator[list[Row]]:
    return _parquet(path, fields, bad, BATCH, None, rows)


def _parquet(
    path: Path,
    fields: FieldMap,
    bad: BadRows,
    batch: int,
    span: Span | None = None,
    rows: tuple[int, int] | None = None,
) -> Iterator[list[Row]]:
    with needs("data", f"{path.name}: reading Parquet datasets"):
        import pyarrow as pa
        import pyarrow.parquet as pq
    try:
        pf = pq.ParquetFile(path)
        names = list(pf.schema_arrow.names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DatasetUnreadable(f"not a readable Parquet file ({_first_line(exc)})") from None
    wanted = [c for c in fields.columns() if c in names]
    if not wanted:
        raise DatasetUnreadable(
            "Parquet file has no known column (expected one of: "
            + ", ".join((*fields.prompt, *fields.text, *fields.messages))
            + f"; found: {', '.join(n[:40] for n in names[:10])})"
        )
    first, last = rows if rows is not None else parquet_rows(path.stat().st_size, pf.metadata.num_rows, span)
    # Whole row groups before the span are not read; the rest of the span's rows are cut from batches.
    groups: list[int] = []
    n = 0  # rows before the first group read
    seen = 0
    for g in range(pf.metadata.num_row_groups):
        size = pf.metadata.row_group(g).num_rows
        if seen + size > first and seen < last:
            groups.append(g)
        elif not groups:
            n += size
        seen += size
    good = 0
    try:
        for rb in pf.iter_batches(batch_size=batch, columns=wanted, row_groups=groups) if groups else ():
            cols = {name: rb.column(i).to_pylist() for i, name in enumerate(rb.schema.names)}
            out: list[Row] = []
            for i in range(rb.num_rows):
                n += 1
                if n <= first:
                    continue
                if n > last:
                    break
                obj = {k: v[i] for k, v in cols.items()}
                try:
                    out.append(normalise(obj, n, fields))
                except RowError as exc:
                    bad.add(n, str(exc))
                    _give_up(bad, good, first == 0)
                    continue
                good += 1
            if out:
                yield out
            if n >= last:
                break
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DatasetUnreadable(
            f"Parquet read failed after row {n} ({_first_line(exc)})", row=n + 1
        ) from None


def locate_rows(
    path: Path, fmt: str, wanted: set[int], *, max_row_bytes: int = 1 << 20
) -> dict[int, Location]:
    """Where each wanted row (by its reported number) lies in the file, found by the same line
    splitting the reader uses (no row is parsed again).

    JSONL and CSV: the byte offset of the row's first byte (for CSV the start of the record, which may
    span lines through quoted newlines). Parquet: no byte offset (a row's values are spread over
    compressed column chunks), but its row group and 0-based index inside that group.
    """
    out: dict[int, Location] = {}
    if not wanted:
        return out
    last = max(wanted)
    try:
        if fmt == "jsonl":
            with open(path, "rb") as fh:
                fh.seek(_check_encoding(fh.read(4)))
                for n, offset, _ in _jsonl_lines(fh, max_row_bytes, None):
                    if n in wanted:
                        out[n] = Location(offset)
                    if n >= last:
                        break
        elif fmt == "csv":
            for n, offset in csv_lines(path):
                if n in wanted:
                    out[n] = Location(offset)
                if n >= last:
                    break
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path).metadata
            ends: list[int] = []
            total = 0
            for g in range(meta.num_row_groups):
                total += meta.row_group(g).num_rows
                ends.append(total)
            for n in wanted:
                g = bisect.bisect_left(ends, n)
                if g < len(ends):
                    out[n] = Location(None, g, n - 1 - (ends[g - 1] if g else 0))
    except (OSError, DatasetUnreadable, ValueError):
        return out  # the file changed or vanished since it was read: rows stay located by number
    return out


@dataclass(frozen=True)
class Location:
    byte_offset: int | None
    row_group: int | None = None
    row_in_group: int | None = None


def read_row(
    path: Path, fmt: str, n: int, offset: int | None, fields: FieldMap, *, max_row_bytes: int = 1 << 20
) -> Row | None:
    """The one row numbered `n` that starts at byte `offset` (JSONL, CSV; Parquet by number), read
    as the reader reads it, by seeking: to quote a row without reading the file from its start."""
    bad = BadRows()
    if fmt == "parquet":
        for rows in _parquet_rows_range(path, fields, bad, (n - 1, n)):
            return next((r for r in rows if r.n == n), None)
        return None
    if offset is None:
        return None
    old_limit = csv.field_size_limit(max_row_bytes)
    try:
        with open(path, "rb") as fh:
            if fmt == "jsonl":
                fh.seek(offset)
                raw = fh.readline(max_row_bytes + 1)
                return normalise(_loads(raw.decode("utf-8")), n, fields, offset)
            start = _check_encoding(fh.read(4))
            fh.seek(start)
            head = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
            names = [h.strip().lstrip("\ufeff") for h in next(csv.reader(head, strict=True))]
            head.detach()
            fh.seek(offset)
            text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
            record = next(csv.reader(text, strict=True))
            text.detach()
            if len(record) != len(names):
                return None
            return normalise(_csv_object(names, record, set(fields.messages)), n, fields, offset)
    except (OSError, ValueError, RowError, RecursionError, StopIteration, csv.Error, DatasetUnreadable):
        return None
    finally:
        csv.field_size_limit(old_limit)


def _csv_object(names: list[str], record: list[str], msg_cols: set[str]) -> dict[str, Any]:
    """A CSV record as the mapping `normalise` reads (chat columns hold JSON)."""
    obj: dict[str, Any] = dict(zip(names, record, strict=True))
    for key in msg_cols.intersection(obj):
        obj[key] = json.loads(obj[key]) if obj[key].strip() else None
    return obj
