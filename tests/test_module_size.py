"""Modules stay small enough to read: none under gate/ is longer than 600 lines, and each opens
with a docstring that says what it holds."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT

MAX_LINES = 600


def oversized(root: Path, limit: int = MAX_LINES) -> list[str]:
    """Every module under root/gate longer than `limit` lines, one line each with its length."""
    found = []
    for path in sorted((root / "gate").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        lines = len(path.read_text("utf-8").splitlines())
        if lines > limit:
            found.append(f"{rel}: {lines} lines (at most {limit}; split it along its seams)")
    return found


def undocumented(root: Path) -> list[str]:
    """Every module under root/gate without a module docstring."""
    return [
        path.relative_to(root).as_posix()
        for path in sorted((root / "gate").rglob("*.py"))
        if not ast.get_docstring(ast.parse(path.read_text("utf-8")))
    ]


def test_no_module_is_longer_than_the_limit() -> None:
    too_long = oversized(ROOT)
    assert not too_long, "modules over the limit:\n" + "\n".join(too_long)


def test_every_module_says_what_it_holds() -> None:
    assert undocumented(ROOT) == []


def _write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, "utf-8")


def test_each_offender_is_named_with_its_length(tmp_path: Path) -> None:
    _write(tmp_path, "gate/checks/big.py", '"""Big."""\n' + "x = 1\n" * 600)  # 601 lines
    _write(tmp_path, "gate/fits.py", '"""Fits."""\n' + "x = 1\n" * 599)  # 600 lines: allowed
    _write(tmp_path, "gate/bare.py", "x = 1\n")
    found = oversized(tmp_path)
    assert found == ["gate/checks/big.py: 601 lines (at most 600; split it along its seams)"]
    assert undocumented(tmp_path) == ["gate/bare.py"]
