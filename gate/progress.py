"""Progress events: what long work tells whoever watches it, and nothing else.

The libraries that do long work (the inventory's hashing, the engine's checks, the red-team run)
report through a callback they are given (`Sink`); they never draw anything and never decide where
output goes. The command layer turns the events into live bars on a terminal or a heartbeat line
in CI logs, always on standard error: reports on standard output stay byte-identical.

Events are small frozen values; a sink may be called from several threads at once (the inventory
hashes files in parallel) and must be cheap, since it runs inside the work it watches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bytes:
    """Bytes read so far by a pass over the release's files (`phase`: hashing, scanning)."""

    phase: str
    done: int
    total: int
    files_done: int
    files_total: int


@dataclass(frozen=True, slots=True)
class CheckStarted:
    check: str
    title: str
    index: int  # 1-based, among the checks that run
    count: int


@dataclass(frozen=True, slots=True)
class CheckFinished:
    check: str
    status: str  # a CheckStatus value: passed, warned, failed, skipped, error
    seconds: float
    index: int
    count: int


@dataclass(frozen=True, slots=True)
class Steps:
    """A long check's own counter (rows read, files scanned); `total` None when not known ahead."""

    check: str
    unit: str
    done: int
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Redteam:
    """garak's run as its report file grows: probes with results, attempts answered and judged."""

    probes_done: int
    probes_total: int
    attempts: int  # prompts answered by the endpoint (garak's status 1 rows)
    evaluated: int  # attempts the detectors have judged (status 2 rows)
    elapsed_s: float
    timeout_s: float
    cached: int = 0  # probes answered from the result cache, counted in probes_done


Event = Bytes | CheckStarted | CheckFinished | Steps | Redteam
Sink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The sink of a run nobody watches."""


class ByteMeter:
    """Counts bytes read by several threads and reports them at most every `every` seconds.

    Called once per chunk read (1 MiB) and once per file: a lock and an addition, so hashing
    speed is unchanged (a release of many small files does not call the sink once per file); the
    sink is called outside the lock when the interval has passed, and once at the end, so a
    renderer sees the final figures exactly.
    """

    def __init__(
        self,
        sink: Sink,
        phase: str,
        total: int,
        files_total: int,
        *,
        every: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink, self._phase, self._total, self._files_total = sink, phase, total, files_total
        self._every, self._clock = every, clock
        self._lock = threading.Lock()
        self._done = 0
        self._files = 0
        self._last = clock()

    def _event(self) -> Bytes:
        return Bytes(self._phase, self._done, self._total, self._files, self._files_total)

    def add(self, n: int = 0, files: int = 0) -> None:
        with self._lock:
            self._done += n
            self._files += files
            now = self._clock()
            if now - self._last < self._every:
                return
            self._last = now
            event = self._event()
        self._sink(event)

    def file_done(self) -> None:
        self.add(files=1)

    def finish(self) -> None:
        with self._lock:
            event = self._event()
        self._sink(event)
