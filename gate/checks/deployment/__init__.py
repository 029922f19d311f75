"""Check `deployment`: the serving manifests shipped with the release have no obvious holes.

The package's face.

- `rules`: the rules and their documentation;
- `config`: the policy settings;
- `load`, `view`: the evidence, the manifests reduced to workloads and endpoints
  (`kubernetes`, `serving_yaml` read the two formats; `runtime`, `secrets`, `model_digest`
  read what the servers are started with);
- `check`: the check, which judges the workloads and endpoints and reports findings.
"""

from __future__ import annotations

from gate.checks.deployment.check import DeploymentCheck
from gate.checks.deployment.config import DEFAULT_SECRET_NAMES, DeploymentConfig
from gate.checks.deployment.load import load_serving
from gate.checks.deployment.rules import CHECK, RULES
from gate.checks.deployment.view import ServingView

__all__ = [
    "CHECK",
    "DEFAULT_SECRET_NAMES",
    "RULES",
    "DeploymentCheck",
    "DeploymentConfig",
    "ServingView",
    "load_serving",
]
