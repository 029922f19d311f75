"""monitoring.yaml: what the Prometheus, Alertmanager and OTel formats cannot say on their own.

The file is versioned (`version: 1`) and strict: unknown keys are errors, so a
typo cannot silently switch a control off. Every alert it names is looked up
in the release's Prometheus rule files; it is a map from controls to evidence,
not a substitute for the evidence.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from gate.models.base import StrictModel
from gate.models.manifest import Digest, RelPath

SPEC_VERSION = 1

_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ALERT = re.compile(r"^[A-Za-z_][A-Za-z0-9_:]*$")


def _label_name(v: str) -> str:
    if not _LABEL.match(v):
        raise ValueError("must be a Prometheus label name ([A-Za-z_][A-Za-z0-9_]*)")
    return v


def _alert_names(v: object) -> object:
    """`alert: Name` or `alert: [A, B]`; either way a tuple."""
    if isinstance(v, str):
        return (v,)
    return v


def _alert_name(v: str) -> str:
    if not _ALERT.match(v):
        raise ValueError("must be an alert name as written in `alert:` of a Prometheus rule")
    return v


LabelName = Annotated[str, AfterValidator(_label_name)]
AlertName = Annotated[str, AfterValidator(_alert_name)]
AlertRefs = Annotated[tuple[AlertName, ...], BeforeValidator(_alert_names), Field(min_length=1)]


class ReferenceDataset(StrictModel):
    uri: str | None = Field(
        None, min_length=1, description="Where the reference data lives (s3://, gs://, https://)."
    )
    path: RelPath | None = Field(None, description="Or a path inside the release.")
    digest: Digest | None = Field(
        None, description="sha256 of the reference data, so drift is measured against a fixed set."
    )


class DriftSide(StrictModel):
    method: Literal["psi", "ks", "js-divergence", "wasserstein", "chi2", "embedding-distance", "other"] = (
        "psi"
    )
    threshold: float = Field(description="Drift score above which the alert fires.")
    window: str | None = Field(None, description="Aggregation window, e.g. 1h (informational).")
    alert: AlertRefs


class Drift(StrictModel):
    reference_dataset: ReferenceDataset
    input: DriftSide | None = None
    output: DriftSide | None = None


class AlertOnly(StrictModel):
    alert: AlertRefs
    description: str | None = None


class Guardrail(StrictModel):
    name: str = Field(min_length=1, description="e.g. nemo-guardrails, lakera-guard, in-house classifier.")
    position: Literal["input", "input-and-output"] = "input"
    mode: Literal["block", "flag"] = "block"
    alert: AlertRefs


class ExtractionDefence(StrictModel):
    authentication: bool = Field(description="Every request carries a credential tied to a caller.")
    per_key_quota: str | None = Field(None, min_length=1, description="e.g. '100000 tokens/day'.")
    rate_limit: str | None = Field(None, min_length=1, description="e.g. '60 requests/minute per key'.")
    alert: AlertRefs


class Logging(StrictModel):
    interaction_logs: bool = Field(
        True, description="Requests and responses are logged (events, with or without content)."
    )
    capture_content: bool = Field(False, description="Prompt and response text are captured.")
    retention_days: int = Field(ge=0, le=36500)
    redact_personal_data: bool = False
    store: str | None = Field(None, description="Where the logs go (informational).")


class Alerting(StrictModel):
    oncall_receivers: tuple[str, ...] = Field(
        (), description="Alertmanager receivers that page a human, beyond the known paging integrations."
    )


class Rollback(StrictModel):
    procedure: str | None = Field(None, min_length=1, description="Runbook URL or a path inside the release.")
    kill_switch: str | None = Field(None, min_length=1, description="How to stop serving at once.")
    previous_version: str | None = None


class MonitoringSpec(StrictModel):
    version: Literal[1]
    model_version_label: LabelName = Field(description="Label carrying the model version on every metric.")
    external_metrics: tuple[str, ...] = Field(
        (), description="Metric names (globs allowed) exported by other services, e.g. the guardrail."
    )
    drift: Drift | None = None
    quality: AlertOnly | None = Field(None, description="Quality or performance regression alert.")
    invalid_outputs: AlertOnly | None = Field(None, description="Alert on NaN, Inf or empty outputs.")
    latency: AlertOnly | None = None
    errors: AlertOnly | None = Field(None, description="Error-rate alert.")
    guardrail: Guardrail | None = None
    extraction_defence: ExtractionDefence | None = None
    logging: Logging | None = None
    alerting: Alerting = Field(default_factory=Alerting)
    rollback: Rollback | None = None
