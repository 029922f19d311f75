"""One view of how a model is served, whatever format described it.

Kubernetes manifests and serving.yaml are both reduced to workloads (what
runs), endpoints (how it is reached) and loose configuration values, each
remembering file and line. The deployment check judges this view; the
monitoring check reads it for its cross-checks (exported metrics, content
capture, authentication and rate limits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gate.checks.configfile import Problem

MODEL_DIGEST_ANNOTATION = "model-gate.dev/model-digest"
AUTH_ANNOTATION = "model-gate.dev/auth"
RATE_LIMIT_ANNOTATION = "model-gate.dev/rate-limit"
EXPORTED_METRICS_ANNOTATION = "model-gate.dev/exported-metrics"
METRIC_LABELS_ANNOTATION = "model-gate.dev/metric-labels"
CONTENT_CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@dataclass(frozen=True)
class Where:
    path: str
    line: int | None
    field: str | None = None


@dataclass
class EnvVar:
    name: str
    value: str | None  # the literal value; None when it comes from a reference
    ref: str | None  # secretKeyRef, configMapKeyRef, fieldRef, secret_ref, ...
    where: Where


@dataclass
class Container:
    name: str
    image: str | None
    where: Where
    image_where: Where
    argv: list[tuple[str, Where]] = field(default_factory=list)  # command, then args
    env: list[EnvVar] = field(default_factory=list)
    privileged: Where | None = None
    capabilities: list[tuple[str, Where]] = field(default_factory=list)
    limits: dict[str, str] = field(default_factory=dict)
    limits_where: Where | None = None
    host_ports: list[tuple[int, Where]] = field(default_factory=list)
    mounts: list[tuple[str, str]] = field(default_factory=list)  # (mount path, volume name)
    init: bool = False

    def env_value(self, name: str) -> EnvVar | None:
        return next((e for e in self.env if e.name == name), None)


@dataclass
class Volume:
    name: str
    kind: str  # hostPath, image, persistentVolumeClaim, emptyDir, configMap, secret, ...
    source: str | None
    where: Where


@dataclass
class ModelSource:
    """A place the weights are pulled from, as written in the manifest."""

    value: str
    where: Where
    revision: str | None = None  # a separate revision argument, when given


@dataclass
class Workload:
    kind: str
    name: str
    namespace: str | None
    where: Where
    containers: list[Container] = field(default_factory=list)
    volumes: dict[str, Volume] = field(default_factory=dict)
    host_namespaces: list[tuple[str, Where]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # pod labels
    annotations: dict[str, tuple[str, Where]] = field(default_factory=dict)  # workload and pod template
    model_sources: list[ModelSource] = field(
        default_factory=list
    )  # declared outside argv (KServe, serving.yaml)
    model_digest: tuple[str, Where] | None = None
    trust_remote_code: list[tuple[str, Where]] = field(default_factory=list)  # declared outside argv/env
    auth: list[str] = field(default_factory=list)  # authentication evidence found for this workload
    tls: list[str] = field(default_factory=list)
    rate_limits: list[str] = field(default_factory=list)
    exported_metrics: list[str] | None = None
    metric_labels: list[str] = field(default_factory=list)
    capture_content: list[Where] = field(default_factory=list)

    def all_containers(self) -> list[Container]:
        return self.containers


@dataclass
class Endpoint:
    kind: str  # Service, Ingress, serving.yaml, hostPort
    name: str
    where: Where
    exposed: bool
    exposure: str  # why it counts as exposed (or not)
    targets: list[Workload] = field(default_factory=list)
    tls: list[str] = field(default_factory=list)
    tls_gaps: list[str] = field(default_factory=list)  # hosts served without TLS
    auth: list[str] = field(default_factory=list)
    rate_limits: list[str] = field(default_factory=list)


@dataclass
class PlainValue:
    """A configuration value stored in the manifests in plain text (ConfigMap data, Secret data)."""

    owner: str  # e.g. "ConfigMap model-config"
    key: str
    value: str
    where: Where


@dataclass
class ServingView:
    files: list[str] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    plain_values: list[PlainValue] = field(default_factory=list)
    secret_objects: list[tuple[str, Where, list[str]]] = field(default_factory=list)  # name, where, keys
    problems: list[Problem] = field(default_factory=list)
    ignored_kinds: list[str] = field(default_factory=list)
    # Workloads of kinds the gate does not know, found by their pod specs: (kind, name, where).
    shape_workloads: list[tuple[str, str, Where]] = field(default_factory=list)
    monitors: list[tuple[str, list[str]]] = field(default_factory=list)  # ServiceMonitor/PodMonitor -> labels

    @property
    def valid(self) -> bool:
        return not self.problems

    def exported_metrics(self) -> list[str] | None:
        """Union of what the workloads say they export; None when none says anything."""
        lists = [w.exported_metrics for w in self.workloads if w.exported_metrics is not None]
        if not lists:
            return None
        return sorted({m for lst in lists for m in lst})
