"""Property tests for the dataset readers: any bytes give rows or a one-line reason, never a crash;
rows written as JSONL, CSV or Parquet read back as the same rows."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.datacheck.readers import BadRows, DatasetUnreadable, read_batches
from gate.datacheck.rows import FieldMap, Row

FIELDS = FieldMap()
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Text without NUL (CSV cannot hold it) and without lone surrogates (not encodable as UTF-8).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
LABEL = st.one_of(st.none(), st.text(alphabet="abcxyz01", min_size=1, max_size=5), st.integers(0, 9))


def read_all(path: Path, fmt: str, max_row: int = 1 << 20) -> tuple[list[Row], BadRows]:
    bad = BadRows()
    rows = [
        r for batch in read_batches(path, fmt, FIELDS, bad, max_row_bytes=max_row, batch=7) for r in batch
    ]
    return rows, bad


@SETTINGS
@given(data=st.binary(max_size=3000))
def test_any_bytes_as_jsonl_never_crash(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(data)
    try:
        rows, bad = read_all(p, "jsonl", max_row=512)
    except DatasetUnreadable as exc:
        assert exc.reason and "\n" not in exc.reason
        return
    lines = data.count(b"\n") + 1
    assert all(1 <= r.n <= lines for r in rows)
    assert all(1 <= n <= lines and why and "\n" not in why for n, why in bad.examples)
    assert [r.n for r in rows] == sorted(r.n for r in rows)


@SETTINGS
@given(data=st.binary(max_size=3000))
def test_any_bytes_as_csv_never_crash(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "d.csv"
    p.write_bytes(b"text,label\n" + data)
    try:
        rows, bad = read_all(p, "csv", max_row=512)
    except DatasetUnreadable as exc:
        assert exc.reason and "\n" not in exc.reason
        return
    assert all(r.n >= 2 for r in rows)
    assert all(why for _, why in bad.examples)


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_any_bytes_as_parquet_never_crash(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "d.parquet"
    p.write_bytes(b"PAR1" + data + b"PAR1")
    with pytest.raises(DatasetUnreadable):
        read_all(p, "parquet")


RECORDS = st.lists(st.tuples(TEXT, LABEL), min_size=1, max_size=30)


def expected(records: list[tuple[str, str | int | None]]) -> list[tuple[str, str | None]]:
    return [(t, None if lab is None else str(lab)) for t, lab in records]


@SETTINGS
@given(records=RECORDS)
def test_jsonl_round_trip(tmp_path: Path, records: list[tuple[str, str | int | None]]) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in records), "utf-8")
    rows, bad = read_all(p, "jsonl")
    assert bad.count == 0
    assert [(r.prompt, r.label) for r in rows] == expected(records)
    assert [r.n for r in rows] == list(range(1, len(records) + 1))


@SETTINGS
@given(records=RECORDS)
def test_csv_round_trip(tmp_path: Path, records: list[tuple[str, str | int | None]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["text", "label"])
    w.writerows([t, "" if lab is None else lab] for t, lab in records)
    p = tmp_path / "d.csv"
    p.write_text(buf.getvalue(), "utf-8", newline="")
    rows, bad = read_all(p, "csv")
    assert bad.count == 0
    # CSV has no null: an empty label cell is the empty label.
    assert [(r.prompt, r.label) for r in rows] == [
        (t, "" if lab is None else lab) for t, lab in expected(records)
    ]


@SETTINGS
@given(records=RECORDS)
def test_parquet_round_trip(tmp_path: Path, records: list[tuple[str, str | int | None]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    labels = [None if lab is None else str(lab) for _, lab in records]
    pq.write_table(pa.table({"text": [t for t, _ in records], "label": labels}), p, row_group_size=4)
    rows, bad = read_all(p, "parquet")
    assert bad.count == 0
    assert [(r.prompt, r.label) for r in rows] == expected(records)
    assert [r.n for r in rows] == list(range(1, len(records) + 1))


MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": TEXT})


@SETTINGS
@given(chats=st.lists(st.lists(MESSAGE, min_size=1, max_size=5), min_size=1, max_size=10))
def test_chat_rows_split_into_system_prompt_and_response(
    tmp_path: Path, chats: list[list[dict[str, str]]]
) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"messages": m}) + "\n" for m in chats), "utf-8")
    rows, bad = read_all(p, "jsonl")
    for msgs, row in zip([m for m in chats if any(x["role"] != "system" for x in m)], rows, strict=True):
        assert row.prompt == "\n".join(x["content"] for x in msgs if x["role"] == "user")
        assert row.response == "\n".join(x["content"] for x in msgs if x["role"] == "assistant")
        assert row.system == "\n".join(x["content"] for x in msgs if x["role"] == "system")
    assert bad.count == sum(1 for m in chats if all(x["role"] == "system" for x in m))


@SETTINGS
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(TEXT, c, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_value_in_any_field_is_a_row_or_a_reason(tmp_path: Path, value: object) -> None:
    p = tmp_path / "d.jsonl"
    lines = [json.dumps({key: value}) for key in ("text", "label", "messages", "output", "instruction")]
    p.write_text("\n".join(lines) + "\n", "utf-8")
    try:
        rows, bad = read_all(p, "jsonl")
    except DatasetUnreadable as exc:
        assert exc.reason
        return
    assert len(rows) + bad.count <= len(lines)
