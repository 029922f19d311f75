"""The data the suite runs on: the technique mapping table and the probe sets.

Both ship under gate/data/redteam/ and are versioned:
- techniques.json, built from garak's probe tags by scripts/build_redteam_techniques.py;
- probesets.yaml, the named probe sets a policy picks from;
- offline-probes.txt, the probes verified to run offline by scripts/verify_garak_offline.py.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from pydantic import Field, ValidationError

from gate.errors import CheckError
from gate.models.base import StrictModel
from gate.yamlsafe import load_text

DATA = ("data", "redteam")


class CategoryInfo(StrictModel):
    title: str
    owasp: tuple[str, ...] = ()
    atlas: tuple[str, ...] = ()
    mitigation: str


class ProbeInfo(StrictModel):
    category: str
    owasp: tuple[str, ...] = ()
    atlas: tuple[str, ...] = ()
    active: bool = True
    goal: str = ""
    primary_detector: str | None = None
    extended_detectors: tuple[str, ...] = ()
    garak_tags: tuple[str, ...] = ()


class TechniqueTable(StrictModel):
    version: int
    garak: str
    source: str
    categories: dict[str, CategoryInfo]
    probes: dict[str, ProbeInfo]


class ProbeSets(StrictModel):
    version: int
    sets: dict[str, tuple[str, ...]] = Field(description="Named probe lists.")


class Catalog:
    def __init__(self, table: TechniqueTable, sets: ProbeSets, offline: frozenset[str]) -> None:
        self.table = table
        self.sets = sets.sets
        self.offline = offline

    def category_of(self, probe: str) -> str:
        info = self.table.probes.get(probe)
        return info.category if info else "other"

    def category(self, name: str) -> CategoryInfo:
        return self.table.categories.get(name) or self.table.categories["other"]

    def probe_set(self, name: str) -> tuple[str, ...]:
        try:
            return self.sets[name]
        except KeyError:
            raise CheckError(
                f"adversarial: unknown probe set '{name}'",
                hint=f"Known probe sets: {', '.join(sorted(self.sets))}.",
            ) from None

    def expected_detectors(self, probe: str, extended: bool) -> list[str]:
        info = self.table.probes.get(probe)
        if info is None or info.primary_detector is None:
            return []
        return [info.primary_detector, *(info.extended_detectors if extended else ())]


def _read(name: str) -> str:
    node = resources.files("gate")
    for part in (*DATA, name):
        node = node.joinpath(part)
    return node.read_text("utf-8")


@cache
def load_catalog() -> Catalog:
    try:
        table = TechniqueTable.model_validate(json.loads(_read("techniques.json")))
        sets = ProbeSets.model_validate(
            load_text(_read("probesets.yaml"), "gate/data/redteam/probesets.yaml").data
        )
    except (OSError, ValueError, ValidationError) as exc:  # a broken install, not bad user input
        raise CheckError(f"adversarial: packaged red-team data is unreadable: {exc}") from None
    offline = frozenset(
        ln.strip() for ln in _read("offline-probes.txt").splitlines() if ln.strip() and not ln.startswith("#")
    )
    return Catalog(table, sets, offline)
