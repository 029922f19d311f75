"""Which names a policy may add to the pickle allowlist: the vetted list, or the built-in allowlist.

The vetted list (gate/data/pickle_vetted_callables.yaml) holds inert constructors that are not
on by default, each with the reason it is safe. A policy naming anything else is refused (exit 2):
a denylist of code-running names can never be complete, a short reviewed list can.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from gate.errors import InputError
from gate.scanner.allowlist import NAME, extension_problem, shipped
from gate.yamlsafe import load_text

DATA_FILE = "pickle_vetted_callables.yaml"


@cache
def vetted() -> frozenset[str]:
    src = f"package:gate/data/{DATA_FILE}"
    text = resources.files("gate").joinpath("data").joinpath(DATA_FILE).read_text("utf-8")
    data = load_text(text, src).data
    if not isinstance(data, dict) or data.get("version") != 1:
        raise InputError(f"{src}: not a version 1 list")
    out: set[str] = set()
    for i, entry in enumerate(data.get("names") or ()):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not NAME.match(name) or not str(entry.get("why", "")).strip():
            raise InputError(f"{src}: names[{i}]: needs a dotted `name` and a `why`")
        out.add(name)
    return frozenset(out)


def policy_entry_problem(name: str) -> str | None:
    """Why a policy may not list `name` in allow_pickle_callables, or None when it may."""
    problem = extension_problem(name)  # wildcards, malformed names, never-allowed modules and names
    if problem:
        return problem
    if name in shipped().names or name in vetted():
        return None
    return (
        f"'{name}' is not a vetted inert constructor (gate/data/{DATA_FILE}) nor in the built-in "
        "allowlist; pickles importing anything else are refused"
    )
