"""The explicit list of checks, in the order they run.

No magic registration: a check exists when it is named here. Modules are
imported on first use so that heavy dependencies stay out of `--help`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import cache

from gate.checks.interface import Check
from gate.models.finding import Rule

# check id -> "module:Class"
CHECKS: dict[str, str] = {
    "release-integrity": "gate.checks.release_integrity:ReleaseIntegrityCheck",
    "risk-tier": "gate.checks.risk_tier:RiskTierCheck",
    "model-signature": "gate.checks.model_signature:ModelSignatureCheck",
    "provenance": "gate.checks.provenance:ProvenanceCheck",
    "monitoring": "gate.checks.monitoring:MonitoringCheck",
    "deployment": "gate.checks.deployment:DeploymentCheck",
    "dependencies": "gate.checks.dependencies:DependenciesCheck",
    "model-files": "gate.checks.model_files:ModelFilesCheck",
    "adversarial": "gate.checks.adversarial:AdversarialCheck",
    "training-data": "gate.checks.training_data:TrainingDataCheck",
}


@cache
def load_check(check_id: str) -> type[Check]:
    try:
        target = CHECKS[check_id]
    except KeyError:
        raise KeyError(f"unknown check '{check_id}'") from None
    module, _, name = target.partition(":")
    cls: type[Check] = getattr(importlib.import_module(module), name)
    if cls.id != check_id:  # pragma: no cover - guarded by a test
        raise RuntimeError(f"{target} declares id {cls.id}, registered as {check_id}")
    strangers = [r.code for r in cls.rules if r.check != check_id]
    if strangers:
        raise RuntimeError(f"{target} declares rules of another check: {', '.join(strangers)}")
    index_rules(cls.rules)  # a check that repeats a code or name of its own never registers
    return cls


def all_checks() -> list[type[Check]]:
    return [load_check(c) for c in CHECKS]


def _declared_rules() -> list[Rule]:
    from gate.rules import ENGINE_RULES

    return [*ENGINE_RULES, *(r for c in all_checks() for r in c.rules)]


def all_rules() -> list[Rule]:
    """Every rule, the engine's first, then each check's in run order; duplicates are an error."""
    rule_index()
    return _declared_rules()


class DuplicateRuleError(RuntimeError):
    """Two rules share a code or a name: a lookup would silently answer with one of them."""


def index_rules(rules: Iterable[Rule]) -> dict[str, Rule]:
    """Each rule under its code and its name; a code or name declared twice is an error."""
    index: dict[str, Rule] = {}
    for r in rules:
        for key in (r.code, r.name):
            first = index.get(key)
            if first is not None:
                raise DuplicateRuleError(
                    f"rule {key} is declared twice: by check {first.check} ({first.code} {first.name}) "
                    f"and by check {r.check} ({r.code} {r.name})"
                )
            index[key] = r
    return index


def rule_index() -> dict[str, Rule]:
    """Every rule (the engine's and each check's) by code and by name, checked for duplicates.

    Built once per state of the registry, so a check registered later is checked too.
    """
    return _index_for(tuple(CHECKS.items()))


@cache
def _index_for(registry: tuple[tuple[str, str], ...]) -> dict[str, Rule]:
    return index_rules(_declared_rules())


def find_rule(name_or_code: str) -> Rule | None:
    key = name_or_code.strip()
    index = rule_index()
    return index.get(key.upper()) or index.get(key.lower())
