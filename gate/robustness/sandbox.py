"""Stage verified bytes outside the release and run the child under limits, without network.

The bytes the child runs are the bytes the inventory hashed: every staged file is read once,
hashed while it is copied and compared with the inventory's sha256, so a file swapped after the
model-files check judged it is refused rather than run. The child gets a scrubbed environment
(`gate.childenv`), its own process group (killed whole on timeout), rlimits on address space,
CPU time and file size, and a network namespace of its own where `unshare` can make one
(otherwise its audit hooks refuse sockets).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from gate.childenv import child_env
from gate.errors import CheckError
from gate.robustness.models import Job, RunResult

CHUNK = 1024 * 1024
STDERR_MAX = 64 * 1024
RESULT_MAX = 256 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_s: int
    timeout_s: float
    file_mb: int = 512


class Changed(Exception):
    """A staged file's bytes differ from what the inventory hashed."""


def copy_verified(src: Path, dst: Path, sha256: str) -> None:
    """Copy through one descriptor, hashing what is copied; refuse bytes that are not the hashed ones."""
    h = hashlib.sha256()
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(src, flags)
    try:
        with os.fdopen(fd, "rb") as fin, open(dst, "xb") as fout:
            while block := fin.read(CHUNK):
                h.update(block)
                fout.write(block)
    except OSError as exc:
        raise Changed(f"{src.name}: cannot be read: {exc.strerror or exc}") from None
    if h.hexdigest() != sha256:
        raise Changed(f"{src.name}: bytes differ from those hashed when the release was read")


def read_verified(src: Path, sha256: str, max_bytes: int) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(src, flags)
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise Changed(f"{src.name}: cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise Changed(f"{src.name}: over {max_bytes} bytes")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise Changed(f"{src.name}: bytes differ from those hashed when the release was read")
    return data


@functools.cache
def network_namespace() -> bool:
    """Whether `unshare` can give a child a network namespace of its own (unprivileged)."""
    exe = shutil.which("unshare")
    if exe is None or not sys.platform.startswith("linux"):
        return False
    try:
        r = subprocess.run(
            [exe, "--net", "--map-root-user", "true"],
            env=child_env(),
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


@contextmanager
def job_dir(workdir: Path | None) -> Iterator[Path]:
    base = workdir if workdir is not None else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="model-gate-robustness-", dir=base))
    try:
        (path / "model").mkdir()
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_child(jobdir: Path, job: Job, limits: Limits, env: Mapping[str, str] | None = None) -> RunResult:
    (jobdir / "job.json").write_text(job.model_dump_json(), "utf-8")
    cmd = [
        sys.executable,
        "-s",  # no user site-packages; PYTHONPATH (the gate's own) is kept
        "-m",
        "gate.robustness.child",
        str(jobdir),
        str(limits.memory_mb),
        str(limits.cpu_s),
        str(limits.file_mb),
    ]
    isolation = "sockets and process starts refused by audit hooks"
    if network_namespace():
        cmd = [shutil.which("unshare") or "unshare", "--net", "--map-root-user", *cmd]
        isolation = "own network namespace (no interfaces); " + isolation
    extra = {
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=jobdir,
        env=child_env(extra=extra, parent=env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise CheckError(
            f"the classifier run was stopped after {limits.timeout_s:g} s (the policy's time limit)",
            hint="A model that needs longer, or a smaller evaluation set: raise "
            "checks.classifier-robustness.timeout_s or lower `samples`.",
        ) from None
    took = time.monotonic() - start
    text = err[-STDERR_MAX:].decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        last = text.splitlines()[-1] if text else ""
        if proc.returncode == 4 or "memory-limit" in text or "MemoryError" in text:
            raise CheckError(
                f"the classifier run was stopped: over the {limits.memory_mb} MiB memory limit",
                hint="Raise checks.classifier-robustness.memory_mb if the model genuinely needs it.",
            )
        if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and took < limits.timeout_s:
            raise CheckError(
                f"the classifier run was stopped: over the {limits.cpu_s} s CPU-time limit",
                hint="Raise checks.classifier-robustness.timeout_s or lower `samples`.",
            )
        raise CheckError(
            f"the classifier run failed (exit {proc.returncode}): {last[:300] or 'no message'}",
            hint="The model could not be run under the gate's limits; nothing was judged.",
        )
    path = jobdir / "result.json"
    try:
        if path.stat().st_size > RESULT_MAX:
            raise CheckError("the classifier run wrote an oversized result")
        result = RunResult.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError) as exc:
        raise CheckError(f"the classifier run left no readable result: {str(exc)[:200]}") from None
    return result.model_copy(update={"isolation": isolation})


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):  # a process that survives SIGKILL
        proc.communicate(timeout=10)
