"""What serving runtimes' command lines and environments say: authentication, TLS,
remote code, where the weights come from, content capture.

The flags are those of the common open-source servers (vLLM, Hugging Face TGI,
llama.cpp server, KServe's Hugging Face runtime, LiteLLM, uvicorn/gunicorn
fronts). An unknown runtime simply yields no evidence, and the release must then
show authentication and TLS some other way (Ingress, mesh, annotation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gate.checks.deployment.view import (
    CONTENT_CAPTURE_ENV,
    Container,
    ModelSource,
    ServingView,
    Where,
    Workload,
)

AUTH_FLAGS = ("--api-key", "--api-key-file", "--api_key", "--auth-token", "--basic-auth-file")
AUTH_ENV = ("VLLM_API_KEY", "LLAMA_API_KEY", "LITELLM_MASTER_KEY", "API_KEYS", "OPENAI_API_KEYS")
TLS_FLAGS = (
    "--ssl-certfile",
    "--ssl-keyfile",
    "--tls-cert",
    "--tls-certfile",
    "--certfile",
    "--ssl-cert-file",
    "--tls-cert-file",
)
TLS_ENV = ("SSL_CERTFILE", "TLS_CERT_FILE", "UVICORN_SSL_CERTFILE")
AUTH_PROXY_IMAGES = ("oauth2-proxy", "oauth2_proxy", "pomerium", "keycloak-gatekeeper", "envoy-ext-authz")
MODEL_FLAGS = (
    "--model",
    "--model-id",
    "--model_id",
    "--model-path",
    "--model_path",
    "--model-name-or-path",
    "--model_name_or_path",
    "--model-dir",
    "--model_dir",
)
MODEL_ENV = (
    "MODEL_ID",
    "HF_MODEL_ID",
    "MODEL_NAME_OR_PATH",
    "MODEL_PATH",
    "MODEL_DIR",
    "MODEL_URI",
    "STORAGE_URI",
)
REVISION_FLAGS = ("--revision", "--model-revision", "--code-revision")
REVISION_ENV = ("REVISION", "HF_REVISION", "MODEL_REVISION")
TRUST_FLAGS = ("--trust-remote-code", "--trust_remote_code")
TRUST_ENV = ("TRUST_REMOTE_CODE", "HF_TRUST_REMOTE_CODE", "VLLM_TRUST_REMOTE_CODE")
_TRUTHY = frozenset({"1", "true", "yes", "on", "y", "t"})
_TRUST_IN_TEXT = re.compile(r"trust[_-]remote[_-]code\s*[=:]\s*[\"']?(true|1|yes)\b", re.I)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}\b")
_URI = re.compile(r"^(?:oci|docker|hf|s3|gs|gcs|https?|pvc|azure|abfss?|wasbs?|hdfs|file)://", re.I)


def flag_values(argv: list[tuple[str, Where]], flags: tuple[str, ...]) -> list[tuple[str | None, Where]]:
    """Values of flags in an argv: `--f v`, `--f=v`, a bare `--f` (None); also inside one shell string."""
    out: list[tuple[str | None, Where]] = []
    tokens: list[tuple[str, Where]] = []
    for arg, where in argv:
        # `sh -c "vllm serve ... --api-key x"`: one argument holding a whole command line.
        parts = arg.split() if any(p.startswith("--") for p in arg.split()[1:]) else [arg]
        tokens += [(p, where) for p in parts]
    for i, (tok, where) in enumerate(tokens):
        for f in flags:
            if tok == f:
                nxt = tokens[i + 1][0] if i + 1 < len(tokens) else None
                out.append((None if nxt is None or nxt.startswith("--") else nxt, where))
            elif tok.startswith(f + "="):
                out.append((tok[len(f) + 1 :], where))
    return out


def _env_true(c: Container, names: tuple[str, ...]) -> list[tuple[str, Where]]:
    return [
        (f"{e.name}={e.value}", e.where)
        for e in c.env
        if e.name in names and e.value is not None and e.value.strip().lower() in _TRUTHY
    ]


@dataclass
class RemoteCodeHit:
    what: str
    where: Where


def trust_remote_code(w: Workload) -> list[RemoteCodeHit]:
    hits = [RemoteCodeHit(what, where) for what, where in w.trust_remote_code]
    for c in w.containers:
        for value, where in flag_values(c.argv, TRUST_FLAGS):
            if value is None or value.lower() in _TRUTHY:
                hits.append(RemoteCodeHit(f"{c.name}: --trust-remote-code", where))
        for what, where in _env_true(c, TRUST_ENV):
            hits.append(RemoteCodeHit(f"{c.name}: {what}", where))
        for arg, where in c.argv:
            if _TRUST_IN_TEXT.search(arg) and not any(h.where == where for h in hits):
                hits.append(RemoteCodeHit(f"{c.name}: trust_remote_code=True in the command", where))
    return hits


def remote_code_in_text(text: str) -> bool:
    return bool(_TRUST_IN_TEXT.search(text) or re.search(r'"trust_remote_code"\s*:\s*true', text, re.I))


def collect_evidence(view: ServingView) -> None:
    """Fill each workload's auth/TLS/content-capture evidence and model sources from argv and env."""
    for w in view.workloads:
        for c in w.containers:
            if c.image and any(p in c.image for p in AUTH_PROXY_IMAGES):
                w.auth.append(f"authenticating proxy container {c.name} ({c.image.split('@')[0]})")
            if any(v for v, _ in flag_values(c.argv, AUTH_FLAGS)):
                w.auth.append(f"{c.name}: server authentication flag (--api-key or similar)")
            for e in c.env:
                if e.name in AUTH_ENV and (e.ref or e.value):
                    w.auth.append(f"{c.name}: {e.name}")
            if any(v for v, _ in flag_values(c.argv, TLS_FLAGS)) or any(
                e.name in TLS_ENV and (e.value or e.ref) for e in c.env
            ):
                w.tls.append(f"{c.name}: server TLS certificate")
            for e in c.env:
                if e.name == CONTENT_CAPTURE_ENV and (e.value or "").strip().lower() in _TRUTHY:
                    w.capture_content.append(e.where)
            if c.init:
                continue
            revision = next((v for v, _ in flag_values(c.argv, REVISION_FLAGS) if v), None)
            env_rev = next((e.value for e in c.env if e.name in REVISION_ENV and e.value), None)
            for value, where in flag_values(c.argv, MODEL_FLAGS):
                if value:
                    w.model_sources.append(ModelSource(value, where, revision or env_rev))
            for e in c.env:
                if e.name in MODEL_ENV and e.value:
                    w.model_sources.append(ModelSource(e.value, e.where, revision or env_rev))
        w.auth = list(dict.fromkeys(w.auth))


@dataclass
class SourceVerdict:
    pinned: bool
    how: str  # why it is (or is not) pinned


def judge_source(src: ModelSource, w: Workload, image_pinned: bool) -> SourceVerdict:
    """Whether the weights named by `src` are pulled by an immutable reference."""
    value = src.value.strip()
    if value.startswith("release://"):
        return SourceVerdict(True, "the release's own files")
    if _DIGEST.search(value):
        return SourceVerdict(True, "pinned by sha256 digest")
    if value.startswith("/"):
        return _local_path(value, w, image_pinned)
    if value.lower().startswith("hf://") or (_HUB_ID.match(value) and not _URI.match(value)):
        repo, _, rev = value.removeprefix("hf://").partition("@")
        rev = rev or (src.revision or "")
        if _COMMIT.match(rev):
            return SourceVerdict(True, f"Hugging Face repository {repo} at commit {rev[:12]}")
        what = f"revision '{rev}' is not a commit hash" if rev else "no revision"
        return SourceVerdict(False, f"Hugging Face repository {repo} with {what}: the repository can change")
    if "versionId=" in value:
        return SourceVerdict(True, "object version id")
    if _URI.match(value):
        return SourceVerdict(
            False, f"{value.split('://')[0]}:// location without a digest: its content can change"
        )
    return SourceVerdict(True, "not a remote reference")


def _local_path(path: str, w: Workload, image_pinned: bool) -> SourceVerdict:
    best: tuple[str, str] | None = None
    for c in w.containers:
        for mount, vol in c.mounts:
            inside = mount and (path == mount or path.startswith(mount.rstrip("/") + "/"))
            if inside and (best is None or len(mount) > len(best[0])):
                best = (mount, vol)
    if best is None:
        how = "inside the image, which is pinned by digest" if image_pinned else "inside the image"
        return SourceVerdict(image_pinned, how)
    volume = w.volumes.get(best[1])
    if volume is None:
        return SourceVerdict(False, f"volume '{best[1]}' is not defined")
    if volume.kind == "image":
        ok = bool(volume.source and _DIGEST.search(volume.source))
        return SourceVerdict(ok, f"image volume {volume.source}" + ("" if ok else " not pinned by digest"))
    if volume.kind == "emptyDir":
        # Filled by an init container: judge what it downloads.
        inits = [c for c in w.containers if c.init and any(v == volume.name for _, v in c.mounts)]
        sources = [a for c in inits for a, _ in c.argv if _URI.match(a.strip()) or _DIGEST.search(a)]
        if sources and all(_DIGEST.search(s) for s in sources):
            return SourceVerdict(True, "downloaded by an init container by digest")
        if sources:
            return SourceVerdict(
                False, f"downloaded by an init container from {sources[0][:80]} without a digest"
            )
        return SourceVerdict(False, f"emptyDir volume '{volume.name}' filled by nothing the gate can pin")
    return SourceVerdict(False, f"{volume.kind} volume '{volume.name}': its content can change after review")
