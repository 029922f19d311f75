"""Check `monitoring`: the model will be watched, verified from the configuration files it ships.

The package's face. The check reads what release.yaml declares under `monitoring` (the
gate's monitoring.yaml, Prometheus rule files, an Alertmanager configuration, an
OpenTelemetry collector configuration) and, for cross-checks, the serving manifests.

- `rules`: the rules and their documentation;
- `config`: the policy settings;
- `evidence`: the monitoring files, parsed once;
- `evaluators`: one function per control of the checklist (`controls`);
- `check`: the check, which turns evaluated controls and file problems into findings;
- `spec`, `prometheus`, `promql`, `alertmanager`, `otel`: the file formats.
"""

from __future__ import annotations

from gate.checks.monitoring.check import MonitoringCheck
from gate.checks.monitoring.config import MonitoringConfig
from gate.checks.monitoring.controls import Control
from gate.checks.monitoring.evaluators import Evaluator, evaluators
from gate.checks.monitoring.evidence import Evidence, load_evidence
from gate.checks.monitoring.rules import CHECK, RULES

__all__ = [
    "CHECK",
    "RULES",
    "Control",
    "Evaluator",
    "Evidence",
    "MonitoringCheck",
    "MonitoringConfig",
    "evaluators",
    "load_evidence",
]
