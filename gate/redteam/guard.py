"""The runtime guard in the loop: prepare it, start it on loopback, read what it decided.

release.yaml's `guard:` names the guard production puts in front of the endpoint.
The gate never runs it in its own process:

- A NeMo Guardrails config is release content. Loading it imports the release's
  `config.py` and `actions.py` (Python) and runs its Colang flows. The gate copies
  the config's files out of the release (the bytes the inventory hashed; a
  symlink or special file anywhere in it is refused), refuses Python unless the
  policy sets `guard_allow_python_actions`, refuses a config that names any
  network address of its own (every string holding '://', `import_paths`,
  an actions server), and replaces its `models:` section: the main model is the
  release's endpoint, the guard's own LLM calls go to the endpoint the policy
  names. The guard then runs in a child process (gate.redteam.guard_server) with
  the gate's allowlisted environment (no secret but the keys the policy grants,
  under variable names of the gate's choosing), resource limits, on 127.0.0.1.
- A Lakera-Guard-compatible service is only named by the release; its URL and
  credential come from the policy. The same child process screens each prompt
  with it and forwards what passes to the endpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from gate.childenv import child_env
from gate.errors import CheckError
from gate.extras import MissingExtraError, installed
from gate.models.base import StrictModel
from gate.redteam.guard_server import ServerSpec
from gate.safewrite import write_file
from gate.yamlsafe import load_text

CONFIG_NAMES = ("config.yml", "config.yaml")
MAX_CONFIG_FILES = 200
MAX_CONFIG_BYTES = 4 * 1024 * 1024
# Keys of a NeMo config that reach other machines or other files: a release may not set them.
REFUSED_KEYS = ("import_paths", "actions_server_url", "knowledge_base", "embedding_search_provider")
# NeMo task types that are the guard's own LLM calls, sent to the policy's guard LLM.
GUARD_TASK_MODELS = ("self_check_input", "self_check_output", "self_check_facts", "self_check_hallucination")
TARGET_KEY_VAR = "GUARD_TARGET_API_KEY"
GUARD_LLM_KEY_VAR = "GUARD_LLM_API_KEY"
GUARD_KEY_VAR = "GUARD_SERVICE_API_KEY"


class GuardRefused(CheckError):
    """The release's guard cannot be run under this policy (a check error: fail closed)."""


@dataclass(frozen=True)
class PreparedConfig:
    path: Path  # the gate's copy, rewritten
    digest: str  # over the release's files as they were copied
    python: tuple[str, ...]  # Python files the config holds (run only when the policy allows it)


def _walk_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk_strings(v, f"{path}[{i}]")


def prepare_nemo_config(
    release: Any,
    rel: str,
    dest: Path,
    *,
    allow_python: bool,
    main_url: str,
    main_model: str,
    guard_llm_url: str | None,
    guard_llm_model: str | None,
) -> PreparedConfig:
    """Copy the release's NeMo config (`rel`, a folder inside the release) to `dest`, checked and
    with its `models:` replaced. `release` is the gate's Release (root + inventory)."""
    where = f"release.yaml guard.config '{rel}'"
    root = Path(release.root).resolve()
    folder = (root / rel).resolve()
    if not folder.is_relative_to(root) or not folder.is_dir():
        raise GuardRefused(f"{where} is not a folder inside the release")
    prefix = folder.relative_to(root).as_posix()
    entries = list(release.inventory.under(prefix))
    bad = [e.path for e in entries if e.kind in ("symlink", "other")]
    if bad:
        raise GuardRefused(
            f"{where}: '{bad[0]}' is a symlink or special file; a guard config holds regular files only",
            hint="Replace links by the files themselves.",
        )
    files = [e for e in entries if e.kind == "file"]
    if len(files) > MAX_CONFIG_FILES or sum(e.size for e in files) > MAX_CONFIG_BYTES:
        raise GuardRefused(f"{where}: over {MAX_CONFIG_FILES} files or {MAX_CONFIG_BYTES} bytes")
    python = tuple(sorted(e.path for e in files if e.path.endswith((".py", ".pyc", ".pyw", ".so"))))
    if python and not allow_python:
        raise GuardRefused(
            f"{where} holds Python ({', '.join(python[:3])}): loading it would run code from the release",
            hint="Ship rails without Python actions, or let the policy run them in the guard's "
            "sandboxed child process (checks.adversarial.guard_allow_python_actions: true).",
        )
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    h = hashlib.sha256()
    texts: dict[str, bytes] = {}
    for e in sorted(files, key=lambda e: e.path):
        sub = e.path[len(prefix) :].lstrip("/") if prefix not in ("", ".") else e.path
        data = _read_nofollow(root / e.path)
        digest = hashlib.sha256(data).hexdigest()
        if e.sha256 and digest != e.sha256:
            raise GuardRefused(f"{where}: '{e.path}' changed while the gate ran (its digest differs)")
        h.update(f"{sub}\x00{digest}\n".encode())
        texts[sub] = data
        out = dest / sub
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    names = [n for n in CONFIG_NAMES if n in texts]
    if len(names) != 1:
        raise GuardRefused(f"{where}: expected one config.yml in the folder, found {len(names) or 'none'}")
    main_name = names[0]
    doc: dict[str, Any] = {}
    # NeMo Guardrails merges every YAML file of the folder into one configuration: each is judged.
    for sub in sorted(n for n in texts if n.endswith((".yml", ".yaml"))):
        label = f"release.yaml guard.config: {rel.rstrip('/')}/{sub}"
        data = load_text(
            texts[sub].decode("utf-8", "replace"), f"{rel.rstrip('/')}/{sub}", empty_ok=True
        ).data
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise GuardRefused(f"{label}: expected a mapping")
        for key in REFUSED_KEYS:
            if key in data:
                raise GuardRefused(
                    f"{label}: `{key}` is not allowed: the guard's peers come from the policy only"
                )
        if "models" in data and sub != main_name:
            raise GuardRefused(f"{label}: `models` belongs in {main_name}, whose models the gate replaces")
        for path, value in _walk_strings({k: v for k, v in data.items() if k != "models"}, ""):
            if "://" in value:
                raise GuardRefused(
                    f"{label}: {path} names an address ('{value[:60]}'): the guard's network "
                    "peers come from the policy, never from the release"
                )
        if sub == main_name:
            doc = data
    declared = doc.get("models") or []
    if not isinstance(declared, list):
        raise GuardRefused(
            f"release.yaml guard.config: {rel.rstrip('/')}/{main_name}: models: expected a list"
        )
    task_types = {str(m.get("type")) for m in declared if isinstance(m, dict)} - {"main", "None"}
    if task_types and guard_llm_url is None:
        raise GuardRefused(
            f"release.yaml guard.config: {rel.rstrip('/')}/{main_name}: declares models for "
            f"{', '.join(sorted(task_types))}, and the policy names no endpoint for the guard's own "
            "LLM calls (checks.adversarial.guard_llm_url)"
        )
    models: list[dict[str, Any]] = [
        _model("main", main_url, main_model, TARGET_KEY_VAR),
    ]
    if guard_llm_url is not None:
        for t in sorted(task_types | set(GUARD_TASK_MODELS)):
            models.append(_model(t, guard_llm_url, guard_llm_model or "guard", GUARD_LLM_KEY_VAR))
    doc["models"] = models
    (dest / main_name).unlink()
    write_file(dest / "config.yml", json.dumps(doc, indent=1), what="the guard's configuration")
    return PreparedConfig(dest, "sha256:" + h.hexdigest(), python)


def _model(kind: str, url: str, model: str, key_var: str) -> dict[str, Any]:
    return {
        "type": kind,
        "engine": "openai",
        "model": model,
        "api_key_env_var": key_var,
        "parameters": {"base_url": url, "max_retries": 0},
    }


def _read_nofollow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        return fh.read(MAX_CONFIG_BYTES + 1)


# --- the child process --------------------------------------------------------------------


def _limits() -> None:  # pragma: no cover - runs in the child between fork and exec
    import resource

    for limit, value in (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, 256 * 1024 * 1024),
        (resource.RLIMIT_NOFILE, 1024),
        (resource.RLIMIT_AS, 8 * 1024**3),
    ):
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(limit)
            cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (cap, hard))


@dataclass
class RunningGuard:
    url: str  # OpenAI-compatible base URL (…/v1) on 127.0.0.1
    decision_log: Path
    output: Path

    def decisions(self) -> list[dict[str, Any]]:
        return read_decisions(self.decision_log)


@contextlib.contextmanager
def start_guard(
    spec: ServerSpec,
    workdir: Path,
    *,
    secrets: Mapping[str, str],
    startup_timeout_s: float,
) -> Iterator[RunningGuard]:
    """Start gate.redteam.guard_server in a child process; stop its whole process group on exit."""
    if spec.kind == "nemo-guardrails" and not installed("nemoguardrails"):
        raise MissingExtraError("guard", "nemoguardrails", "the release's NeMo Guardrails guard")
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "guard-spec.json"
    write_file(spec_path, spec.model_dump_json(indent=1), what="the guard's run settings")
    out_path = workdir / "guard-output.txt"
    env = child_env(network=True, hf=True)
    env.update(
        NEMO_GUARDRAILS_NO_USAGE_STATS="1",
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        HOME=str(workdir),  # caches NeMo or its libraries write land in scratch space
        XDG_CACHE_HOME=str(workdir / "cache"),
    )
    env.update(secrets)
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gate.redteam.guard_server", str(spec_path)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_limits,  # noqa: PLW1509 - only resource limits, no Python state touched
        )
    try:
        port = _wait_ready(proc, Path(spec.ready_file), out_path, startup_timeout_s)
        yield RunningGuard(f"http://127.0.0.1:{port}/v1", Path(spec.decision_log), out_path)
    finally:
        _stop(proc)


def _tail(path: Path, n: int = 4) -> str:
    try:
        text = path.read_bytes()[-16384:].decode("utf-8", "replace")
    except OSError:
        return "(no output)"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(ln[:200] for ln in lines[-n:]) or "(no output)"


def _wait_ready(proc: subprocess.Popen[bytes], ready: Path, out: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            with contextlib.suppress(ValueError, OSError):
                return int(ready.read_text("utf-8").strip())
        if proc.poll() is not None:
            raise CheckError(
                f"the guard stopped before it answered (exit status {proc.returncode}): {_tail(out)}",
                hint="Run the guard's config by hand to see why it fails to load.",
            )
        time.sleep(0.1)
    raise CheckError(
        f"the guard did not start within {timeout:g} s: {_tail(out)}",
        hint="Raise checks.adversarial.guard_start_timeout_s, or check the guard's config.",
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5.0)
            return


def read_decisions(path: Path, limit: int = 64 * 1024 * 1024) -> list[dict[str, Any]]:
    try:
        if path.stat().st_size > limit:
            raise CheckError(f"the guard's decision log is over {limit} bytes")
        lines = path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for ln in lines:
        try:
            row = json.loads(ln)
        except ValueError:
            raise CheckError("the guard's decision log is not JSON lines (the guard crashed?)") from None
        if isinstance(row, dict) and row.get("decision") in ("blocked", "passed", "error"):
            out.append(row)
    return out


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()


# --- the benign prompt set ------------------------------------------------------------------


class BenignPrompt(StrictModel):
    id: str
    prompt: str
    topic: str


def load_benign() -> tuple[str, tuple[BenignPrompt, ...]]:
    """The packaged benign prompts (source and licence in the file's header) and their digest."""
    raw = resources.files("gate").joinpath("data", "redteam", "benign-prompts.jsonl").read_bytes()
    prompts = tuple(
        BenignPrompt.model_validate_json(ln)
        for ln in raw.decode("utf-8").splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    )
    return "sha256:" + hashlib.sha256(raw).hexdigest(), prompts


@dataclass(frozen=True)
class Screened:
    prompt_id: str
    decision: str
    seconds: float


def screen_prompts(url: str, prompts: Sequence[BenignPrompt], *, timeout_s: float) -> list[Screened]:
    """Send each prompt through the running guard once; the guard's header says what it decided."""
    out = []
    for p in prompts:
        body = json.dumps(
            {"model": "guarded", "max_tokens": 16, "messages": [{"role": "user", "content": p.prompt}]}
        ).encode()
        # The URL is the loopback address of the guard this module started.
        req = urllib.request.Request(url.rstrip("/") + "/chat/completions", data=body, method="POST")  # noqa: S310
        req.add_header("Content-Type", "application/json")
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - loopback URL of ours
                decision = resp.headers.get("X-Guard-Decision") or "error"
                resp.read()
        except urllib.error.HTTPError as exc:
            decision = exc.headers.get("X-Guard-Decision") or "error"
        except (urllib.error.URLError, OSError, TimeoutError):
            decision = "error"
        out.append(Screened(p.id, decision, time.perf_counter() - start))
    return out
