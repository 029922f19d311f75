"""The terminal report: verdict, tier and why, then each finding with its fix."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

from gate.models.finding import Finding, Severity
from gate.models.report import CheckStatus, Report, Verdict
from gate.reporters.interface import Reporter

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


class TextReporter(Reporter):
    name = "text"
    suffix = ".txt"

    def render(self, report: Report, *, color: bool = False) -> str:
        buf = io.StringIO()
        con = Console(
            file=buf,
            width=100,
            force_terminal=color,
            no_color=not color,
            highlight=False,
            soft_wrap=True,
        )
        out = con.print
        r = report
        out(
            f"[{VERDICT_STYLE[r.verdict]}]{r.verdict.value.upper()}[/] "
            f"{escape(r.release.name)} {escape(r.release.version)}  "
            f"[dim]{r.release.digest[:19]}…[/]"
        )
        out(f"tier [bold]{r.tier.level.value}[/] (EU AI Act: {r.tier.eu_ai_act}, score {r.tier.score})")
        for line in r.tier.rationale:
            out(f"  · {escape(line)}")
        out(f"policy {escape(r.policy.name)} ({escape(r.policy.source)}) sha256:{r.policy.sha256[:12]}…")
        for note in r.policy.notes:
            out(f"  [yellow]! {escape(note)}[/]")
        if r.partial:
            out(
                f"[bold yellow]PARTIAL run[/]: --only left out {', '.join(r.left_out)}; "
                "this verdict speaks for the checks that ran, not for the release"
            )
        out("")
        out("[bold]Checks[/]")
        for c in r.checks:
            mark, style = STATUS_MARK[c.status]
            req = "" if c.required else " [dim](optional)[/]"
            out(f"  [{style}]{mark:>5}[/] {c.id:<18} {escape(c.summary)}{req}")
        blocking = [f for f in r.findings if f.effective_blocking]
        other = [f for f in r.findings if not f.effective_blocking]
        if blocking:
            out("")
            out(f"[bold red]Blocking findings ({len(blocking)})[/]")
            for f in blocking:
                self._finding(out, f)
        if other:
            out("")
            out(f"[bold]Other findings ({len(other)})[/]")
            for f in other:
                self._finding(out, f)
        if r.waivers:
            out("")
            out("[bold]Waivers[/]")
            for w in r.waivers:
                soon = " [yellow](expires soon)[/]" if w.expiring_soon else ""
                out(f"  {w.status.value:<8} {escape(w.id or '')} {escape(w.path)}: {escape(w.reason)}{soon}")
        out("")
        counts = ", ".join(f"{n} {s}" for s, n in r.counts().items() if n)
        out(
            f"[{VERDICT_STYLE[r.verdict]}]{r.verdict.value.upper()}[/]: "
            f"{len(blocking)} blocking, {len(r.findings)} findings"
            + (f" ({counts})" if counts else "")
            + f"; exit {r.exit_code}"
        )
        return buf.getvalue()

    @staticmethod
    def _finding(p: Callable[[str], None], f: Finding) -> None:
        sev = f"[{SEVERITY_STYLE[f.severity]}]{f.severity.value.upper():<8}[/]"
        waived = " [green](waived)[/]" if f.waiver else ""
        p(f"  {sev} {f.rule.code} {f.rule.name}{waived}")
        p(f"           {escape(f.title)}")
        loc = location_text(f)
        if loc:
            p(f"           at {escape(loc)}")
        if f.mitigation:
            p(f"           fix: {escape(f.mitigation)}")
        if f.waiver:
            w = f.waiver
            by = f"approved by {', '.join(w.approvers)}; " if w.approvers else ""
            p(f"           waived by {escape(w.id)}: {escape(w.reason)} ({escape(by)}until {w.expires})")
        p(f"           [dim]id {f.id}[/]")
