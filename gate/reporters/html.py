"""The HTML report: one self-contained page (inline CSS and SVG, no script, no network).

Everything in a report that came from the release (names, paths, titles, evidence, tool output)
is hostile. One rule keeps it inert: release text reaches the page only through `_t` (html.escape
with quotes), inside element content or double-quoted attributes, never in <style> or a URL
scheme; links to artifacts are percent-encoded paths, so none can carry a scheme. The page also carries a
Content-Security-Policy that allows no script at all and only its own stylesheet (by hash),
so a mistake in escaping still could not run code.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shlex
from html import escape
from typing import Any
from urllib.parse import quote

from gate.models.finding import Finding, Rule, Severity
from gate.models.report import CheckStatus, Report, Verdict
from gate.reporters.interface import Reporter
from gate.reporters.svg import Bar, Mark, bar_chart
from gate.reporters.text import location_text

SEVERITIES = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
VERDICT_TEXT = {
    Verdict.PASS: "passed",
    Verdict.WARN: "passed with warnings",
    Verdict.FAIL: "blocked by policy",
    Verdict.ERROR: "a check could not complete (fail closed)",
}
CONTROL_OK = {"verified", "not-applicable", "not_applicable"}
EVIDENCE_MAX_CHARS = 4000  # per finding: one huge evidence blob must not bury the page

CSS = """
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#5b6470;--line:#d8dee4;--card:#f6f8fa;
--crit:#8e0000;--high:#c62828;--med:#b26a00;--low:#1565c0;--info:#5b6470;--ok:#2e7d32}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9aa5b1;--line:#30363d;
--card:#161b22;--crit:#ff6b6b;--high:#ff8a80;--med:#ffb74d;--low:#64b5f6;--info:#9aa5b1;--ok:#81c784}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:0 20px 40px}
h1{font-size:22px;margin:0}h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;
border-bottom:1px solid var(--line)}h3{font-size:15px;margin:18px 0 8px}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px;
white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0}
.banner{padding:18px 20px;margin:0 0 10px;color:#fff}
.banner>*{max-width:1060px;margin-left:auto;margin-right:auto}
.banner p{margin-top:6px;margin-bottom:0}
.verdict-pass{background:#2e7d32}.verdict-warn{background:#b26a00}
.verdict-fail{background:#b71c1c}.verdict-error{background:#6a1b9a}
.facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:10px 0}
.facts div{min-width:120px}.facts b{display:block;font-size:11px;text-transform:uppercase;
color:var(--muted);font-weight:600}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top;
overflow-wrap:break-word}
thead th,td.n,.sev,td:has(>span.yes),td:has(>span.no),td:has(>span.part){white-space:nowrap}
th{background:var(--card);font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;width:70px}
td.zero{color:var(--muted)}
.sev{display:inline-block;min-width:56px;white-space:nowrap;text-align:center;border-radius:10px;
padding:0 8px;
font-size:12px;font-weight:600;color:#fff}
.sev-critical{background:var(--crit)}.sev-high{background:var(--high)}.sev-medium{background:var(--med)}
.sev-low{background:var(--low)}.sev-info{background:var(--info)}
.yes{color:var(--ok);font-weight:700}.no{color:var(--high);font-weight:700}.part{color:var(--med);
font-weight:700}
.finding{border:1px solid var(--line);border-left:4px solid var(--line);border-radius:6px;
padding:8px 12px;margin:8px 0;background:var(--bg)}
.finding.blocking{border-left-color:var(--high)}.finding.waived{border-left-color:var(--med)}
.finding summary{cursor:pointer}.finding dl{display:grid;grid-template-columns:110px 1fr;
gap:2px 10px;margin:8px 0}
.finding dt{color:var(--muted)}.finding dd{margin:0;overflow-wrap:anywhere}
.muted{color:var(--muted)}.chart{max-width:100%;height:auto;color:var(--fg)}
.legend{font-size:12px;color:var(--muted)}
footer{margin-top:30px;color:var(--muted);font-size:12px}
"""
CSP_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()


def _t(value: object) -> str:
    """The only way release text enters the page."""
    return escape("" if value is None else str(value), quote=True)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def waiver_command(report: Report, f: Finding) -> str:
    """A `model-gate waiver new` command line for one finding, shell-quoted (then HTML-escaped)."""
    parts = [
        "model-gate",
        "waiver",
        "new",
        "--release",
        report.release.path,
        # The JSON report of this run (`check --format json --output report.json`): `waiver new`
        # checks the finding id and the rule's waivability against it.
        "--report",
        "report.json",
        "--finding",
        f.id,
        "--justification",
        "risk_accepted",
        "--reason",
        "WHY THE RISK IS ACCEPTABLE",
        "--expires",
        "30d",
    ]
    return " ".join(shlex.quote(p) for p in parts)


def _waivable(rule: Rule | None) -> bool:
    """`rule`: a finding's rule in the caller's catalogue (None: not known to it)."""
    return rule is None or rule.waivable


def _details(report: Report, check_id: str) -> dict[str, Any]:
    for c in report.checks:
        if c.id == check_id:
            return c.details
    return {}


def _strings(v: Any) -> list[str]:
    """A list of notes from report details; anything else is shown whole, not iterated."""
    if isinstance(v, list | tuple):
        return [str(x) for x in v]
    return [] if v is None else [str(v)]


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


class HtmlReporter(Reporter):
    name = "html"
    suffix = ".html"
    uses_rules = True

    def render(self, report: Report, *, color: bool = False) -> str:
        r = report
        title = f"model-gate: {r.verdict.value.upper()} {r.release.name} {r.release.version}"
        body = [
            self._banner(r),
            "<main>",
            self._facts(r),
            self._matrix(r),
            self._redteam(r),
            self._guard(r),
            self._tier(r),
            self._checks(r),
            self._controls(r),
            self._findings(r),
            self._baseline(r),
            self._waivers(r),
            self._artifacts(r),
            self._evidence(r),
            f"<footer>model-gate {_t(r.gate_version)} · generated {_t(r.generated_at)} · "
            f"policy {_t(r.policy.name)} (sha256:{_t(r.policy.sha256[:12])})</footer>",
            "</main>",
        ]
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            f"style-src 'sha256-{CSP_HASH}'; img-src data:\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_t(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(part for part in body if part)
            + "\n</body></html>\n"
        )

    # sections --------------------------------------------------------------------------------

    @staticmethod
    def _banner(r: Report) -> str:
        blocking = len(r.blocking())
        return (
            f'<header class="banner verdict-{_t(r.verdict.value)}" id="verdict">'
            f"<h1>{_t(r.verdict.value.upper())}: {_t(r.release.name)} {_t(r.release.version)}</h1>"
            f"<p>{_t(VERDICT_TEXT[r.verdict])} · exit code {r.exit_code} · "
            f"{blocking} blocking finding{'s' if blocking != 1 else ''} of {len(r.findings)}</p>"
            "</header>"
        )

    @staticmethod
    def _facts(r: Report) -> str:
        waived = sum(1 for f in r.findings if f.waiver)
        facts = [
            ("Tier", f"{r.tier.level.value} (score {r.tier.score})"),
            ("EU AI Act", r.tier.eu_ai_act),
            ("Policy", r.policy.name),
            ("Files", f"{r.release.files} ({r.release.bytes:,} bytes)"),
            ("Waived", str(waived)),
        ]
        items = "".join(f"<div><b>{_t(k)}</b>{_t(v)}</div>" for k, v in facts)
        notes = "".join(f"<li>{_t(n)}</li>" for n in (*r.tier.rationale, *r.policy.notes))
        return (
            f'<section class="facts">{items}</section>'
            f"<p>Release digest <code>{_t(r.release.digest)}</code></p>"
            + (f"<ul>{notes}</ul>" if notes else "")
        )

    @staticmethod
    def _matrix(r: Report) -> str:
        checks = [c.id for c in r.checks]
        checks += sorted({f.check for f in r.findings} - set(checks))
        counts: dict[tuple[str, Severity], int] = {}
        blocking: dict[str, int] = {}
        for f in r.findings:
            counts[(f.check, f.severity)] = counts.get((f.check, f.severity), 0) + 1
            if f.effective_blocking:
                blocking[f.check] = blocking.get(f.check, 0) + 1
        head = "".join(f'<th><span class="sev sev-{s.value}">{s.value}</span></th>' for s in SEVERITIES)
        rows = []
        for cid in checks:
            cells = []
            for s in SEVERITIES:
                n = counts.get((cid, s), 0)
                cells.append(f'<td class="n{" zero" if not n else ""}">{n}</td>')
            b = blocking.get(cid, 0)
            rows.append(
                f'<tr><th>{_t(cid)}</th>{"".join(cells)}<td class="n{" zero" if not b else ""}">{b}</td></tr>'
            )
        totals = "".join(
            f'<td class="n">{sum(counts.get((c, s), 0) for c in checks)}</td>' for s in SEVERITIES
        )
        rows.append(f'<tr><th>total</th>{totals}<td class="n">{sum(blocking.values())}</td></tr>')
        return (
            '<h2 id="counts">Findings by check and severity</h2>'
            f'<table class="matrix"><thead><tr><th>check</th>{head}<th>blocking</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )

    @staticmethod
    def _checks(r: Report) -> str:
        mark = {
            CheckStatus.PASSED: '<span class="yes">✓ passed</span>',
            CheckStatus.WARNED: '<span class="part">! warned</span>',
            CheckStatus.FAILED: '<span class="no">✗ failed</span>',
            CheckStatus.SKIPPED: '<span class="muted">– skipped</span>',
            CheckStatus.ERROR: '<span class="no">⛔ error</span>',
        }
        rows = "".join(
            f"<tr><th>{_t(c.id)}</th><td>{mark[c.status]}</td>"
            f"<td>{'required' if c.required else 'optional'}</td>"
            f'<td>{_t(c.summary)}</td><td class="n">{c.duration_s:.2f}s</td></tr>'
            for c in r.checks
        )
        return (
            '<h2 id="checks">Checks</h2><table class="checks"><thead><tr><th>check</th><th>status</th>'
            f"<th></th><th>summary</th><th>time</th></tr></thead><tbody>{rows}</tbody></table>"
        )

    @staticmethod
    def _redteam(r: Report) -> str:
        cats = _details(r, "adversarial").get("categories")
        if not isinstance(cats, list) or not cats:
            return ""
        bars = []
        rows = []
        for c in cats:
            if not isinstance(c, dict):
                continue
            asr = _num(c.get("asr")) or 0.0
            low, high = _num(c.get("ci_low")), _num(c.get("ci_high"))
            thr, base = _num(c.get("threshold")), _num(c.get("baseline_asr"))
            over = bool(c.get("over_threshold")) or bool(c.get("regression"))
            near = thr is not None and high is not None and high >= thr
            text = f"{_pct(asr)} [{_pct(low)}–{_pct(high)}]"
            if thr is not None:
                text += f" · limit {_pct(thr)}"
            if base is not None:
                text += f" · base {_pct(base)}"
            bars.append(
                Bar(
                    label=str(c.get("category", "?")),
                    value=asr,
                    text=text,
                    low=low,
                    high=high,
                    threshold=thr,
                    reference=base,
                    tone="bad" if over else "warn" if near else "ok",
                )
            )
            delta = _num(c.get("delta"))
            rows.append(HtmlReporter._asr_row(c, asr, low, high, thr, base, delta, over))
        chart = bar_chart(
            bars,
            scale_max=1.0,
            ticks=[(v / 4, f"{v * 25}%") for v in range(5)],
            title="Attack success rate per category",
            chart_class="chart asr-chart",
        )
        return (
            '<h2 id="redteam">Attack success rate per category</h2>'
            f'<figure>{chart}<figcaption class="legend">Bar: attack success rate; whisker: 95% Wilson '
            "interval; red tick: the policy's limit; hollow diamond: the baseline's rate. The check "
            "compares the bound named in “decided on” with the limit.</figcaption></figure>"
            '<table class="asr"><thead><tr><th>category</th><th>title</th><th>fails/total</th><th>rate</th>'
            "<th>95% interval</th><th>limit</th><th>decided on</th><th>baseline</th><th>change</th>"
            f"<th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    @staticmethod
    def _guard(r: Report) -> str:
        """Bare against guarded, the guard's block rate and its false refusals (a declared guard)."""
        g = _details(r, "adversarial").get("guard")
        if not isinstance(g, dict) or not isinstance(g.get("categories"), list):
            return ""

        def rate(x: Any) -> str:
            if not isinstance(x, dict) or _num(x.get("rate")) is None:
                return "-"
            ci: list[Any] = x["ci95"] if isinstance(x.get("ci95"), list) else [None, None]
            return (
                f"{_t(x.get('count'))}/{_t(x.get('total'))} · {_pct(_num(x.get('rate')))} "
                f"[{_pct(_num(ci[0]))}–{_pct(_num(ci[1]))}]"
            )

        rows = "".join(
            f"<tr><th>{_t(c.get('category'))}</th><td>{rate(c.get('bare'))}</td>"
            f"<td>{rate(c.get('guarded'))}</td><td>{rate(c.get('blocked'))}</td>"
            f"<td>{_t(', '.join(map(str, c.get('bypass_probes') or [])))}</td></tr>"
            for c in g["categories"]
            if isinstance(c, dict)
        )
        return (
            f'<h2 id="guard">Runtime guard ({_t(g.get("kind"))})</h2>'
            '<table class="asr"><thead><tr><th>category</th><th>ASR bare</th><th>ASR guarded</th>'
            f"<th>blocked by the guard</th><th>bypassed by</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<p>False refusals on the benign prompt set: {rate(g.get('false_refusals'))}.</p>"
        )

    @staticmethod
    def _asr_row(
        c: dict[str, Any],
        asr: float,
        low: float | None,
        high: float | None,
        thr: float | None,
        base: float | None,
        delta: float | None,
        over: bool,
    ) -> str:
        change = "-" if delta is None else f"{delta * 100:+.0f} pt"
        if c.get("over_threshold"):
            state = '<span class="no">✗ over</span>'
        elif over:
            state = '<span class="no">✗ regressed</span>'
        else:
            state = '<span class="yes">✓</span>'
        return (
            f"<tr><th>{_t(c.get('category'))}</th><td>{_t(c.get('title'))}</td>"
            f'<td class="n">{_t(c.get("fails"))}/{_t(c.get("total"))}</td><td class="n">{_pct(asr)}</td>'
            f'<td class="n">{_pct(low)}–{_pct(high)}</td><td class="n">{_pct(thr)}</td>'
            f'<td>{_t(c.get("decide_on"))}</td><td class="n">{_pct(base)}</td>'
            f'<td class="n">{_t(change)}</td><td>{state}</td></tr>'
        )

    @staticmethod
    def _tier(r: Report) -> str:
        from gate.models.tier import Tier
        from gate.risk import tables

        t = r.tier
        minimums = sorted(tables().tiers.items(), key=lambda kv: kv[1])
        top = max([t.score, *[m for _, m in minimums]]) + 2
        bars = [
            Bar(
                label=f"{f.name} = {f.value}",
                value=float(f.points),
                text=f"+{f.points}",
                tone="neutral" if f.points else "ok",
            )
            for f in t.factors
        ]
        by_score = max((tier for tier, m in minimums if t.score >= m), key=lambda x: x.rank)
        bars.append(
            Bar(label="total score", value=float(t.score), text=f"{t.score} → {by_score.value}", tone="warn")
        )
        floor = {"prohibited": Tier.PROHIBITED, "high-risk": Tier.HIGH}.get(t.eu_ai_act)
        floor_at = tables().tiers[Tier.HIGH] if floor is Tier.HIGH else None
        marks = [
            Mark(at=float(m), label=f"{tier.value} (EU AI Act floor)", tone="bad")
            if m == floor_at and tier is Tier.HIGH
            else Mark(at=float(m), label=tier.value)
            for tier, m in minimums
            if m > 0
        ]
        floor_text = (
            f"EU AI Act: {t.eu_ai_act}; its floor is {floor.value}, so the tier is at least {floor.value}"
            if floor
            else f"EU AI Act: {t.eu_ai_act}; no floor above the score"
        )
        chart = bar_chart(
            bars,
            scale_max=float(top),
            ticks=[(float(v), str(v)) for v in range(0, top + 1, 2)],
            title="Risk tier: factor contributions",
            marks=marks,
            chart_class="chart tier-chart",
        )
        return (
            f'<h2 id="tier">Risk tier: {_t(t.level.value)}</h2>'
            f'<figure>{chart}<figcaption class="legend">Points per factor; dashed lines: the lowest '
            f"score of each tier. {_t(floor_text)}. Tier: <b>{_t(t.level.value)}</b>.</figcaption></figure>"
        )

    @staticmethod
    def _controls(r: Report) -> str:
        controls = _details(r, "monitoring").get("controls")
        if not isinstance(controls, dict) or not controls:
            return ""
        rows = []
        for cid, c in controls.items():
            if not isinstance(c, dict):
                continue
            status = str(c.get("status", ""))
            if status in CONTROL_OK:
                mark = f'<span class="yes">✓ {_t(status)}</span>'
            elif status == "declared":
                mark = f'<span class="part">◐ {_t(status)}</span>'
            else:
                mark = f'<span class="no">✗ {_t(status)}</span>'
            notes = [n for k in ("reasons", "evidence") for n in _strings(c.get(k))]
            rows.append(
                f"<tr><th>{_t(cid)}</th><td>{_t(c.get('name'))}</td><td>{_t(c.get('section'))}</td>"
                f"<td>{'required' if c.get('required') else 'optional'}</td><td>{mark}</td>"
                f"<td>{'<br>'.join(_t(n) for n in notes)}</td></tr>"
            )
        score = _num(_details(r, "monitoring").get("score"))
        scored = f" (score {score:.0%})" if score is not None else ""
        return (
            f'<h2 id="controls">Monitoring controls{scored}</h2>'
            '<table class="controls"><thead><tr><th>control</th><th>name</th><th>section</th><th></th>'
            f"<th>status</th><th>evidence</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    @staticmethod
    def _evidence(r: Report) -> str:
        """Framework coverage of this report, assessed as `model-gate evidence` assesses it."""
        from gate.compliance.mapping import frameworks
        from gate.compliance.pack import STATEMENT, Outcome, assess_framework

        raw = r.model_dump(mode="json", by_alias=True)
        marks = {
            Outcome.EVIDENCED: "yes",
            Outcome.FAILED: "no",
            Outcome.ACCEPTED_RISK: "part",
            Outcome.NOT_ASSESSED: "part",
            Outcome.HUMAN: "muted",
        }
        head = "".join(f"<th>{_t(o.value)}</th>" for o in Outcome)
        rows, details = [], []
        for fw in frameworks():
            res = assess_framework(fw, r, raw)
            counts = "".join(f"<td>{res.counts.get(o.value, 0)}</td>" for o in Outcome)
            rows.append(f"<tr><th>{_t(res.title)}</th>{counts}</tr>")
            reqs = "".join(
                f"<tr><th>{_t(q.id)}</th><td>{_t(q.title)}</td><td>{_t(q.coverage.value)}</td>"
                f'<td><span class="{marks[q.outcome]}">{_t(q.outcome.value)}</span></td>'
                f"<td>{_t(q.remains_for_people or '')}</td></tr>"
                for q in res.requirements
            )
            details.append(
                f'<details class="framework"><summary>{_t(res.title)}</summary><table>'
                "<thead><tr><th>requirement</th><th>title</th><th>coverage</th><th>outcome</th>"
                f"<th>remains for people</th></tr></thead><tbody>{reqs}</tbody></table></details>"
            )
        return (
            '<h2 id="evidence">Compliance evidence</h2>'
            f'<p class="muted">{_t(STATEMENT)} The whole pack (JSON, Markdown, OSCAL): '
            "<code>model-gate evidence REPORT.json</code>.</p>"
            f'<table class="evidence"><thead><tr><th>framework</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>" + "".join(details)
        )

    def _findings(self, r: Report) -> str:
        if not r.findings:
            return '<h2 id="findings">Findings</h2><p>No findings.</p>'
        by_check: dict[str, list[Finding]] = {}
        for f in sorted(r.findings, key=lambda f: (not f.effective_blocking, -f.severity.rank)):
            by_check.setdefault(f.check, []).append(f)
        order = [c.id for c in r.checks if c.id in by_check] + sorted(
            set(by_check) - {c.id for c in r.checks}
        )
        out = ['<h2 id="findings">Findings by check</h2>']
        for cid in order:
            fs = by_check[cid]
            nb = sum(1 for f in fs if f.effective_blocking)
            out.append(
                f'<section class="check-findings"><h3>{_t(cid)} <span class="muted">'
                f"({len(fs)} finding{'s' if len(fs) != 1 else ''}, {nb} blocking)</span></h3>"
            )
            out += [self._finding(r, f, self.find_rule(f.rule.code)) for f in fs]
            out.append("</section>")
        return "".join(out)

    @staticmethod
    def _finding(r: Report, f: Finding, rule: Rule | None) -> str:
        state = "blocking" if f.effective_blocking else "waived" if f.waiver else "advisory"
        tracked = r.baseline is not None and f.id in r.baseline.tracked
        if tracked:
            state = "tracked"
        label = f" · {f.baseline}" if f.baseline else ""
        rows: list[tuple[str, str]] = [
            ("id", f"<code>{_t(f.id)}</code>"),
            ("rule", f"<code>{_t(f.rule.code)}</code> {_t(f.rule.name)}"),
        ]
        if f.baseline:
            why = " (the baseline had it; block_on: new tracks it, not blocking)" if tracked else ""
            rows.append(("baseline", f'<span class="baseline-label">{_t(f.baseline)}</span>{_t(why)}'))
        loc = location_text(f)
        if loc:
            rows.append(("location", f"<code>{_t(loc)}</code>"))
        if f.technique:
            rows.append(("technique", _t(", ".join(f.technique))))
        if f.evidence:
            text = json.dumps(f.evidence, indent=2, ensure_ascii=False, default=str)
            if len(text) > EVIDENCE_MAX_CHARS:
                text = (
                    text[:EVIDENCE_MAX_CHARS]
                    + f"\n… ({len(text) - EVIDENCE_MAX_CHARS:,} more characters in the JSON report)"
                )
            rows.append(("evidence", f"<pre>{_t(text)}</pre>"))
        if f.reproduction:
            rows.append(("reproduce", f"<pre>{_t(f.reproduction)}</pre>"))
        if f.mitigation:
            rows.append(("fix", _t(f.mitigation)))
        if f.waiver:
            w = f.waiver
            rows.append(
                (
                    "waived",
                    f"{_t(w.justification)}: {_t(w.reason)} (by {_t(', '.join(w.approvers))}; "
                    f"expires {_t(w.expires)})",
                )
            )
        elif f.effective_blocking:
            if _waivable(rule):
                rows.append(("waive", f'<pre class="waiver-cmd">{_t(waiver_command(r, f))}</pre>'))
            else:
                rows.append(("waive", "this rule cannot be waived"))
        dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
        return (
            f'<details class="finding {state}"{" open" if f.effective_blocking else ""}>'
            f'<summary><span class="sev sev-{_t(f.severity.value)}">{_t(f.severity.value)}</span> '
            f'{_t(f.title)} <span class="muted">{_t(state + label)}</span></summary><dl>{dl}</dl></details>'
        )

    @staticmethod
    def _baseline(r: Report, limit: int = 200) -> str:
        b = r.baseline
        if b is None:
            return ""
        out = [f'<h2 id="baseline">Baseline</h2><p class="baseline-summary">{_t(b.describe())}</p>']
        if b.fixed:
            items = "".join(
                f"<li><code>{_t(f.id)}</code>{_t(': ' + f.title if f.title else '')}</li>"
                for f in b.fixed[:limit]
            )
            more = (
                f"<li>… and {len(b.fixed) - limit} more in the JSON report</li>"
                if len(b.fixed) > limit
                else ""
            )
            out.append(
                f'<h3>Fixed since the baseline ({len(b.fixed)})</h3><ul class="fixed">{items}{more}</ul>'
            )
        return "".join(out)

    @staticmethod
    def _waivers(r: Report) -> str:
        if not r.waivers:
            return ""
        try:
            now: dt.datetime | None = dt.datetime.fromisoformat(r.generated_at)
        except ValueError:
            now = None
        rows = []
        for w in r.waivers:
            left = ""
            if w.expires and now is not None:
                try:
                    days = (dt.datetime.fromisoformat(w.expires) - now).total_seconds() / 86400
                    left = f"{days:.0f} days left" if days >= 0 else f"expired {-days:.0f} days ago"
                except (ValueError, TypeError):
                    left = ""
            soon = " ⏳ expiring soon" if w.expiring_soon else ""
            rows.append(
                f"<tr><td>{_t(w.status.value)}</td><td><code>{_t(w.id or w.path)}</code></td>"
                f"<td>{_t(w.reason)}</td><td>{_t(w.expires or '-')}{_t(soon)}</td><td>{_t(left)}</td>"
                f"<td>{_t(', '.join(w.findings))}</td></tr>"
            )
        return (
            '<h2 id="waivers">Waivers</h2><table class="waivers"><thead><tr><th>status</th><th>waiver</th>'
            "<th>reason</th><th>expires</th><th></th><th>findings</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )

    @staticmethod
    def _artifacts(r: Report) -> str:
        if not r.artifacts:
            return ""
        items = "".join(
            f'<li>{_t(name)}: <a href="{_t(_href(path))}">{_t(path)}</a></li>'
            for name, path in r.artifacts.items()
        )
        return f'<h2 id="artifacts">Artifacts</h2><ul class="artifacts">{items}</ul>'


def _href(path: str) -> str:
    """A relative link that cannot be a script URL: every ':' and '?' is percent-encoded."""
    return quote(path, safe="/")
