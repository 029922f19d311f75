"""Follow garak's report.jsonl as it grows: probes finished, attempts answered and judged.

garak writes its report line by line while it runs (attempts with status 1 once the endpoint has
answered, again with status 2 once detectors have judged them, one `eval` row per probe and
detector when a probe is done). Reading that file is the only honest account of how far a run
got; garak's own progress bars go to its output, which is not parsed.

What is read here only feeds progress: the judgement reads the finished report again, with every
check of gate.redteam.report. So this reader is lenient (a line it cannot parse is passed over)
but bounded: it reads at most `max_read` bytes per poll, keeps no line longer than MAX_LINE, and
counts only probes that were asked for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from gate.progress import Redteam, Sink

MAX_LINE = 64 * 1024 * 1024
STARTED, COMPLETE = 1, 2  # garak.attempt.ATTEMPT_STARTED, ATTEMPT_COMPLETE


class ReportWatcher:
    """Counts a growing report: call `poll()` (or `start()` a thread that polls) and read the
    counts, or hear them through the sink as `gate.progress.Redteam` events."""

    def __init__(
        self,
        path: Path,
        probes: Iterable[str],
        *,
        timeout_s: float,
        sink: Sink,
        cached: int = 0,
        interval: float = 0.5,
        max_read: int = 4 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.wanted = frozenset(probes)
        self.timeout_s, self.sink, self.cached = timeout_s, sink, cached
        self.interval, self.max_read, self.clock = interval, max_read, clock
        self.attempts = 0
        self.evaluated = 0
        self.finished: set[str] = set()
        self._offset = 0
        self._partial = b""
        self._skipping = False  # inside an over-long line: drop bytes until its end
        self._start = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def event(self) -> Redteam:
        return Redteam(
            probes_done=self.cached + len(self.finished),
            probes_total=self.cached + len(self.wanted),
            attempts=self.attempts,
            evaluated=self.evaluated,
            elapsed_s=self.clock() - self._start,
            timeout_s=self.timeout_s,
            cached=self.cached,
        )

    def poll(self) -> Redteam:
        """Read what garak appended since the last poll (complete lines only), count, report."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read(self.max_read)
        except OSError:
            data = b""  # not written yet
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if self._skipping:
                self._skipping = False  # the end of the over-long line
                continue
            self._count(line)
        if len(self._partial) > MAX_LINE:
            self._partial, self._skipping = b"", True
        event = self.event()
        self.sink(event)
        return event

    def _count(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            return
        if not isinstance(row, dict):
            return
        kind = row.get("entry_type")
        if kind == "attempt":
            status = row.get("status")
            if status == STARTED:
                self.attempts += 1
            elif status == COMPLETE:
                self.evaluated += 1
        elif kind == "eval":
            probe = row.get("probe")
            if isinstance(probe, str):
                probe = probe.removeprefix("probes.")
                if probe in self.wanted:
                    self.finished.add(probe)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def start(self) -> ReportWatcher:
        self.sink(self.event())
        self._thread = threading.Thread(target=self._loop, name="garak-report-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling (bounded: the thread wakes within one interval) and report the last counts."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5.0)
            self._thread = None
        self.poll()

    def __enter__(self) -> ReportWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
