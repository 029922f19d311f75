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
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from gate.childenv import child_env
from gate.errors import CheckError
from gate.robustness.models import Job, RunResult

CHUNK = 1024 * 1024
STDERR_MAX = 64 * 1024
RESULT_MAX = 256 * 1024 * 1024
IDLE_S = 600  # how long a started child waits to be told to run (beyond the run's own limit)


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


class Child:
    """The sandboxed child, started before the model may run: it loads its libraries while the
    parent's checks judge the release, and runs nothing until `run_child` says so. Its job
    directory holds nothing of the release until then: the model is staged only after the
    checks it must wait for passed. `close` ends a child that was never told to run (end of
    standard input: it exits without reading anything) and removes its directory."""

    def __init__(self, workdir: Path | None, limits: Limits, env: Mapping[str, str] | None = None) -> None:
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="model-gate-robustness-", dir=workdir))
        (self.dir / "model").mkdir()
        self.limits = limits
        cmd = [
            sys.executable,
            "-s",  # no user site-packages; PYTHONPATH (the gate's own) is kept
            "-m",
            "gate.robustness.child",
            str(self.dir),
            str(limits.memory_mb),
            str(limits.cpu_s),
            str(limits.file_mb),
            str(limits.timeout_s + IDLE_S),
        ]
        self.isolation = "sockets and process starts refused by audit hooks"
        if network_namespace():
            cmd = [shutil.which("unshare") or "unshare", "--net", "--map-root-user", *cmd]
            self.isolation = "own network namespace (no interfaces); " + self.isolation
        extra = {
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0",
        }
        try:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.dir,
                env=child_env(extra=extra, parent=env),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self._end = weakref.finalize(self, _end, self.proc, self.dir)

    def close(self) -> None:
        self._end()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _end(proc: subprocess.Popen[bytes], path: Path) -> None:
    if proc.returncode is None:
        # Never told to run: it holds nothing of the release, and it may still be importing.
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # a process that survives SIGKILL
            proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stderr):
        with contextlib.suppress(OSError):
            if stream is not None:
                stream.close()
    shutil.rmtree(path, ignore_errors=True)


def run_child(child: Child, job: Job) -> RunResult:
    """Run the staged model: the one place the gate executes model content."""
    limits = child.limits
    (child.dir / "job.json").write_text(job.model_dump_json(), "utf-8")
    start = time.monotonic()
    try:
        _, err = child.proc.communicate(b"run\n", timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        _kill(child.proc)
        raise CheckError(
            f"the classifier run was stopped after {limits.timeout_s:g} s (the policy's time limit)",
            hint="A model that needs longer, or a smaller evaluation set: raise "
            "checks.classifier-robustness.timeout_s or lower `samples`.",
        ) from None
    except BrokenPipeError:  # the child ended before it was told to run
        _, err = child.proc.communicate()
    proc = child.proc
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
    path = child.dir / "result.json"
    try:
        if path.stat().st_size > RESULT_MAX:
            raise CheckError("the classifier run wrote an oversized result")
        result = RunResult.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError) as exc:
        raise CheckError(f"the classifier run left no readable result: {str(exc)[:200]}") from None
    return result.model_copy(update={"isolation": child.isolation})


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):  # a process that survives SIGKILL
        proc.communicate(timeout=10)
