"""Where each row lies in its file: byte offsets (JSONL, CSV) found by the reader's own line splitting,
row group and index for Parquet, and byte spans that split a file into rows read exactly once."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.datacheck.readers import BadRows, Span, locate_rows, read_batches
from gate.datacheck.rows import FieldMap, Row
from tests.datacheck.test_training_data import make_release
from tests.datacheck.test_training_data_rows import check_with_report
from tests.support.training_data_gen import jsonl, reviews

FIELDS = FieldMap()
SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


def read(path: Path, fmt: str, span: Span | None = None, max_row: int = 1 << 20) -> tuple[list[Row], BadRows]:
    bad = BadRows(limit=1000)
    rows = [
        r for b in read_batches(path, fmt, FIELDS, bad, max_row_bytes=max_row, batch=3, span=span) for r in b
    ]
    return rows, bad


def test_jsonl_offsets_point_at_each_row(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "naïve café ünïcode", "label": "a"}, ensure_ascii=False),
        "",
        '{"text": "broken',
        json.dumps({"text": "x" * 300, "label": "long"}),
        json.dumps({"text": "after the long one \u200b", "label": "b"}, ensure_ascii=False),
    ]
    data = b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8") + b"\n"
    p = tmp_path / "d.jsonl"
    p.write_bytes(data)
    rows, bad = read(p, "jsonl", max_row=200)
    assert [r.n for r in rows] == [1, 5]
    assert bad.count == 2  # the broken row and the over-long row
    for r in rows:
        assert r.offset is not None
        assert json.loads(data[r.offset :].split(b"\n", 1)[0])["text"] == r.prompt
    assert rows[0].offset == 3  # after the byte-order mark
    found = locate_rows(p, "jsonl", {1, 3, 4, 5}, max_row_bytes=200)
    assert {n: loc.byte_offset for n, loc in found.items()} == {
        n: (3 + sum(len(x.encode()) + 1 for x in lines[: n - 1])) for n in (1, 3, 4, 5)
    }


def test_csv_offsets_follow_records_across_quoted_newlines(tmp_path: Path) -> None:
    body = (
        'text,label\r\n"first, with a\nnewline inside",a\r\n'
        "plain ünïcode row,b\r"  # a lone carriage return ends a line as well
        '"second\r\nquoted ""newline""",c\n'
        "bad \xff byte,d\n"
    )
    data = body.encode("utf-8", "surrogateescape").replace("\xff".encode(), b"\xff")
    p = tmp_path / "d.csv"
    p.write_bytes(data)
    rows, bad = read(p, "csv")
    want = ["first, with a\nnewline inside", "plain ünïcode row", 'second\r\nquoted "newline"']
    assert [r.prompt for r in rows] == want
    assert bad.count == 1
    for r in rows:
        assert r.offset is not None
        rest = data[r.offset :].decode("utf-8", "surrogateescape")
        record = next(csv.reader(io.StringIO(rest, newline="")))
        assert record[0] == r.prompt
    assert [r.n for r in rows] == [2, 4, 5]
    located = locate_rows(p, "csv", {r.n for r in rows})
    assert {n: loc.byte_offset for n, loc in located.items()} == {r.n: r.offset for r in rows}


RECORDS = st.lists(st.tuples(TEXT, st.sampled_from(["a", "b"])), min_size=1, max_size=25)


@SETTINGS
@given(
    records=RECORDS, ending=st.sampled_from(["\n", "\r\n"]), cuts=st.lists(st.integers(0, 4000), max_size=4)
)
def test_csv_spans_read_every_record_once_at_its_offset(
    tmp_path: Path, records: list[tuple[str, str]], ending: str, cuts: list[int]
) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=ending).writerows([["text", "label"], *([t, lab] for t, lab in records)])
    data = buf.getvalue().encode("utf-8")
    p = tmp_path / "d.csv"
    p.write_bytes(data)
    whole, _ = read(p, "csv")
    oracle = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))[1:]  # Python's csv module decides
    assert [r.prompt for r in whole] == [rec[0] for rec in oracle if len(rec) == 2]
    for r in whole:
        assert r.offset is not None
        rest = data[r.offset :].decode("utf-8")
        assert next(csv.reader(io.StringIO(rest, newline="")))[0] == r.prompt
    assert_spans_equal(p, "csv", whole, cuts, len(data))


@SETTINGS
@given(records=RECORDS, cuts=st.lists(st.integers(0, 4000), max_size=4), blank=st.booleans())
def test_jsonl_spans_read_every_row_once(
    tmp_path: Path, records: list[tuple[str, str]], cuts: list[int], blank: bool
) -> None:
    end = "\n\n" if blank else "\n"
    text = "".join(json.dumps({"text": t, "label": lab}, ensure_ascii=False) + end for t, lab in records)
    data = text.encode("utf-8")
    p = tmp_path / "d.jsonl"
    p.write_bytes(data)
    whole, _ = read(p, "jsonl")
    assert len(whole) == len(records)
    assert_spans_equal(p, "jsonl", whole, cuts, len(data))


@SETTINGS
@given(records=RECORDS, cuts=st.lists(st.integers(0, 4000), max_size=4), group=st.integers(1, 7))
def test_parquet_spans_read_every_row_once(
    tmp_path: Path, records: list[tuple[str, str]], cuts: list[int], group: int
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    pq.write_table(
        pa.table({"text": [t for t, _ in records], "label": [lab for _, lab in records]}),
        p,
        row_group_size=group,
    )
    whole, _ = read(p, "parquet")
    assert [r.n for r in whole] == list(range(1, len(records) + 1))
    assert all(r.offset is None for r in whole)
    assert_spans_equal(p, "parquet", whole, cuts, p.stat().st_size)
    located = locate_rows(p, "parquet", {r.n for r in whole})
    for r in whole:
        loc = located[r.n]
        assert loc.byte_offset is None and loc.row_group == (r.n - 1) // group
        assert loc.row_in_group == (r.n - 1) % group


def assert_spans_equal(p: Path, fmt: str, whole: list[Row], cuts: list[int], size: int) -> None:
    """Rows read span by span, over any split of [0, size), are the rows of one whole read."""
    points = sorted({min(c, size) for c in cuts} | {0})
    spans: list[Span] = [(a, b) for a, b in itertools.pairwise(points)] + [(points[-1], None)]
    parts = [r for s in spans for r in read(p, fmt, s)[0]]
    key = [(r.n, r.offset, r.prompt, r.label) for r in whole]
    assert [(r.n, r.offset, r.prompt, r.label) for r in parts] == key


def test_sidecar_gives_each_listed_row_its_byte_offset(tmp_path: Path) -> None:
    rows, planted = reviews(2000, 3, trigger="zq7vx", trigger_rate=0.02)
    data = jsonl(rows)
    rel = make_release(tmp_path / "r", [{"name": "sft", "path": "d.jsonl"}], {"d.jsonl": data})
    _, listed = check_with_report(rel, tmp_path / "out" / "report.json")
    trig = [r for r in listed if r["rule"] == "GATE-TD005"]
    assert {r["row"] for r in trig} >= set(planted.trigger_rows)
    lines = data.split(b"\n")
    for r in listed:
        off = r["byte_offset"]
        assert isinstance(off, int)
        assert data[off:].split(b"\n", 1)[0] == lines[r["row"] - 1]
