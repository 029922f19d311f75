"""The layers hold: every import of every module of gate/ (lazy ones too) runs down, never up.

models import only models (and pydantic and the standard library); checks never import the
engine, reporters or the command layer; reporters never import checks; libraries (scanner,
redteam, datacheck, waivers, signing, compliance) never import the engine, checks or the
command layer; only the command layer imports gate.commands; garak and torch are imported
inside the functions that need them (the red-team runner excepted).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import import_graph
from scripts.import_graph import Import, violation, violations

ROOT = Path(__file__).resolve().parent.parent


def _where(i: Import) -> str:
    return f"{i.path}:{i.line}: {i.importer} imports {i.target}"


def test_every_import_respects_the_layers() -> None:
    found = import_graph.imports(ROOT)
    broken = [f"{_where(i)}: {why}" for i, why in violations(found)]
    assert not broken, "imports that run back up:\n" + "\n".join(broken)


def test_the_import_graph_has_no_cycles() -> None:
    g = import_graph.graph(import_graph.imports(ROOT))
    cycles = [c for c in import_graph.components(g) if len(c) > 1]
    assert not cycles, cycles


def _imports_of(tmp_path: Path, module: str, source: str) -> list[Import]:
    """The imports the walker finds in one module written into a throwaway gate/ tree."""
    path = tmp_path / (module.replace(".", "/") + ".py")
    fixtures = ("engine", "errors", "checks/__init__", "models/base", "commands/__init__")
    for name in (*(f"gate/{f}.py" for f in fixtures), path):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        for folder in target.relative_to(tmp_path).parents:
            if folder != Path("."):
                (tmp_path / folder / "__init__.py").touch()
        target.touch()
    path.write_text(source)
    return [i for i in import_graph.imports(tmp_path) if i.importer == module]


LAZY_ENGINE = "def f():\n    if True:\n        from gate import engine\n    return engine\n"


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        # A library reaching the engine inside a function, through a relative import, by name.
        ("gate.scanner.x", LAZY_ENGINE, "libraries never import the engine"),
        ("gate.scanner.x", "def f():\n    from ..engine import run\n", "libraries never import the engine"),
        (
            "gate.redteam.x",
            "import importlib\nE = importlib.import_module('gate.engine')\n",
            "libraries never import the engine",
        ),
        ("gate.models.x", "from gate.errors import InputError\n", "models import only models"),
        ("gate.models.x", "import yaml\n", "models import only models, pydantic"),
        ("gate.checks.x", "from gate.commands import main\n", "checks never import"),
        ("gate.reporters.x", "from gate.checks import all_rules\n", "reporters never import checks"),
        ("gate.checks.x", "import torch\n", "torch is imported at module level"),
        ("gate.checks.x", "try:\n    import garak.cli\nexcept ImportError:\n    pass\n", "garak is imported"),
    ],
)
def test_a_forbidden_import_is_named_with_its_line(
    tmp_path: Path, module: str, source: str, expected: str
) -> None:
    found = _imports_of(tmp_path, module, source)
    broken = [(i, why) for i in found if (why := violation(i))]
    assert broken and expected in broken[0][1], found
    i = broken[0][0]
    assert i.path == module.replace(".", "/") + ".py" and i.line >= 1
    assert source.splitlines()[i.line - 1].strip().startswith(("from", "import", "E =")), i


@pytest.mark.parametrize(
    ("module", "source"),
    [
        # The benign twins: the same imports where the layers allow them.
        ("gate.commands.x", LAZY_ENGINE),
        ("gate.models.x", "from pydantic import BaseModel\nfrom gate.models.base import M\nimport re\n"),
        ("gate.checks.x", "def f():\n    import torch\n"),
        ("gate.checks.x", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"),
        ("gate.redteam.runner", "import garak\n"),
        ("gate.reporters.x", "from gate.models.base import M\n"),
    ],
)
def test_allowed_imports_pass(tmp_path: Path, module: str, source: str) -> None:
    found = _imports_of(tmp_path, module, source)
    assert found and not [why for i in found if (why := violation(i))]
