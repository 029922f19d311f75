"""CPython's own unpickler as an oracle for the pickle walker, run in a child process.

The child reads streams (4-byte length + bytes) on stdin and answers one JSON line per stream:
the (module, name) pairs that `pickle.Unpickler` (the C one that pickle.load uses) or
`pickle._Unpickler` (the Python one, which joblib uses) passed to `find_class` before the stream
ended or failed. `find_class` is overridden to record the name and return an inert stub class
that accepts every call, so the unpickler goes as far as it possibly could with real classes.
Nothing is imported. The child runs under memory and CPU limits, with an alarm per stream.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
from typing import IO, Any


class _Stub:
    def __new__(cls, *a: Any, **k: Any) -> _Stub:
        return object.__new__(cls)

    def __init__(self, *a: Any, **k: Any) -> None:
        pass

    def __call__(self, *a: Any, **k: Any) -> _Stub:
        return _Stub()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, k: Any, v: Any) -> None:
        pass

    def append(self, x: Any) -> None:
        pass

    def extend(self, x: Any) -> None:
        pass

    def add(self, x: Any) -> None:
        pass


def _recording(base: type) -> type:
    class Recording(base):  # type: ignore[valid-type,misc]
        seen: list[tuple[str, str]]

        def find_class(self, module: str, name: str) -> type:
            self.seen.append((module, name))
            return type("Stub", (_Stub,), {})

        def persistent_load(self, pid: Any) -> _Stub:
            return _Stub()

    return Recording


C_UNPICKLER = _recording(pickle.Unpickler)
PY_UNPICKLER = _recording(pickle._Unpickler)  # type: ignore[attr-defined]


class _BytesOnly(io.BytesIO):
    """A file whose peek() shows all that is left: the C unpickler then holds the whole rest in its
    buffer and reads it as pickle.loads reads bytes (FRAME changes nothing)."""

    def peek(self, n: int = 0) -> bytes:
        return self.getvalue()[self.tell() :]


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def resolve(data: bytes) -> list[tuple[str, str]]:
    """Every name either unpickler looks up in `data` (first pickle only)."""
    seen: list[tuple[str, str]] = []
    # The C unpickler reading a file, the C unpickler over bytes (pickle.loads: FRAME boundaries
    # mean nothing to it) and the Python unpickler reading a file.
    for cls, src in ((C_UNPICKLER, io.BytesIO(data)), (C_UNPICKLER, data), (PY_UNPICKLER, io.BytesIO(data))):
        u = cls(src if not isinstance(src, bytes) else _BytesOnly(src))  # type: ignore[operator]
        u.seen = seen
        signal.setitimer(signal.ITIMER_REAL, 2.0)
        try:
            u.load()
        except (Exception, _Timeout):
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return seen


def main() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (600, 600))
    signal.signal(signal.SIGALRM, _alarm)
    inp, out = sys.stdin.buffer, sys.stdout
    while True:
        head = inp.read(4)
        if len(head) < 4:
            return
        (n,) = struct.unpack("<I", head)
        data = inp.read(n)
        out.write(json.dumps(sorted(set(resolve(data)))) + "\n")
        out.flush()


class Oracle:
    """A running oracle child; restarted when it dies."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")}
        return subprocess.Popen(
            [sys.executable, "-I", __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )

    def resolve(self, data: bytes) -> set[tuple[str, str]] | None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        stdin: IO[bytes] = self.proc.stdin  # type: ignore[assignment]
        stdout: IO[bytes] = self.proc.stdout  # type: ignore[assignment]
        try:
            stdin.write(struct.pack("<I", len(data)) + data)
            stdin.flush()
            line = stdout.readline()
        except BrokenPipeError:
            line = b""
        if not line:
            self.close()
            return None  # the child died on this stream (a resource limit): no answer
        return {(m, n) for m, n in json.loads(line)}

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


if __name__ == "__main__":
    main()
