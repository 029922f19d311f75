"""The `deployment` check: the serving manifests shipped with the release have no obvious holes.

Reads `serving.manifests` (Kubernetes YAML or serving.yaml), reduces them to workloads
and endpoints (`load`, `view`) and reports, with file and line: endpoints without
authentication, exposed endpoints without TLS, privileged containers, host paths and
host namespaces, secrets in plain text, missing resource limits, trust_remote_code,
images and weights not pinned by digest, and a deployed model digest that is not the
release's.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from gate.checks.deployment.config import DeploymentConfig
from gate.checks.deployment.load import load_serving
from gate.checks.deployment.model_digest import release_digests
from gate.checks.deployment.rules import CHECK, RULES
from gate.checks.deployment.runtime import flag_values, judge_source, remote_code_in_text, trust_remote_code
from gate.checks.deployment.secrets import KEY_FORMATS, SECRET_ARG_FLAGS, SecretHit, classify
from gate.checks.deployment.view import MODEL_DIGEST_ANNOTATION, Endpoint, ServingView, Where, Workload
from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.models.finding import Finding, Severity
from gate.wording import article, count

DIGEST_REF = r"@sha256:[0-9a-f]{64}$"
NOT_SERVERS = frozenset({"Job", "CronJob"})


class _Located(TypedDict):
    """Where a finding points, as keyword arguments of `Check.finding`."""

    path: str
    line: int | None
    detail: str | None


def _where_kw(w: Where) -> _Located:
    return {"path": w.path, "line": w.line, "detail": w.field}


class DeploymentCheck(Check[DeploymentConfig]):
    id = CHECK
    title = "Deployment"
    description = (
        "The serving manifests (Kubernetes or serving.yaml) require authentication, use TLS where exposed, "
        "run unprivileged with limits and no host access or plain secrets, keep trust_remote_code off, pull "
        "image and weights by digest, and deploy this release's model digest."
    )
    rules = RULES

    def run(self, ctx: CheckContext[DeploymentConfig]) -> CheckOutcome:
        cfg = ctx.config
        rels = ctx.manifest.serving.manifests
        if not rels:
            return CheckOutcome(
                summary="release.yaml declares no serving manifests (serving.manifests)", skipped=True
            )
        view = load_serving(ctx.release.root, rels)
        findings: list[Finding] = []
        for p in view.problems:
            findings.append(
                self.finding(
                    "serving-manifest-invalid",
                    f"{p.path}: {p.message}",
                    path=p.path,
                    line=p.line,
                    detail=p.field,
                    key=p.message[:80],
                )
            )
        for kind, name, where in view.shape_workloads:
            findings.append(
                self.finding(
                    "workload-kind-unrecognised",
                    f"{kind} {name} runs containers but is not a workload kind the gate knows; "
                    "its pod specs were found by shape and checked",
                    path=where.path,
                    line=where.line,
                    key=f"{kind} {name}",
                    evidence={"kind": kind, "name": name},
                )
            )
        if not view.workloads and not view.problems:
            findings.append(
                self.finding(
                    "serving-workload-missing",
                    "The serving manifests contain no workload that runs the model",
                    path=rels[0],
                )
            )
        findings += self._auth_and_tls(view, cfg)
        for w in view.workloads:
            findings += self._workload(w, cfg)
        findings += self._plain(view, cfg)
        digest_findings, digest_details = self._model_digest(ctx, view, cfg)
        findings += digest_findings
        details = {
            "files": view.files,
            "workloads": [f"{w.kind} {w.name}" for w in view.workloads],
            "endpoints": [
                {"kind": e.kind, "name": e.name, "exposed": e.exposed, "tls": e.tls, "auth": e.auth}
                for e in view.endpoints
            ],
            "authentication": {f"{w.kind} {w.name}": w.auth for w in view.workloads},
            "ignored_kinds": sorted(set(view.ignored_kinds)),
            "model_digest": digest_details,
        }
        blocking_like = sum(1 for f in findings if f.severity >= Severity.HIGH)
        summary = (
            f"{len(view.files)} manifest file(s), {len(view.workloads)} workload(s), {len(view.endpoints)} "
            f"endpoint(s); {count(len(findings), 'problem')}, {blocking_like} high or critical"
        )
        return CheckOutcome(findings=findings, summary=summary, details=details)

    # -- authentication and TLS ----------------------------------------------------------

    def _auth_and_tls(self, view: ServingView, cfg: DeploymentConfig) -> list[Finding]:
        out: list[Finding] = []

        def auth_of(w: Workload) -> list[str]:
            return [a for a in w.auth if cfg.accept_declared_auth or not a.startswith("declared by")]

        def ep_auth(e: Endpoint) -> list[str]:
            return [a for a in e.auth if cfg.accept_declared_auth or not a.startswith("declared by")]

        covered: set[int] = set()
        for ep in view.endpoints:
            if ep.kind == "Service" and not ep.targets:
                continue  # selects nothing the release ships: not this model's endpoint
            covered.update(id(t) for t in ep.targets)
            authed = bool(ep_auth(ep)) or (bool(ep.targets) and all(auth_of(t) for t in ep.targets))
            if cfg.require_auth and not authed:
                out.append(
                    self.finding(
                        "endpoint-without-auth",
                        f"{ep.kind} {ep.name} ({ep.exposure}) reaches the model without authentication",
                        key=f"{ep.kind}/{ep.name}",
                        evidence={"targets": [f"{t.kind} {t.name}" for t in ep.targets]},
                        **_where_kw(ep.where),
                    )
                )
            if not ep.exposed:
                continue
            if ep.kind == "Ingress":
                tls_ok = bool(ep.tls) and not ep.tls_gaps
            else:
                tls_ok = bool(ep.tls) or (bool(ep.targets) and all(t.tls for t in ep.targets))
            if not tls_ok:
                gap = f" for host(s) {', '.join(ep.tls_gaps)}" if ep.tls_gaps else ""
                out.append(
                    self.finding(
                        "exposed-endpoint-without-tls",
                        f"{ep.kind} {ep.name} is exposed ({ep.exposure}) without TLS{gap}",
                        key=f"{ep.kind}/{ep.name}",
                        evidence={"hosts_without_tls": ep.tls_gaps},
                        **_where_kw(ep.where),
                    )
                )
        for w in view.workloads:
            if id(w) in covered or w.kind in NOT_SERVERS or not cfg.require_auth or auth_of(w):
                continue
            out.append(
                self.finding(
                    "endpoint-without-auth",
                    f"{w.kind} {w.name} serves without authentication (no endpoint in the "
                    "manifests adds any)",
                    key=f"{w.kind}/{w.name}",
                    **_where_kw(w.where),
                )
            )
        return out

    # -- one workload ---------------------------------------------------------------------

    def _workload(self, w: Workload, cfg: DeploymentConfig) -> list[Finding]:
        out: list[Finding] = []
        label = f"{w.kind} {w.name}"
        for name, where in w.host_namespaces:
            out.append(
                self.finding(
                    "host-namespace-shared",
                    f"{label}: {name}: true",
                    key=f"{label}/{name}",
                    **_where_kw(where),
                )
            )
        for vol in w.volumes.values():
            if vol.kind == "hostPath" and (vol.source or "") not in cfg.allowed_host_paths:
                out.append(
                    self.finding(
                        "host-path-mounted",
                        f"{label}: volume '{vol.name}' mounts host path {vol.source or '(empty)'}",
                        key=f"{label}/{vol.name}",
                        evidence={"host_path": vol.source},
                        **_where_kw(vol.where),
                    )
                )
        images_pinned = all(c.image is None or _pinned_image(c.image) for c in w.containers)
        for c in w.containers:
            cl = f"{label}, container {c.name}"
            if c.privileged:
                out.append(
                    self.finding(
                        "privileged-container",
                        f"{cl} runs privileged",
                        key=f"{cl}/privileged",
                        **_where_kw(c.privileged),
                    )
                )
            for cap, where in c.capabilities:
                if cap.upper().removeprefix("CAP_") not in {a.upper() for a in cfg.allowed_capabilities}:
                    out.append(
                        self.finding(
                            "privileged-container",
                            f"{cl} adds the {cap} capability",
                            key=f"{cl}/cap/{cap}",
                            severity=Severity.HIGH,
                            **_where_kw(where),
                        )
                    )
            missing = [k for k in cfg.required_limits if k not in c.limits]
            if missing:
                out.append(
                    self.finding(
                        "resource-limits-missing",
                        f"{cl} has no {' or '.join(missing)} limit",
                        key=f"{cl}/limits",
                        evidence={"missing": missing, "limits": c.limits},
                        **_where_kw(c.limits_where or c.where),
                    )
                )
            if c.image is not None and not _pinned_image(c.image):
                out.append(
                    self.finding(
                        "image-not-pinned-by-digest",
                        f"{cl} uses image {c.image[:120]} by tag, not by digest",
                        key=f"{cl}/image",
                        evidence={"image": c.image[:200]},
                        **_where_kw(c.image_where),
                    )
                )
            elif c.image is None and w.kind != "serving.yaml" and not c.init:
                pass  # the orchestrator rejects it; KServe fills the image from its runtime
            for e in c.env:
                if e.value is None:
                    continue
                hit = classify(
                    e.value,
                    name=e.name,
                    patterns=cfg.secret_name_patterns,
                    min_length=cfg.secret_min_length,
                    min_entropy=cfg.secret_min_entropy,
                )
                if hit:
                    out.append(
                        self.finding(
                            "secret-in-plain-text",
                            f"{cl}: environment variable {e.name} holds {article(hit.kind)} in plain text",
                            key=f"{cl}/env/{e.name}",
                            evidence={"variable": e.name, "kind": hit.kind, "length": hit.length},
                            **_where_kw(e.where),
                        )
                    )
            for value, where in _secret_args(c.argv):
                out.append(
                    self.finding(
                        "secret-in-plain-text",
                        f"{cl}: a command-line argument holds {article(value)} in plain text",
                        key=f"{cl}/arg/{where.field}",
                        evidence={"kind": value},
                        **_where_kw(where),
                    )
                )
        for rc in trust_remote_code(w):
            out.append(
                self.finding(
                    "trust-remote-code-enabled",
                    f"{label}: {rc.what}",
                    key=f"{label}/{rc.where.field}",
                    **_where_kw(rc.where),
                )
            )
        for src in w.model_sources:
            verdict = judge_source(src, w, images_pinned)
            if not verdict.pinned:
                out.append(
                    self.finding(
                        "weights-not-pinned-by-digest",
                        f"{label}: weights from {src.value[:120]}: {verdict.how}",
                        key=f"{label}/{src.where.field}",
                        evidence={"source": src.value[:200], "revision": src.revision},
                        **_where_kw(src.where),
                    )
                )
        return out

    def _plain(self, view: ServingView, cfg: DeploymentConfig) -> list[Finding]:
        out: list[Finding] = []
        for pv in view.plain_values:
            hit = classify(
                pv.value if "\n" not in pv.value.strip() else "",
                name=pv.key,
                patterns=cfg.secret_name_patterns,
                min_length=cfg.secret_min_length,
                min_entropy=cfg.secret_min_entropy,
            ) or _key_format_in_text(pv.value)
            if hit:
                out.append(
                    self.finding(
                        "secret-in-plain-text",
                        f"{pv.owner}: key {pv.key} holds {article(hit.kind)} in plain text",
                        key=f"{pv.owner}/{pv.key}",
                        evidence={"key": pv.key, "kind": hit.kind, "length": hit.length},
                        **_where_kw(pv.where),
                    )
                )
            if remote_code_in_text(pv.value):
                out.append(
                    self.finding(
                        "trust-remote-code-enabled",
                        f"{pv.owner}: key {pv.key} enables trust_remote_code",
                        key=f"{pv.owner}/{pv.key}",
                        **_where_kw(pv.where),
                    )
                )
        for name, where, keys in view.secret_objects:
            out.append(
                self.finding(
                    "secret-in-plain-text",
                    f"Secret {name} is shipped in the manifests with its values ({', '.join(keys[:5])})",
                    key=f"Secret/{name}",
                    evidence={"keys": keys[:20]},
                    mitigation="Keep Secret objects out of the release; create them from a secret store at "
                    "deploy time and rotate the values that were shipped.",
                    **_where_kw(where),
                )
            )
        return out

    # -- model digest -----------------------------------------------------------------------

    def _model_digest(
        self, ctx: CheckContext[DeploymentConfig], view: ServingView, cfg: DeploymentConfig
    ) -> tuple[list[Finding], dict[str, Any]]:
        digests = release_digests(ctx.release)
        accepted = digests.accepted()
        details: dict[str, Any] = {
            "expected": digests.computed,
            "signed": digests.signed,
            "files": digests.files,
            "annotation": MODEL_DIGEST_ANNOTATION,
        }
        if digests.note:
            details["note"] = digests.note
        out: list[Finding] = []
        declared = [w for w in view.workloads if w.model_digest]
        for w in declared:
            value, where = w.model_digest or ("", Where("", None))
            details.setdefault("deployed", {})[f"{w.kind} {w.name}"] = value
            if accepted and value.strip().lower() not in accepted:
                out.append(
                    self.finding(
                        "model-digest-mismatch",
                        f"{w.kind} {w.name} deploys model {value[:80]}, but this release's model "
                        f"is {accepted[0]}",
                        key=f"{w.kind}/{w.name}",
                        evidence={"deployed": value[:100], "expected": accepted},
                        **_where_kw(where),
                    )
                )
        servers = [w for w in view.workloads if w.kind not in NOT_SERVERS]
        if cfg.require_model_digest and servers and not declared:
            w = servers[0]
            out.append(
                self.finding(
                    "model-digest-not-declared",
                    "No serving workload names the model digest it deploys; this release's is "
                    f"{accepted[0] if accepted else '(unknown)'}",
                    key="model-digest",
                    evidence={"expected": accepted},
                    **_where_kw(w.where),
                )
            )
        return out, details


def _pinned_image(image: str) -> bool:
    return re.search(DIGEST_REF, image.strip()) is not None


def _secret_args(argv: list[tuple[str, Where]]) -> list[tuple[str, Where]]:
    out: list[tuple[str, Where]] = []
    for value, where in flag_values(argv, SECRET_ARG_FLAGS):
        if value and not value.startswith(("$(", "${", "/")):
            out.append(("secret passed as a flag value", where))
    seen = {w for _, w in out}
    for arg, where in argv:
        if where in seen:
            continue
        for kind, pat in KEY_FORMATS:
            if pat.search(arg):
                out.append((kind, where))
                break
    return out


def _key_format_in_text(text: str) -> SecretHit | None:
    for kind, pat in KEY_FORMATS:
        if pat.search(text):
            return SecretHit(kind, len(text))
    return None
