"""The policy settings of the `monitoring` check (its section under `checks.monitoring`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from gate.checks.monitoring.controls import checklist
from gate.checks.monitoring.promql import BUILTIN_SERIES
from gate.models.base import StrictModel
from gate.models.policy import Stricter

DEFAULT_PAGING = ("pagerduty_configs", "opsgenie_configs", "victorops_configs", "incidentio_configs")


class MonitoringConfig(StrictModel):
    required_controls: Annotated[tuple[str, ...], Stricter.UNION] = Field(
        (), description="Controls (ids or names) required at every tier, beyond the checklist's tiers."
    )
    min_log_retention_days: Annotated[int, Stricter.MAX] = Field(
        184, ge=0, description="Shortest interaction-log retention (six months is at most 184 days)."
    )
    max_latency_threshold_s: Annotated[float, Stricter.MIN] = Field(
        30.0, gt=0, description="Largest latency threshold an alert may use, in seconds."
    )
    max_error_rate_threshold: Annotated[float, Stricter.MIN] = Field(
        0.25, gt=0, le=1, description="Largest error ratio an error-rate alert may wait for."
    )
    max_drift_threshold: Annotated[float, Stricter.MIN] = Field(
        1.0, gt=0, description="Largest drift threshold in monitoring.yaml."
    )
    max_alert_for_minutes: Annotated[float, Stricter.MIN] = Field(
        60.0, gt=0, description="Longest `for` of an alerting rule."
    )
    critical_severities: Annotated[tuple[str, ...], Stricter.UNION] = Field(
        ("critical", "page"), description="`labels.severity` values that must page on-call."
    )
    paging_integrations: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        DEFAULT_PAGING, description="Alertmanager receiver integrations that page a human."
    )
    always_available_metrics: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        tuple(sorted(BUILTIN_SERIES)), description="Series that exist without an exporter (globs)."
    )
    require_promtool: Annotated[bool, Stricter.ANY_TRUE] = Field(
        False, description="Error (fail closed) when promtool is not installed, instead of noting it."
    )
    promtool_timeout_s: Annotated[float, Stricter.MAX] = Field(
        60.0, gt=0, le=600, description="Longest time promtool may take per rule file, in seconds."
    )

    @field_validator("required_controls")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for key in v:
            if checklist().find(key) is None:
                raise ValueError(f"unknown monitoring control '{key}'")
        return v
