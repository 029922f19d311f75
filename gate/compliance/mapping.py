"""Framework mappings: one YAML file per framework under gate/data/frameworks.

Each file ships the framework's id list (the catalog) and the requirements the gate links to
evidence: check ids, rule codes, technique ids carried by findings, and report JSON paths.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import field_validator, model_validator

from gate.errors import InputError
from gate.models.base import StrictModel
from gate.yamlsafe import load_file, validate_doc

FRAMEWORKS_DIR = Path(__file__).resolve().parent.parent / "data" / "frameworks"

# The order frameworks appear in a pack.
FRAMEWORK_ORDER = ("eu-ai-act", "nist-ai-rmf", "sr-11-7", "iso-42001", "owasp-llm-2025", "mitre-atlas")

_FIELD_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")


class Coverage(StrEnum):
    COVERED = "covered"
    PARTIAL = "partial"
    PROCESS = "out-of-scope (process)"


class Requirement(StrictModel):
    id: str
    title: str
    status: Coverage
    reason: str
    role: str | None = None  # EU AI Act: provider | deployer
    checks: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()  # findings carrying any of these are evidence
    fields: tuple[str, ...] = ()  # report JSON paths (dotted) that hold evidence

    @field_validator("reason")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if "\n" in v.strip() or not v.strip():
            raise ValueError("reason must be one non-empty line")
        return v.strip()

    @field_validator("fields")
    @classmethod
    def _paths(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            if not _FIELD_PATH.match(p):
                raise ValueError(f"report field '{p}' must be a dotted path such as tier.level")
        return v

    @property
    def has_evidence(self) -> bool:
        return bool(self.checks or self.rules or self.techniques or self.fields)


class Framework(StrictModel):
    framework: str
    title: str
    source: str
    ids: tuple[str, ...]
    requirements: tuple[Requirement, ...]

    @model_validator(mode="after")
    def _known_ids(self) -> Framework:
        known = set(self.ids)
        if len(known) != len(self.ids):
            raise ValueError("ids: duplicate id")
        seen: set[str] = set()
        for r in self.requirements:
            if r.id not in known:
                raise ValueError(f"requirement '{r.id}' is not an id of {self.framework}")
            if r.id in seen:
                raise ValueError(f"requirement '{r.id}' is mapped twice")
            seen.add(r.id)
            if r.status is not Coverage.PROCESS and not (r.checks or r.rules or r.techniques or r.fields):
                raise ValueError(f"requirement '{r.id}' is {r.status.value} but names no evidence")
        return self


def load_framework(path: Path) -> Framework:
    doc = load_file(path)
    return validate_doc(Framework, doc)


@cache
def frameworks() -> tuple[Framework, ...]:
    """Every packaged framework mapping, in FRAMEWORK_ORDER."""
    found = {p.stem: p for p in FRAMEWORKS_DIR.glob("*.yaml")}
    if set(found) != set(FRAMEWORK_ORDER):
        raise InputError(
            f"{FRAMEWORKS_DIR}: expected mappings {sorted(FRAMEWORK_ORDER)}, found {sorted(found)}"
        )
    out = []
    for name in FRAMEWORK_ORDER:
        fw = load_framework(found[name])
        if fw.framework != name:
            raise InputError(f"{found[name]}: framework: must be '{name}' (the file name)")
        out.append(fw)
    return tuple(out)


def resolve_field(data: Any, path: str) -> tuple[bool, Any]:
    """Look a dotted path up in report JSON: (found, value). Lists are not indexed."""
    cur = data
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur
