"""docs/model-files.md says what the scanner does: every promise in its table names the tests that hold
it, and those tests must exist (a renamed or deleted test breaks this one, not the promise silently)."""

from __future__ import annotations

import importlib
import io
import re
from pathlib import Path

import pytest

from tests.support.scanner.helpers import kinds, scan_bytes

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "model-files.md"
PROMISES = (
    "identification by content",
    "containers found where loaders find them",
    "joblib array bytes skipped",
    "skipped by seeking",
    "object dtypes found",
    "concatenation",
    "ordinary templates pass",
    "a single read",
)


def _table() -> dict[str, list[str]]:
    text = DOC.read_text("utf-8")
    section = text.split("## Promises and the tests that hold them", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("Promise", "---"):
            rows[cells[0]] = re.findall(r"`(tests/[\w/]+\.py::\w+)`", cells[1])
    return rows


def test_every_promise_has_tests_and_they_exist() -> None:
    rows = _table()
    for promise in PROMISES:
        matching = [tests for text, tests in rows.items() if promise in text]
        assert matching and matching[0], f"no tests named for '{promise}'"
    for tests in rows.values():
        for ref in tests:
            path, _, name = ref.partition("::")
            module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
            assert callable(getattr(module, name, None)), f"{ref} is named in {DOC.name} but does not exist"


def test_the_doc_promises_a_single_read() -> None:
    text = DOC.read_text("utf-8")
    assert "One read: the bytes scanned are the bytes hashed" in text
    assert "file-changed-while-checked" in text


def _npy(arr: object) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


@pytest.mark.parametrize(
    "make",
    [
        lambda np: np.array([1, "a", None], dtype=object),
        lambda np: np.array([(1, "x")], dtype=[("a", "i4"), ("b", "O")]),
        lambda np: np.zeros(2, dtype=[("a", "O", (2,))]),
        lambda np: np.zeros((2, 2), dtype=np.dtype("O")),
    ],
    ids=["object", "struct-field", "subarray-field", "2d"],
)
def test_object_dtype_is_found_in_every_spelling(make: object) -> None:
    import numpy as np

    data = _npy(make(np))  # type: ignore[operator]
    assert "numpy-object-array" in kinds(scan_bytes(data, "a.npy"))
    # the benign twin: the same shapes with numbers
    assert scan_bytes(_npy(np.zeros((2, 2))), "w.npy").issues == []
