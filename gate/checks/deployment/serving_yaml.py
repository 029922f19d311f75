"""serving.yaml: a small, documented description of how a model is served, for releases
that do not ship Kubernetes manifests (a VM, a managed endpoint, docker compose).

Versioned and strict (unknown keys are errors). It says the same things a
Kubernetes manifest would, so both are judged by the same rules.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from gate.checks.configfile import ConfigFileError, Problem, first_line, load_one
from gate.checks.deployment.view import (
    CONTENT_CAPTURE_ENV,
    Container,
    Endpoint,
    EnvVar,
    ModelSource,
    ServingView,
    Volume,
    Where,
    Workload,
)
from gate.models.base import StrictModel, describe_validation_error
from gate.models.manifest import Digest
from gate.yamlsafe import YamlDoc, YamlPath, format_path

SERVING_VERSION = 1
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class ServingModel(StrictModel):
    source: str = Field(
        min_length=1,
        description="Where the weights are pulled from, pinned: oci://...@sha256:<hex>, "
        "hf://org/name@<40-hex commit>, or release:// for the release's own files.",
    )
    digest: Digest | None = Field(None, description="The model digest being served (see the docs).")
    trust_remote_code: bool = False


class EnvEntry(StrictModel):
    name: str
    value: str | None = Field(None, description="A plain value: never a secret.")
    secret_ref: str | None = Field(
        None, description="Reference to a secret store entry, e.g. vault:path#key."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError("must be an environment variable name")
        return v


class Tls(StrictModel):
    cert_file: str = Field(min_length=1)
    key_file: str = Field(min_length=1)
    min_version: Literal["1.2", "1.3"] = "1.2"


class Auth(StrictModel):
    type: Literal["api-key", "oidc", "mtls", "none"]
    header: str | None = None
    issuer: str | None = None


class RateLimit(StrictModel):
    requests_per_minute: int | None = Field(None, gt=0)
    per_key_quota: str | None = None


class ServingEndpoint(StrictModel):
    listen: str = Field(description="host:port the server binds to.")
    exposed: bool = Field(description="Reachable from beyond the host (TLS then required).")
    tls: Tls | None = None
    auth: Auth
    rate_limit: RateLimit | None = None


class Resources(StrictModel):
    limits: dict[str, str | int | float] = Field(default_factory=dict)


class Security(StrictModel):
    privileged: bool = False
    host_network: bool = False
    host_paths: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()


class Metrics(StrictModel):
    path: str = "/metrics"
    exported: tuple[str, ...] = Field((), description="Metric names the server exports (globs allowed).")
    labels: tuple[str, ...] = Field((), description="Labels on every exported metric.")


class Logging(StrictModel):
    capture_content: bool = False


class ServingFile(StrictModel):
    version: Literal[1]
    runtime: str = Field(min_length=1, description="vllm, tgi, triton, transformers, custom, ...")
    image: str | None = Field(None, description="Container image, by digest.")
    model: ServingModel
    args: tuple[str, ...] = ()
    env: tuple[EnvEntry, ...] = ()
    endpoint: ServingEndpoint
    resources: Resources = Field(default_factory=Resources)
    security: Security = Field(default_factory=Security)
    metrics: Metrics | None = None
    logging: Logging = Field(default_factory=Logging)


def looks_like_serving_yaml(doc: YamlDoc) -> bool:
    return isinstance(doc.data, dict) and "apiVersion" not in doc.data and "version" in doc.data


def parse_serving_yaml(root: Path, rel: str, doc: YamlDoc | None = None) -> ServingView:
    doc = doc if doc is not None else load_one(root, rel, allow_aliases=False)
    if not isinstance(doc.data, dict):
        raise ConfigFileError(Problem(rel, None, "expected a mapping at the top level"))
    try:
        spec = ServingFile.model_validate(doc.data)
    except ValidationError as exc:
        first = describe_validation_error(exc, rel, doc)[0]
        m = re.match(rf"^{re.escape(rel)}(?::(\d+))?: (.*)$", first, re.S)
        line = int(m.group(1)) if m and m.group(1) else None
        raise ConfigFileError(Problem(rel, line, m.group(2) if m else first)) from None
    return _view(spec, doc, rel)


def _view(spec: ServingFile, doc: YamlDoc, rel: str) -> ServingView:
    def at(*path: str | int) -> Where:
        # A field left out (no limits, no TLS) has no line: name the document's first line instead.
        p: YamlPath = tuple(path)
        return Where(rel, doc.line_of(p) or first_line(doc), format_path(p))

    w = Workload(kind="serving.yaml", name=spec.runtime, namespace=None, where=at("runtime"))
    c = Container(name=spec.runtime, image=spec.image, where=at("runtime"), image_where=at("image"))
    c.argv = [(a, at("args", i)) for i, a in enumerate(spec.args)]
    for i, e in enumerate(spec.env):
        c.env.append(
            EnvVar(
                e.name,
                e.value,
                "secret_ref" if e.secret_ref else None,
                at("env", i, "value" if e.value else "name"),
            )
        )
    if spec.security.privileged:
        c.privileged = at("security", "privileged")
    c.capabilities = [
        (cap, at("security", "capabilities", i)) for i, cap in enumerate(spec.security.capabilities)
    ]
    c.limits = {k: str(v) for k, v in spec.resources.limits.items()}
    c.limits_where = at("resources", "limits") if spec.resources.limits else at("resources")
    w.containers.append(c)
    if spec.security.host_network:
        w.host_namespaces.append(("host_network", at("security", "host_network")))
    for i, hp in enumerate(spec.security.host_paths):
        w.volumes[f"host_paths[{i}]"] = Volume(
            f"host_paths[{i}]", "hostPath", hp, at("security", "host_paths", i)
        )
    w.model_sources.append(ModelSource(spec.model.source, at("model", "source")))
    if spec.model.digest:
        w.model_digest = (spec.model.digest, at("model", "digest"))
    if spec.model.trust_remote_code:
        w.trust_remote_code.append(("model.trust_remote_code: true", at("model", "trust_remote_code")))
    ep_spec = spec.endpoint
    if ep_spec.auth.type != "none":
        w.auth.append(f"serving.yaml endpoint.auth: {ep_spec.auth.type}")
    if ep_spec.tls:
        w.tls.append("serving.yaml endpoint.tls")
    if ep_spec.rate_limit:
        w.rate_limits.append("serving.yaml endpoint.rate_limit")
    if spec.metrics is not None:
        w.exported_metrics = list(spec.metrics.exported) or None
        w.metric_labels = list(spec.metrics.labels)
    if spec.logging.capture_content:
        w.capture_content.append(at("logging", "capture_content"))
    if any(e.name == CONTENT_CAPTURE_ENV and (e.value or "").lower() == "true" for e in spec.env):
        w.capture_content.append(at("env"))
    ep = Endpoint(
        kind="serving.yaml",
        name=ep_spec.listen,
        where=at("endpoint"),
        exposed=ep_spec.exposed,
        exposure="endpoint.exposed: true" if ep_spec.exposed else "endpoint.exposed: false",
        targets=[w],
    )
    return ServingView(files=[rel], workloads=[w], endpoints=[ep])
