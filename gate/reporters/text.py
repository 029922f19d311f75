"""The terminal report: verdict, tier and why, then each finding with its fix."""

from __future__ import annotations

import io
import shutil

from rich.console import Console
from rich.markup import escape as _markup
from rich.text import Text

from gate import escape as safe
from gate.models.finding import Finding, Severity
from gate.models.report import CheckStatus, Report, Verdict
from gate.reporters.interface import Reporter
from gate.wording import count

VERDICT_STYLE = {
    Verdict.PASS: "bold green",
    Verdict.WARN: "bold yellow",
    Verdict.FAIL: "bold red",
    Verdict.ERROR: "bold magenta",
}
STATUS_MARK = {
    CheckStatus.PASSED: ("ok", "green"),
    CheckStatus.WARNED: ("warn", "yellow"),
    CheckStatus.FAILED: ("FAIL", "red"),
    CheckStatus.SKIPPED: ("skip", "dim"),
    CheckStatus.ERROR: ("ERROR", "magenta"),
}
SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def location_text(f: Finding) -> str:
    loc = f.location
    text = loc.path or ""
    if loc.path and loc.line:
        text += f":{loc.line}"
    if loc.detail:
        text += f" ({loc.detail})" if text else loc.detail
    return text


def escape(value: str | None) -> str:
    """Release-controlled text for one report line: printable (gate.escape) and markup-free."""
    return _markup(safe.text(value))


DEFAULT_WIDTH = 100  # files, pipes and CI logs without COLUMNS
MIN_WIDTH = 40


def terminal_width() -> int:
    """The terminal's width (or $COLUMNS), DEFAULT_WIDTH where there is none."""
    return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


def _after_location(title: str, path: str | None) -> str:
    """The title without a leading copy of the path ("PATH: …", "PATH (member): …"): the
    location line below it names the path, once."""
    if not path or not title.startswith(path):
        return title
    rest = title[len(path) :]
    if rest.startswith(" (") and "): " in rest:
        rest = rest[rest.index("): ") + 1 :]
    return rest[2:] if rest.startswith(": ") and len(rest) > 2 else title


class _Out:
    """Lines wrapped at word boundaries to the width, continuation lines under the text they
    continue (a hanging indent), markup kept across the break."""

    def __init__(self, con: Console) -> None:
        self.con = con

    def __call__(self, markup: str = "", prefix: str = "") -> None:
        head = Text.from_markup(prefix)
        body = Text.from_markup(markup)
        indent = head.cell_len
        if self.con.width - indent < 20:  # a narrow terminal: a shallow indent, not a sliver of text
            indent = 4
        width = self.con.width - indent
        lines = list(body.wrap(self.con, width, overflow="fold")) if body.plain else [Text("")]
        for line in lines:
            line.rstrip()
        if head.cell_len + lines[0].cell_len > self.con.width:
            head.rstrip()
            self.con.print(head, soft_wrap=True)  # the label alone, the text below it
            head = Text(" " * indent)
        for i, line in enumerate(lines):
            self.con.print(Text.assemble(head if i == 0 else " " * indent, line), soft_wrap=True)


class TextReporter(Reporter):
    name = "text"
    suffix = ".txt"

    def render(self, report: Report, *, color: bool = False, width: int = DEFAULT_WIDTH) -> str:
        buf = io.StringIO()
        con = Console(
            file=buf,
            width=max(MIN_WIDTH, width),
            force_terminal=color,
            no_color=not color,
            highlight=False,
            soft_wrap=True,
        )
        out = _Out(con)
        r = report
        out(
            f"[{VERDICT_STYLE[r.verdict]}]{r.verdict.value.upper()}[/] "
            f"{escape(r.release.name)} {escape(r.release.version)}  "
            f"[dim]{r.release.digest[:19]}…[/]"
        )
        out(f"tier [bold]{r.tier.level.value}[/] (EU AI Act: {r.tier.eu_ai_act}, score {r.tier.score})")
        for line in r.tier.rationale:
            out(escape(line), prefix="  · ")
        out(f"policy {escape(r.policy.name)} ({escape(r.policy.source)}) sha256:{r.policy.sha256[:12]}…")
        for note in r.policy.notes:
            out(f"[yellow]{escape(note)}[/]", prefix="  [yellow]![/] ")
        if r.partial:
            out(
                f"--only left out {', '.join(r.left_out)}; "
                "this verdict speaks for the checks that ran, not for the release",
                prefix="[bold yellow]PARTIAL run[/]: ",
            )
        out()
        out("[bold]Checks[/]")
        for c in r.checks:
            mark, style = STATUS_MARK[c.status]
            req = "" if c.required else " [dim](optional)[/]"
            out(f"{escape(c.summary)}{req}", prefix=f"  [{style}]{mark:>5}[/] {escape(c.id):<18} ")
        blocking = [f for f in r.findings if f.effective_blocking]
        other = [f for f in r.findings if not f.effective_blocking]
        if blocking:
            out()
            out(f"[bold red]Blocking findings ({len(blocking)})[/]")
            for f in blocking:
                self._finding(out, f)
        if other:
            out()
            out(f"[bold]Other findings ({len(other)})[/]")
            for f in other:
                self._finding(out, f)
        if r.baseline is not None:
            self._baseline(out, r)
        if r.waivers:
            out()
            out("[bold]Waivers[/]")
            for w in r.waivers:
                soon = " [yellow](expires soon)[/]" if w.expiring_soon else ""
                out(
                    f"{escape(w.id or '')} {escape(w.path)}: {escape(w.reason)}{soon}",
                    prefix=f"  {w.status.value:<8} ",
                )
        out()
        counts = ", ".join(f"{n} {s}" for s, n in r.counts().items() if n)
        out(
            f"{len(blocking)} blocking, {count(len(r.findings), 'finding')}"
            + (f" ({counts})" if counts else "")
            + f"; exit {r.exit_code}"
            + (" (partial run)" if r.partial else ""),
            prefix=f"[{VERDICT_STYLE[r.verdict]}]{r.verdict.value.upper()}[/]: ",
        )
        return buf.getvalue()

    @staticmethod
    def _finding(out: _Out, f: Finding) -> None:
        pad = " " * 11
        sev = f"[{SEVERITY_STYLE[f.severity]}]{f.severity.value.upper():<8}[/]"
        waived = " [green](waived)[/]" if f.waiver else ""
        label = f" [dim]({BASELINE_LABEL[f.baseline]})[/]" if f.baseline else ""
        out(f"{escape(f.rule.code)} {escape(f.rule.name)}{waived}{label}", prefix=f"  {sev} ")
        loc = location_text(f)
        out(escape(_after_location(f.title, f.location.path if loc else None)), prefix=pad)
        if loc:
            out(escape(loc), prefix=f"{pad}at ")
        if f.mitigation:
            out(escape(f.mitigation), prefix=f"{pad}fix: ")
        if f.waiver:
            w = f.waiver
            by = f"approved by {', '.join(w.approvers)}; " if w.approvers else ""
            out(
                f"{escape(w.id)}: {escape(w.reason)} ({escape(by)}until {escape(w.expires)})",
                prefix=f"{pad}waived by ",
            )
        out(f"[dim]id {escape(f.id)}[/]", prefix=pad)

    @staticmethod
    def _baseline(out: _Out, r: Report) -> None:
        b = r.baseline
        assert b is not None
        out()
        out(f"[bold]Baseline[/] {escape(b.describe())}")
        for f in b.fixed:
            title = f": {escape(f.title)}" if f.title else ""
            out(f"{escape(f.id)}{title}", prefix="  [green]fixed[/] ")


BASELINE_LABEL = {"new": "new", "unchanged": "unchanged since the baseline"}
