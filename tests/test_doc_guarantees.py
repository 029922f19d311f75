"""Docs say what the code does: every guarantee table names tests that exist.

A page with a "Guarantees and the tests that hold them" section lists each promise with the
test that would fail if it were broken; this test fails when a named test is renamed or
removed, so a promise cannot lose its test silently.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["docs/monitoring-and-deployment.md", "docs/adversarial.md"]
ROW = re.compile(r"^\| (?P<promise>[^|]+) \| (?P<tests>.+) \|$")
TEST = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def guarantees(page: str) -> list[tuple[str, list[tuple[str, str]]]]:
    text = (ROOT / page).read_text("utf-8")
    section = text.split("## Guarantees and the tests that hold them", 1)[1]
    rows = []
    for line in section.splitlines():
        m = ROW.match(line)
        if m and not line.startswith("| Guarantee") and not line.startswith("|---"):
            rows.append((m["promise"].strip(), TEST.findall(m["tests"])))
    return rows


def functions_in(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text("utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


@pytest.mark.parametrize("page", PAGES)
def test_every_guarantee_names_a_test_that_exists(page: str) -> None:
    rows = guarantees(page)
    assert len(rows) >= 5
    for promise, tests in rows:
        assert tests, f"{page}: '{promise}' names no test"
        for path, name in tests:
            assert name in functions_in(path), f"{page}: '{promise}': {path}::{name} does not exist"
