"""The pickle allowlist: shipped as data (gate/data/pickle_allowlist.yaml), extended by exact name."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources

from gate.errors import InputError
from gate.yamlsafe import load_text

DATA_FILE = "pickle_allowlist.yaml"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
WILDCARD = re.compile(r"[*?\[\]]")


@dataclass(frozen=True)
class Allowlist:
    revision: str
    names: frozenset[str]
    reference_only: frozenset[str]  # may be imported as values, never called while loading
    never_modules: frozenset[str]
    never_names: frozenset[str]


@cache
def shipped() -> Allowlist:
    src = f"package:gate/data/{DATA_FILE}"
    text = resources.files("gate").joinpath("data").joinpath(DATA_FILE).read_text("utf-8")
    data = load_text(text, src).data
    if not isinstance(data, dict) or data.get("version") != 1:
        raise InputError(f"{src}: not a version 1 allowlist")
    names: set[str] = set()
    for gname, group in (data.get("groups") or {}).items():
        for n in group.get("names") or ():
            if not isinstance(n, str) or not NAME.match(n):
                raise InputError(f"{src}: groups.{gname}: '{n}' is not a dotted name")
            names.add(n)
    refs: set[str] = set()
    for gname, group in (data.get("reference_only") or {}).items():
        for n in group.get("names") or ():
            if not isinstance(n, str) or not NAME.match(n):
                raise InputError(f"{src}: reference_only.{gname}: '{n}' is not a dotted name")
            refs.add(n)
    never = data.get("never_allow") or {}
    return Allowlist(
        revision=str(data.get("revision", "")),
        names=frozenset(names),
        reference_only=frozenset(refs - names),
        never_modules=frozenset(never.get("modules") or ()),
        never_names=frozenset(never.get("names") or ()),
    )


def extension_problem(name: str) -> str | None:
    """Why a policy may not add `name` to the allowlist, or None when it may."""
    if WILDCARD.search(name):
        top = WILDCARD.split(name)[0].split(".")[0]
        if top in sys.stdlib_module_names:
            return f"'{name}' is a wildcard over the standard-library module '{top}'; list exact names"
        return f"'{name}' is a wildcard; list exact names (module.Class)"
    if not NAME.match(name):
        return f"'{name}' is not an exact dotted name such as 'mypkg.models.MyEstimator'"
    al = shipped()
    if name in al.never_names:
        return f"'{name}' runs code or loads files and can never be allowed"
    parts = name.split(".")
    for i in range(1, len(parts)):
        if ".".join(parts[:i]) in al.never_modules:
            return f"'{name}' is in '{'.'.join(parts[:i])}', whose callables can never be allowed"
    return None


def effective(extra: tuple[str, ...] = ()) -> frozenset[str]:
    return shipped().names | frozenset(extra)


# How to fix a pickle that imports `name`, by the library the name belongs to: re-exporting as
# safetensors fits weights, not an estimator or a pipeline.
_HINTS: tuple[tuple[str, str], ...] = (
    (
        "joblib.numpy_pickle.NDArrayWrapper",
        "A joblib file from joblib < 0.10: loading it opens companion files named by the pickle with "
        "pickling enabled. Load it once in a sandbox and save it again with a current joblib, or with "
        "skops (skops.io.dump) for an estimator.",
    ),
    (
        "joblib.numpy_pickle.ZNDArrayWrapper",
        "A joblib file from joblib < 0.10 whose arrays are unpickled from companion files. Load it once "
        "in a sandbox and save it again with a current joblib, or with skops (skops.io.dump).",
    ),
    (
        "joblib.",
        "Do not load the file; a joblib file written by joblib.dump from a current joblib imports only "
        "its array wrapper.",
    ),
    (
        "sklearn.",
        "A scikit-learn model: save it with skops (skops.io.dump; skops.io.load checks every type "
        "before it loads), or convert it to ONNX (skl2onnx). If the class is a trusted scikit-learn "
        "class that the shipped list lacks, add its exact name to "
        "`checks.model-files.allow_pickle_callables` in the policy.",
    ),
    (
        "numpy.",
        "Save arrays with np.save / np.savez without object dtypes (np.load(allow_pickle=False) reads "
        "them) or as safetensors. A numpy name that only rebuilds data can be added exactly to "
        "`checks.model-files.allow_pickle_callables`.",
    ),
    (
        "torch.",
        "Save the weights with safetensors (or torch.save(state_dict) loaded with "
        "torch.load(weights_only=True)) from a trusted copy.",
    ),
)


def fix_hint(name: str | None) -> str | None:
    """A fix that fits the library of an import a pickle may not make; None for the rule's own."""
    if not name:
        return None
    for prefix, hint in _HINTS:
        if name == prefix or (prefix.endswith(".") and name.startswith(prefix)):
            return hint
    return None
