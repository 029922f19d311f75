"""The vetted list of inert constructors a policy may add to the pickle allowlist."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

from gate.checks.model_files import ModelFilesConfig
from gate.scanner.allowlist import extension_problem, shipped
from gate.scanner.vetted import policy_entry_problem, vetted


def test_every_vetted_name_passes_the_never_allow_lists_and_carries_a_reason() -> None:
    names = vetted()
    assert len(names) >= 40
    for name in names:
        assert extension_problem(name) is None, name  # not a wildcard, not under never_allow
        assert policy_entry_problem(name) is None, name


def test_vetted_names_exist_in_the_installed_libraries() -> None:
    # Resolving a name imports the library module (never a model): a typo would vet nothing.
    checked = 0
    for name in sorted(vetted()):
        top = name.split(".")[0]
        if importlib.util.find_spec(top) is None:
            continue
        module, _, attr = name.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), name
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize(
    "name",
    [
        "os.system",
        "posix.system",
        "subprocess.Popen",
        "builtins.eval",
        "runpy._run_code",
        "torch.load",
        "numpy.load",
        "team.models.MyModel",
        "collections.namedtuple",
        "pathlib.Path.write_text",
        "torch.serialization._get_layout.__globals__",
        "numpy.*",
        "statistics",
    ],
)
def test_anything_else_is_refused_naming_the_entry(name: str) -> None:
    problem = policy_entry_problem(name)
    assert problem is not None and name in problem
    with pytest.raises(ValueError, match="allow_pickle_callables"):
        ModelFilesConfig(allow_pickle_callables=(name,))


def test_built_in_and_vetted_names_are_accepted() -> None:
    builtin = sorted(shipped().names)[0]
    cfg = ModelFilesConfig(allow_pickle_callables=(builtin, "torch.nn.modules.linear.Linear"))
    assert "torch.nn.modules.linear.Linear" in cfg.settings().allowlist
