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
from urllib.parse import quote

from gate.models.finding import Finding, Rule
from gate.models.report import CheckStatus, Report
from gate.reporters import html_sections as sections
from gate.reporters.html_sections import t as _t
from gate.reporters.interface import Reporter
from gate.reporters.text import location_text
from gate.reporters.views import SEVERITIES, VERDICT_TEXT, count_matrix
from gate.reporters.waiving import waiver_command, why_not_waivable

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
            sections.redteam(r),
            sections.guard(r),
            sections.tier(r),
            self._checks(r),
            sections.monitoring_controls(r),
            self._findings(r),
            self._baseline(r),
            self._waivers(r),
            self._artifacts(r),
            sections.evidence(r),
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
        m = count_matrix(r)
        head = "".join(f'<th><span class="sev sev-{s.value}">{s.value}</span></th>' for s in SEVERITIES)
        rows = []
        for cid in m.checks:
            cells = []
            for s in SEVERITIES:
                n = m.count(cid, s)
                cells.append(f'<td class="n{" zero" if not n else ""}">{n}</td>')
            b = m.blocking.get(cid, 0)
            rows.append(
                f'<tr><th>{_t(cid)}</th>{"".join(cells)}<td class="n{" zero" if not b else ""}">{b}</td></tr>'
            )
        totals = "".join(f'<td class="n">{m.total(s)}</td>' for s in SEVERITIES)
        rows.append(f'<tr><th>total</th>{totals}<td class="n">{sum(m.blocking.values())}</td></tr>')
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
            why_not = why_not_waivable(r, f, rule)
            if why_not is None:
                rows.append(("waive", f'<pre class="waiver-cmd">{_t(waiver_command(r, f))}</pre>'))
            else:
                rows.append(("waive", _t(why_not)))
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
