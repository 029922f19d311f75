"""The tests' layout holds: tests/ mirrors gate/, and helpers live in tests/support.

A test module sits in the directory of the gate/ module it tests (tests/checks/monitoring/ for
gate/checks/monitoring/, the top of tests/ for top-level modules such as gate/engine.py), so the
tests of a module are found by its path. A module that holds no tests is a helper and belongs in
the tests.support package, where every test module imports it from; conftest.py holds fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import ROOT

# Directories of test inputs, not of test modules (a signed release there may hold a .py file).
DATA_DIRS = ("data", "golden")
SUPPORT = "support"
ALLOWED_BESIDE_TESTS = ("__init__.py", "conftest.py")


def misplaced(tests: Path, gate: Path) -> list[str]:
    """Every way the tree under `tests` breaks the layout, one line each (empty when it holds)."""
    problems = []
    for path in sorted(tests.rglob("*.py")):
        rel = path.relative_to(tests)
        top = rel.parts[0] if len(rel.parts) > 1 else ""
        if top in DATA_DIRS or "__pycache__" in rel.parts:
            continue
        where = rel.parent
        if top == SUPPORT:
            if path.name.startswith("test_"):
                problems.append(f"tests/{rel}: a test module in tests/{SUPPORT}, which holds helpers")
            continue
        if path.name.startswith("test_"):
            if where.parts and not (gate / where).is_dir():
                problems.append(f"tests/{rel}: gate/{where.as_posix()}/ does not exist to mirror")
            if where.parts and not (path.parent / "__init__.py").is_file():
                problems.append(f"tests/{rel}: tests/{where.as_posix()}/ has no __init__.py")
        elif path.name not in ALLOWED_BESIDE_TESTS:
            problems.append(f"tests/{rel}: a helper beside the tests; move it into tests/{SUPPORT}/")
    return problems


def test_the_repository_keeps_the_layout() -> None:
    assert misplaced(ROOT / "tests", ROOT / "gate") == []


def test_every_gate_package_with_tests_is_mirrored_by_a_package() -> None:
    """The mirror is not empty: the directories that hold most tests exist (a rename of gate/
    that left tests behind would otherwise pass the test above by moving them all to the top)."""
    tests = ROOT / "tests"
    for where in ("checks", "checks/monitoring", "reporters", "scanner", "signing", "waivers"):
        assert list((tests / where).glob("test_*.py")), where


def _tree(root: Path, files: list[str]) -> Path:
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("", "utf-8")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["tests/nowhere/__init__.py", "tests/nowhere/test_x.py"], "gate/nowhere/ does not exist"),
        (["tests/checks/test_x.py"], "tests/checks/ has no __init__.py"),
        (["tests/builders.py"], "tests/builders.py: a helper beside the tests"),
        (["tests/checks/__init__.py", "tests/checks/kit.py"], "tests/checks/kit.py: a helper"),
        (["tests/support/__init__.py", "tests/support/test_x.py"], "a test module in tests/support"),
    ],
)
def test_each_breach_is_named(tmp_path: Path, files: list[str], expected: str) -> None:
    (tmp_path / "gate" / "checks").mkdir(parents=True)
    tree = _tree(tmp_path, files)
    problems = misplaced(tree / "tests", tree / "gate")
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_mirrored_tree_with_data_and_support_passes(tmp_path: Path) -> None:
    (tmp_path / "gate" / "checks").mkdir(parents=True)
    files = [
        "tests/__init__.py",
        "tests/conftest.py",
        "tests/test_engine.py",
        "tests/checks/__init__.py",
        "tests/checks/conftest.py",
        "tests/checks/test_x.py",
        "tests/support/__init__.py",
        "tests/support/kit.py",
        "tests/data/release/model/helper.py",
        "tests/golden/any.py",
    ]
    assert misplaced(_tree(tmp_path, files) / "tests", tmp_path / "gate") == []
