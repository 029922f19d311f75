"""The explicit list of checks, in the order they run.

No magic registration: a check exists when it is named here. Modules are
imported on first use so that heavy dependencies stay out of `--help`.
"""

from __future__ import annotations

import importlib
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
    # After model-files: it executes the model only once those files passed (runs_after).
    "classifier-robustness": "gate.checks.classifier_robustness:ClassifierRobustnessCheck",
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
    return cls


def all_checks() -> list[type[Check]]:
    return [load_check(c) for c in CHECKS]


def all_rules() -> list[Rule]:
    from gate.rules import ENGINE_RULES

    return [*ENGINE_RULES, *(r for c in all_checks() for r in c.rules)]


def find_rule(name_or_code: str) -> Rule | None:
    key = name_or_code.strip()
    for r in all_rules():
        if key.upper() == r.code or key.lower() == r.name:
            return r
    return None
