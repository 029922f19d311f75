"""Drawing progress events: a heartbeat line for logs, rich bars for a terminal.

Imported only when a command runs with progress on, so `--help` and short runs do not pay for
the event classes or rich.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from gate.commands.progress import PREFIX, heartbeat_interval
from gate.progress import Bytes, CheckFinished, CheckStarted, Event, Redteam, Sink, Steps


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def redteam_figures(e: Redteam) -> str:
    cached = f" ({e.cached} cached)" if e.cached else ""
    return (
        f"{e.probes_done}/{e.probes_total} probes{cached}, {e.attempts} attempts, "
        f"{e.evaluated} judged, {_clock(e.elapsed_s)} of {_clock(e.timeout_s)}"
    )


class _State:
    """The latest of each kind of event: what the heartbeat line is made from."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.bytes: Bytes | None = None
        self.check: CheckStarted | None = None
        self.check_since = 0.0
        self.detail = ""
        self.finished = 0

    def hear(self, e: Event) -> None:
        if isinstance(e, Bytes):
            self.bytes = e
        elif isinstance(e, CheckStarted):
            self.check, self.check_since, self.detail = e, time.monotonic(), ""
        elif isinstance(e, CheckFinished):
            self.check, self.detail, self.finished = None, "", self.finished + 1
        elif isinstance(e, Redteam):
            self.detail = redteam_figures(e)
        elif isinstance(e, Steps):
            of = f"/{e.total}" if e.total is not None else ""
            self.detail = f"{e.done}{of} {e.unit}"

    def line(self) -> str:
        now = time.monotonic()
        head = f"{PREFIX}{_clock(now - self.start)} elapsed; "
        if self.check is not None:
            c = self.check
            what = f"check {c.index}/{c.count} {c.check} running for {_clock(now - self.check_since)}"
            return head + what + (f": {self.detail}" if self.detail else "")
        if self.bytes is not None and (self.bytes.done < self.bytes.total or not self.finished):
            b = self.bytes
            pct = f" ({100 * b.done // b.total}%)" if b.total else ""
            return (
                head + f"{b.phase} {_size(b.done)} of {_size(b.total)}{pct}, "
                f"{b.files_done}/{b.files_total} files"
            )
        return head + (f"{self.finished} check(s) done" if self.finished else "starting")


class Heartbeat:
    """One line every `interval` seconds from a thread, for logs that are not a terminal."""

    def __init__(self, stream: IO[str], interval: float) -> None:
        self.stream, self.interval = stream, interval
        self.state = _State()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="model-gate-heartbeat", daemon=True)

    def __call__(self, e: Event) -> None:
        with self._lock:
            self.state.hear(e)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                line = self.state.line()
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                return  # standard error closed: progress is never worth failing the run

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


STATUS_MARK = {
    "passed": ("✓", "green"),
    "warned": ("!", "yellow"),
    "failed": ("✗", "red"),
    "error": ("✗", "red"),
    "skipped": ("-", "dim"),
}


class LiveBars:
    """rich bars on standard error: the hashing pass, the running check, the red-team run."""

    def __init__(self, stream: IO[str], *, force: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            Task,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.text import Text

        size, speed, left = DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()

        class Figures(ProgressColumn):
            """Bytes, rate and time left for a pass over bytes; the task's own words otherwise."""

            def render(self, task: Task) -> Text:
                if task.fields.get("bytes"):
                    return Text.assemble(
                        size.render(task), " ", speed.render(task), " eta ", left.render(task)
                    )
                return Text(str(task.fields.get("figures", "")))

        self.console = Console(file=stream, force_terminal=True if force else None, highlight=False)
        self.bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            Figures(),
            console=self.console,
            # Reports are printed after the bars stop, to standard output: never through here.
            redirect_stdout=False,
            redirect_stderr=False,
            transient=False,
        )
        self._hash: Any = None
        self._checks: dict[str, Any] = {}
        self._figures = ""  # the running check's last own figures, kept in its end line
        self._text = Text  # lines are built as Text, never parsed as markup
        self._lock = threading.Lock()

    def __call__(self, e: Event) -> None:
        with self._lock:
            self._hear(e)

    def _hear(self, e: Event) -> None:
        bars = self.bars
        if isinstance(e, Bytes):
            if self._hash is None:
                self._hash = bars.add_task(e.phase, total=e.total or None, bytes=True)
            bars.update(self._hash, completed=e.done, total=e.total or None, description=e.phase)
        elif isinstance(e, CheckStarted):
            self._figures = ""
            self._checks[e.check] = bars.add_task(
                f"check {e.index}/{e.count} {e.check}", total=None, figures=e.title
            )
        elif isinstance(e, CheckFinished):
            task = self._checks.pop(e.check, None)
            if task is not None:
                bars.remove_task(task)
            mark, style = STATUS_MARK.get(e.status, ("?", ""))
            figures, self._figures = (f"; {self._figures}" if self._figures else ""), ""
            line = f" check {e.index}/{e.count} {e.check}: {e.status} ({e.seconds:.2f} s){figures}"
            bars.console.print(self._text.assemble((mark, style), line))
        elif isinstance(e, Redteam):
            task = self._running()
            self._figures = redteam_figures(e)
            if task is not None:
                bars.update(task, total=e.probes_total, completed=e.probes_done, figures=self._figures)
        elif isinstance(e, Steps):
            task = self._running()
            of = f"/{e.total}" if e.total is not None else ""
            self._figures = f"{e.done}{of} {e.unit}"
            if task is not None:
                bars.update(task, total=e.total, completed=e.done, figures=self._figures)

    def _running(self) -> Any:
        return next(reversed(self._checks.values()), None)

    def __enter__(self) -> LiveBars:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()


@contextmanager
def progress_sink(choice: bool | None, stream: IO[str] | None = None) -> Iterator[Sink | None]:
    """The sink a command hands the libraries: bars (`--progress`, or a terminal), a heartbeat
    (not a terminal), or None (`--no-progress`: nothing is written to standard error)."""
    out = stream if stream is not None else sys.stderr
    if choice is False or out is None:  # None: no standard error at all (a detached process)
        yield None
        return
    try:
        tty = bool(out.isatty())
    except (AttributeError, ValueError):
        tty = False
    if choice is None and not tty:
        with Heartbeat(out, heartbeat_interval()) as beat:
            yield beat
        return
    with LiveBars(out, force=not tty) as bars:
        yield bars
