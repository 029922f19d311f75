"""Run garak as a subprocess against a release's endpoint.

- The command is `python -m garak` of the interpreter running the gate unless
  the policy names another; its working directory is a scratch directory of
  ours (`python -m` puts it first on sys.path, so nothing in the release is
  importable by accident).
- garak's config, data and cache directories (XDG_*) point into a private
  directory outside the release, and HF_HUB_OFFLINE=1 keeps it off the hub.
- garak's environment is an allowlist (gate.childenv), never the gate's own:
  the only secret in it is the endpoint's key, read from the variable the
  policy names (gate.redteam.credential) and never written to a file.
- The run has a wall-clock limit; on expiry the whole process group is killed.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.childenv import child_env
from gate.errors import CheckError, ToolMissingError
from gate.extras import install_hint, installed
from gate.models.manifest import Endpoint, EndpointType
from gate.progress import Sink
from gate.redteam.models import Settings
from gate.safewrite import write_file

EXTRA_HINT = install_hint("redteam")
SUPPORTED = ((0, 17), (0, 18))  # >=0.17,<0.18, as pinned by the extra
CALLABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
# The variable garak's generator reads its key from, per endpoint type.
KEY_VARS = {EndpointType.OPENAI: "OPENAICOMPATIBLE_API_KEY", EndpointType.REST: "REST_API_KEY"}


@dataclass(frozen=True)
class Target:
    target_type: str
    target_name: str
    generators: dict[str, Any]
    key_var: str | None


def garak_command(configured: tuple[str, ...] | None) -> list[str]:
    return list(configured) if configured else [sys.executable, "-m", "garak"]


def garak_version(command: list[str], timeout: float = 60.0) -> str:
    """The version of the garak that `command` runs; ToolMissingError when there is none."""
    if command[1:] == ["-m", "garak"] and command[0] == sys.executable:
        spec = importlib.util.find_spec("garak") if installed("garak") else None
        if spec is None or spec.origin is None:
            raise ToolMissingError("garak is not installed in this Python environment", hint=EXTRA_HINT)
        version = _declared_version(Path(spec.origin)) or importlib.metadata.version("garak")
    else:
        try:
            proc = subprocess.run(
                [*command, "--version"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=child_env(hf=True),
            )
        except FileNotFoundError:
            raise ToolMissingError(f"garak command not found: {command[0]}", hint=EXTRA_HINT) from None
        except PermissionError:
            raise ToolMissingError(
                f"garak command is not executable: {command[0]}", hint=EXTRA_HINT
            ) from None
        except subprocess.TimeoutExpired:
            raise CheckError(
                f"'{' '.join(command)} --version' did not answer within {timeout:.0f} s"
            ) from None
        text = proc.stdout + proc.stderr
        if "No module named garak" in text:
            raise ToolMissingError(f"garak is not installed for {command[0]}", hint=EXTRA_HINT)
        m = re.search(r"\bv(\d+\.\d+[^\s]*)", text)
        if proc.returncode != 0 or not m:
            raise ToolMissingError(
                f"'{' '.join(command)} --version' did not report a garak version: {_last_line(text)}",
                hint=EXTRA_HINT,
            )
        version = m.group(1)
    nums = tuple(int(x) for x in re.findall(r"\d+", version)[:2])
    if not SUPPORTED[0] <= nums < SUPPORTED[1]:
        raise CheckError(
            f"garak {version} is not supported: model-gate supports garak >=0.17,<0.18",
            hint=EXTRA_HINT,
        )
    return version


def _declared_version(init: Path) -> str | None:
    """garak's `__version__` read from its source, without importing it (and 0.1 s of metadata scan)."""
    try:
        head = init.read_text("utf-8", "replace")[:4096]
    except OSError:
        return None
    m = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", head, re.M)
    return m.group(1) if m else None


def target_for(endpoint: Endpoint, release_root: Path, settings: Settings, *, keyed: bool = False) -> Target:
    """garak's target type, name and generator options for a release's endpoint; `keyed`: the
    policy grants this endpoint a credential."""
    kind = endpoint.type
    if kind is EndpointType.OPENAI:
        if not endpoint.url:
            raise CheckError("endpoint.url is required for an 'openai' endpoint")
        opts: dict[str, Any] = {"uri": endpoint.url, "max_tokens": settings.max_tokens}
        return Target(
            "openai.OpenAICompatible",
            endpoint.model or "model",
            {"openai": {"OpenAICompatible": opts}},
            KEY_VARS[kind],
        )
    if kind is EndpointType.REST:
        if not endpoint.url or not endpoint.request_template or "$INPUT" not in endpoint.request_template:
            raise CheckError("a 'rest' endpoint needs endpoint.url and a request_template containing $INPUT")
        headers = dict(endpoint.headers)
        if keyed and not any("$KEY" in v for v in headers.values()):
            headers["Authorization"] = "Bearer $KEY"
        headers.setdefault("Content-Type", "application/json")
        rest: dict[str, Any] = {
            "uri": endpoint.url,
            "method": "post",
            "req_template": endpoint.request_template,
            "headers": headers,
            "request_timeout": endpoint.timeout_s,
            "max_tokens": settings.max_tokens,
        }
        if endpoint.response_field:
            field = endpoint.response_field
            # garak reads a bare name as one key; a dotted path must be written as JSONPath.
            if not field.startswith("$") and "." in field:
                field = "$." + field
            rest |= {"response_json": True, "response_json_field": field}
        return Target("rest.RestGenerator", "rest", {"rest": {"RestGenerator": rest}}, KEY_VARS[kind])
    if kind is EndpointType.HUGGINGFACE:
        if not endpoint.path:
            raise CheckError("endpoint.path is required for a 'huggingface' endpoint")
        folder = (release_root / endpoint.path).resolve()
        if not folder.is_relative_to(release_root.resolve()) or not folder.is_dir():
            raise CheckError(f"endpoint.path '{endpoint.path}' is not a folder inside the release")
        hf = {
            "max_tokens": settings.max_tokens,
            "hf_args": {
                "device": "cpu",
                "torch_dtype": "float32",
                "do_sample": True,
                # Weights from the release are data: safetensors only, and no code from it runs.
                "trust_remote_code": False,
                "model_kwargs": {"use_safetensors": True},
            },
        }
        return Target("huggingface.Pipeline", str(folder), {"huggingface": {"Pipeline": hf}}, None)
    if kind is EndpointType.CALLABLE:
        if not endpoint.callable or not CALLABLE.match(endpoint.callable):
            raise CheckError("endpoint.callable must look like 'package.module:function'")
        module, _, func = endpoint.callable.partition(":")
        return Target("function.Single", f"{module}#{func}", {}, None)
    raise CheckError(f"endpoint type '{kind}' is not supported")  # pragma: no cover


@dataclass(frozen=True)
class GarakRun:
    report: Path
    hitlog: Path
    seconds: float
    returncode: int
    output_tail: str


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "it/s]" not in ln]
    return lines[-1][:300] if lines else "(no output)"


def meaningful_tail(text: str, n: int = 6) -> str:
    """The last lines of garak's output that say something (progress bars dropped)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and "it/s]" not in ln and "%|" not in ln]
    return "\n".join(ln[:300] for ln in lines[-n:])


def run_garak(
    *,
    command: list[str],
    target: Target,
    probes: list[str],
    settings: Settings,
    workdir: Path,
    home: Path,
    timeout_s: float,
    parallel_attempts: int,
    api_key: str | None,
    hub_offline: bool,
    progress: Sink | None = None,
    cached: int = 0,
) -> GarakRun:
    """Run garak on `probes`; `progress` hears how far it got, read from its report as it grows
    (`cached`: probes of this run already answered from the cache, counted as done)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for sub in ("config", "data", "cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    reports = workdir / "reports"
    config: dict[str, Any] = {
        "system": {
            "parallel_attempts": parallel_attempts if parallel_attempts > 1 else False,
            "lite": True,
            "narrow_output": True,
        },
        "run": {
            "generations": settings.generations,
            "soft_probe_prompt_cap": settings.prompt_cap,
            "seed": settings.seed,
        },
        "plugins": {
            "target_type": target.target_type,
            "target_name": target.target_name,
            "extended_detectors": settings.extended_detectors,
            "generators": target.generators,
        },
        "reporting": {
            "report_dir": str(reports),
            "report_prefix": "gate",
            # The gate computes its own intervals; garak's bootstrap only costs time.
            "confidence_interval_method": "none",
        },
    }
    cfg_path = workdir / "garak-config.json"
    write_file(cfg_path, json.dumps(config, indent=1), what="garak's configuration")
    env = child_env(network=True, hf=True)
    env.update(
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        PYTHONUNBUFFERED="1",
        TOKENIZERS_PARALLELISM="false",
    )
    if hub_offline:
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    if target.key_var:
        # garak's OpenAI-compatible generator quits (with exit 0) without a key, even for a keyless server.
        env[target.key_var] = api_key if api_key is not None else "no-key-required"
    spec = ",".join(f"probes.{p}" for p in probes)
    out_path = workdir / "garak-output.txt"
    start = time.perf_counter()
    with out_path.open("wb") as out:
        try:
            proc = subprocess.Popen(
                [*command, "--config", str(cfg_path), "--spec", spec],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise ToolMissingError(f"garak command not found: {command[0]}", hint=EXTRA_HINT) from None
        except PermissionError:
            raise ToolMissingError(
                f"garak command is not executable: {command[0]}", hint=EXTRA_HINT
            ) from None
        watcher = None
        if progress is not None:
            from gate.redteam.watch import ReportWatcher

            watcher = ReportWatcher(
                reports / "gate.report.jsonl", probes, timeout_s=timeout_s, sink=progress, cached=cached
            ).start()
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            tail = meaningful_tail(_read_tail(out_path))
            raise CheckError(
                f"garak did not finish within {timeout_s:g} s (endpoint hanging or too slow); stopped it. "
                f"Last output: {tail.splitlines()[-1] if tail else '(none)'}",
                hint="Check that the endpoint answers, "
                "or raise `timeout_s` in the policy's adversarial settings.",
            ) from None
        except BaseException:
            _kill(proc)
            raise
        finally:
            if watcher is not None:
                watcher.stop()
    took = time.perf_counter() - start
    text = _read_tail(out_path)
    if "No module named garak" in text:
        raise ToolMissingError(f"garak is not installed for {command[0]}", hint=EXTRA_HINT)
    return GarakRun(
        report=reports / "gate.report.jsonl",
        hitlog=reports / "gate.hitlog.jsonl",
        seconds=took,
        returncode=code,
        output_tail=meaningful_tail(text),
    )


def _read_tail(path: Path, limit: int = 64 * 1024) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop garak and every worker it started (it runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)
    # Workers (parallel attempts) may outlive the leader: the group goes down whole.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)
