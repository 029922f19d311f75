"""Check `deployment`: the serving manifests shipped with the release have no obvious holes.

Reads `serving.manifests` (Kubernetes YAML or serving.yaml), reduces them to
workloads and endpoints (gate.checks.deployment.view) and reports, with file
and line: endpoints without authentication, exposed endpoints without TLS,
privileged containers, host paths and host namespaces, secrets in plain text,
missing resource limits, trust_remote_code, images and weights not pinned by
digest, and a deployed model digest that is not the release's.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

from gate.checks.deployment.load import load_serving
from gate.checks.deployment.model_digest import release_digests
from gate.checks.deployment.runtime import flag_values, judge_source, remote_code_in_text, trust_remote_code
from gate.checks.deployment.secrets import KEY_FORMATS, SECRET_ARG_FLAGS, SecretHit, classify
from gate.checks.deployment.view import (
    AUTH_ANNOTATION,
    MODEL_DIGEST_ANNOTATION,
    Endpoint,
    ServingView,
    Where,
    Workload,
)
from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.models.base import StrictModel
from gate.models.finding import Finding, Rule, Severity
from gate.models.policy import Stricter
from gate.wording import article, count

CHECK = "deployment"
DIGEST_REF = r"@sha256:[0-9a-f]{64}$"
NOT_SERVERS = frozenset({"Job", "CronJob"})


def _rule(
    code: str, name: str, severity: Severity, summary: str, why: str, example: str, fix: str, **kw: Any
) -> Rule:
    return Rule(
        code=code,
        name=name,
        check=CHECK,
        severity=severity,
        summary=summary,
        why=why,
        example=example,
        fix=fix,
        **kw,
    )


RULES = (
    _rule(
        "GATE-DE001",
        "serving-manifest-invalid",
        Severity.HIGH,
        "A serving manifest cannot be read: invalid YAML, anchors where none are allowed, too large, "
        "or neither Kubernetes objects nor a valid serving.yaml.",
        "Nothing in an unreadable manifest can be checked, and the orchestrator would reject or misread it.",
        "`serving.manifests: [deploy/k8s.yaml]` where k8s.yaml has a tab-indented line.",
        "Fix the file at the line given; `kubectl apply --dry-run=client -f FILE` helps for Kubernetes.",
    ),
    _rule(
        "GATE-DE002",
        "endpoint-without-auth",
        Severity.HIGH,
        "A model endpoint accepts requests without authentication.",
        "Anyone who reaches an unauthenticated model can use it at your cost, extract it through its "
        "answers and attack it with no trace of who did; quotas and abuse alerts need an identity.",
        "A Service in front of `vllm serve` started without `--api-key`, no auth annotations on the "
        "Ingress and no mesh authorization policy.",
        "Require a credential: `VLLM_API_KEY` from a Secret (vLLM), an authenticating Ingress "
        "(`nginx.ingress.kubernetes.io/auth-url`), an Istio AuthorizationPolicy requiring principals, or "
        f"an authenticating proxy; if authentication happens elsewhere, say so with the `{AUTH_ANNOTATION}` "
        "annotation.",
        technique=("LLM10:2025", "AML.T0040", "AML.T0024.002"),
    ),
    _rule(
        "GATE-DE003",
        "exposed-endpoint-without-tls",
        Severity.HIGH,
        "An endpoint reachable from outside the cluster or host does not use TLS.",
        "Prompts, answers and API keys cross the network in clear text; anyone on the path can read "
        "or change them.",
        "An Ingress without `spec.tls`, or a Service of type LoadBalancer to a server without a certificate.",
        "Add `spec.tls` with a certificate for every host of the Ingress, terminate TLS at the load "
        "balancer, or start the server with a certificate (`--ssl-certfile`/`--ssl-keyfile`).",
    ),
    _rule(
        "GATE-DE004",
        "privileged-container",
        Severity.CRITICAL,
        "A container runs privileged or adds powerful Linux capabilities.",
        "A privileged container is root on the node: a model-server exploit (or a malicious model file) "
        "becomes a node and cluster compromise.",
        "`securityContext: {privileged: true}` or `capabilities: {add: [SYS_ADMIN]}`.",
        "Remove `privileged: true` and the added capabilities; GPUs need the device plugin, not privileges.",
    ),
    _rule(
        "GATE-DE005",
        "host-path-mounted",
        Severity.HIGH,
        "A pod mounts a directory of the host (hostPath).",
        "Host paths let a compromised server read or change the node's files (credentials, container "
        "runtime socket, other pods' data), and weights read from a host path escape review.",
        "`volumes: [{name: models, hostPath: {path: /mnt/models}}]`.",
        "Use a PersistentVolumeClaim, an image volume pinned by digest or bake the files into the image; "
        "list a reviewed path under `allowed_host_paths` in the policy if it truly must stay.",
    ),
    _rule(
        "GATE-DE006",
        "host-namespace-shared",
        Severity.HIGH,
        "A pod shares the host's network, process or IPC namespace.",
        "With hostNetwork the server listens on the node's interfaces, past network policies; hostPID "
        "and hostIPC expose other processes on the node.",
        "`hostNetwork: true` on a vLLM Deployment.",
        "Remove hostNetwork/hostPID/hostIPC and expose the server through a Service.",
    ),
    _rule(
        "GATE-DE007",
        "secret-in-plain-text",
        Severity.HIGH,
        "A secret (API key, token, password, private key) is written in a manifest in plain text.",
        "Everyone who can read the release, the repository or `kubectl get -o yaml` can read the secret, "
        "and it cannot be rotated without a new release.",
        "`env: [{name: HF_TOKEN, value: hf_...}]` or `args: [--api-key, s3cr3t]`.",
        "Move it to a Secret (or an external secret store) and reference it with `valueFrom.secretKeyRef`; "
        "rotate the exposed value.",
        technique=("LLM02:2025",),
    ),
    _rule(
        "GATE-DE008",
        "resource-limits-missing",
        Severity.MEDIUM,
        "A container has no CPU or memory limit.",
        "Without limits one flood of long prompts can starve the node and every other workload on it "
        "(unbounded consumption).",
        "A model-server container with `resources: {requests: {cpu: 2}}` and no `limits`.",
        "Set `resources.limits.cpu` and `resources.limits.memory` (and the GPU count) for every container.",
        technique=("LLM10:2025",),
    ),
    _rule(
        "GATE-DE009",
        "trust-remote-code-enabled",
        Severity.HIGH,
        "The server is started with trust_remote_code enabled.",
        "With trust_remote_code the server imports and runs Python from the model repository when the "
        "model loads: whoever can change that repository runs code in your serving environment.",
        "`args: [--model, org/model, --trust-remote-code]` or `TRUST_REMOTE_CODE=true`.",
        "Remove the flag; use an architecture that ships with the serving library, or vendor and review "
        "the code in the image.",
        technique=("LLM03:2025", "AML.T0011.000"),
    ),
    _rule(
        "GATE-DE010",
        "image-not-pinned-by-digest",
        Severity.HIGH,
        "A container image is referenced by a tag, not by its digest.",
        "A tag can be moved to other bytes at any time: what runs is not what was reviewed, and a "
        "compromised registry account changes production silently.",
        "`image: vllm/vllm-openai:latest`.",
        "Reference the image as `name@sha256:<digest>` (e.g. from `crane digest` or `docker "
        "buildx imagetools inspect`).",
        technique=("LLM03:2025",),
    ),
    _rule(
        "GATE-DE011",
        "weights-not-pinned-by-digest",
        Severity.HIGH,
        "The model weights are pulled from a location whose content can change.",
        "A model id without a commit, a bucket path or a shared volume can serve other weights than the "
        "ones this release was judged on.",
        "`--model org/model` without `--revision <commit>`, or `storageUri: s3://bucket/model/`.",
        "Pull weights by digest (`oci://...@sha256:`, an image volume by digest), pin a Hugging Face "
        "commit with `--revision`, or bake them into the image pinned by digest.",
        technique=("LLM03:2025", "AML.T0010"),
    ),
    _rule(
        "GATE-DE012",
        "model-digest-not-declared",
        Severity.HIGH,
        f"No serving workload names the model digest it deploys (annotation `{MODEL_DIGEST_ANNOTATION}`).",
        "Without it nothing ties what is deployed to this release: the review and the signature cover "
        "one model, production may run another.",
        "A Deployment without the annotation.",
        f"Add `{MODEL_DIGEST_ANNOTATION}: sha256:<digest>` to the workload (or its pod template), with "
        "the digest the gate reports; in serving.yaml set `model.digest`.",
    ),
    _rule(
        "GATE-DE013",
        "model-digest-mismatch",
        Severity.CRITICAL,
        "The model digest a serving manifest deploys is not the digest of this release's model.",
        "The manifest deploys a different model than the one reviewed and signed.",
        f"`{MODEL_DIGEST_ANNOTATION}: sha256:aaaa...` while the release's model files hash to sha256:bbbb...",
        "Point the manifest at this release's model and set the annotation to the digest in the finding.",
        waivable=False,
        technique=("LLM03:2025", "AML.T0010"),
    ),
    _rule(
        "GATE-DE014",
        "serving-workload-missing",
        Severity.HIGH,
        "The serving manifests declare no workload (Pod, Deployment, StatefulSet, "
        "InferenceService or serving.yaml).",
        "With nothing that runs the model, none of the deployment controls can be verified.",
        "`serving.manifests` naming only a Service.",
        "Include the manifest of the workload that serves the model.",
    ),
    _rule(
        "GATE-DE015",
        "workload-kind-unrecognised",
        Severity.MEDIUM,
        "A manifest object of a kind the gate does not know runs containers (it holds a pod spec).",
        "The gate checks its containers as it finds them, but a custom controller may add, "
        "replace or configure pods in ways the manifest does not show: a person should confirm "
        "what it runs.",
        "`kind: Workflow` (argoproj.io/v1alpha1) with a privileged container in a template.",
        "Review what the controller deploys; if it is a plain workload kind, this finding can be "
        "waived for it.",
    ),
)

DEFAULT_SECRET_NAMES = (
    "*_KEY",
    "*APIKEY*",
    "*API_KEY*",
    "*TOKEN*",
    "*PASSWORD*",
    "*PASSWD*",
    "*SECRET*",
    "*CREDENTIAL*",
    "*PRIVATE_KEY*",
)


class DeploymentConfig(StrictModel):
    require_auth: Annotated[bool, Stricter.ANY_TRUE] = Field(
        True, description="Every model endpoint needs authentication."
    )
    accept_declared_auth: Annotated[bool, Stricter.ALL_TRUE] = Field(
        True, description=f"Whether the `{AUTH_ANNOTATION}` annotation counts as authentication evidence."
    )
    required_limits: Annotated[tuple[str, ...], Stricter.UNION] = Field(
        ("cpu", "memory"), description="Resource limits every container must set."
    )
    allowed_host_paths: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        (), description="Host paths a pod may mount after review."
    )
    allowed_capabilities: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        ("NET_BIND_SERVICE",), description="Linux capabilities a container may add."
    )
    secret_name_patterns: Annotated[tuple[str, ...], Stricter.UNION] = Field(
        DEFAULT_SECRET_NAMES, description="Variable names (globs, case-insensitive) whose values are secrets."
    )
    secret_min_length: Annotated[int, Stricter.MIN] = Field(
        20, ge=8, description="Shortest nameless value judged by its entropy."
    )
    secret_min_entropy: Annotated[float, Stricter.MIN] = Field(
        4.0,
        gt=0,
        le=8,
        description="Shannon entropy (bits per character) from which a value counts as random.",
    )
    require_model_digest: Annotated[bool, Stricter.ANY_TRUE] = Field(
        True, description=f"A serving workload must carry `{MODEL_DIGEST_ANNOTATION}`."
    )


def _where_kw(w: Where) -> dict[str, Any]:
    return {"path": w.path, "line": w.line, "detail": w.field}


class DeploymentCheck(Check):
    id = CHECK
    title = "Deployment"
    description = (
        "The serving manifests (Kubernetes or serving.yaml) require authentication, use TLS where exposed, "
        "run unprivileged with limits and no host access or plain secrets, keep trust_remote_code off, pull "
        "image and weights by digest, and deploy this release's model digest."
    )
    rules = RULES
    Config = DeploymentConfig

    def run(self, ctx: CheckContext) -> CheckOutcome:
        cfg: DeploymentConfig = ctx.config
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
        self, ctx: CheckContext, view: ServingView, cfg: DeploymentConfig
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
