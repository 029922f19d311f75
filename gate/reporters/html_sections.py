"""The HTML report's sections drawn from check details: attack success rates, the runtime
guard, the tier scorecard, the monitoring controls and the compliance evidence.

The escaping rule of gate.reporters.html holds here too: release text enters only through `t`.
"""

from __future__ import annotations

from html import escape
from typing import Any

from gate.models.report import Report
from gate.reporters.svg import Bar, Mark, bar_chart
from gate.reporters.views import (
    AsrCategory,
    asr_categories,
    controls,
    details,
    monitoring_score,
    num,
    pct,
    tier_scorecard,
)


def t(value: object) -> str:
    """The only way release text enters the page."""
    return escape("" if value is None else str(value), quote=True)


def redteam(r: Report) -> str:
    cats = asr_categories(r)
    if not cats:
        return ""
    bars = []
    rows = []
    for c in cats:
        text = f"{pct(c.asr)} [{pct(c.low)}–{pct(c.high)}]"
        if c.threshold is not None:
            text += f" · limit {pct(c.threshold)}"
        if c.baseline is not None:
            text += f" · base {pct(c.baseline)}"
        bars.append(
            Bar(
                label=str(c.raw.get("category", "?")),
                value=c.asr,
                text=text,
                low=c.low,
                high=c.high,
                threshold=c.threshold,
                reference=c.baseline,
                tone="bad" if c.over else "warn" if c.near else "ok",
            )
        )
        rows.append(_asr_row(c))
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


def _asr_row(c: AsrCategory) -> str:
    change = "-" if c.delta is None else f"{c.delta * 100:+.0f} pt"
    state = {
        "over": '<span class="no">✗ over</span>',
        "regressed": '<span class="no">✗ regressed</span>',
    }.get(c.state, '<span class="yes">✓</span>')
    raw = c.raw
    return (
        f"<tr><th>{t(raw.get('category'))}</th><td>{t(raw.get('title'))}</td>"
        f'<td class="n">{t(raw.get("fails"))}/{t(raw.get("total"))}</td><td class="n">{pct(c.asr)}</td>'
        f'<td class="n">{pct(c.low)}–{pct(c.high)}</td><td class="n">{pct(c.threshold)}</td>'
        f'<td>{t(raw.get("decide_on"))}</td><td class="n">{pct(c.baseline)}</td>'
        f'<td class="n">{t(change)}</td><td>{state}</td></tr>'
    )


def guard(r: Report) -> str:
    """Bare against guarded, the guard's block rate and its false refusals (a declared guard)."""
    g = details(r, "adversarial").get("guard")
    if not isinstance(g, dict) or not isinstance(g.get("categories"), list):
        return ""

    def rate(x: Any) -> str:
        if not isinstance(x, dict) or num(x.get("rate")) is None:
            return "-"
        ci: list[Any] = x["ci95"] if isinstance(x.get("ci95"), list) else [None, None]
        return (
            f"{t(x.get('count'))}/{t(x.get('total'))} · {pct(num(x.get('rate')))} "
            f"[{pct(num(ci[0]))}–{pct(num(ci[1]))}]"
        )

    rows = "".join(
        f"<tr><th>{t(c.get('category'))}</th><td>{rate(c.get('bare'))}</td>"
        f"<td>{rate(c.get('guarded'))}</td><td>{rate(c.get('blocked'))}</td>"
        f"<td>{t(', '.join(map(str, c.get('bypass_probes') or [])))}</td></tr>"
        for c in g["categories"]
        if isinstance(c, dict)
    )
    return (
        f'<h2 id="guard">Runtime guard ({t(g.get("kind"))})</h2>'
        '<table class="asr"><thead><tr><th>category</th><th>ASR bare</th><th>ASR guarded</th>'
        f"<th>blocked by the guard</th><th>bypassed by</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p>False refusals on the benign prompt set: {rate(g.get('false_refusals'))}.</p>"
    )


def tier(r: Report) -> str:
    from gate.models.tier import Tier

    tr = r.tier
    card = tier_scorecard(r)
    top = max([tr.score, *[m for _, m in card.minimums]]) + 2
    bars = [
        Bar(
            label=f"{f.name} = {f.value}",
            value=float(f.points),
            text=f"+{f.points}",
            tone="neutral" if f.points else "ok",
        )
        for f in tr.factors
    ]
    bars.append(
        Bar(
            label="total score",
            value=float(tr.score),
            text=f"{tr.score} → {card.by_score.value}",
            tone="warn",
        )
    )
    marks = [
        Mark(at=float(m), label=f"{level.value} (EU AI Act floor)", tone="bad")
        if m == card.floor_at and level is Tier.HIGH
        else Mark(at=float(m), label=level.value)
        for level, m in card.minimums
        if m > 0
    ]
    chart = bar_chart(
        bars,
        scale_max=float(top),
        ticks=[(float(v), str(v)) for v in range(0, top + 1, 2)],
        title="Risk tier: factor contributions",
        marks=marks,
        chart_class="chart tier-chart",
    )
    return (
        f'<h2 id="tier">Risk tier: {t(tr.level.value)}</h2>'
        f'<figure>{chart}<figcaption class="legend">Points per factor; dashed lines: the lowest '
        f"score of each tier. {t(card.floor_text(tr.eu_ai_act))}. Tier: <b>{t(tr.level.value)}</b>."
        "</figcaption></figure>"
    )


def monitoring_controls(r: Report) -> str:
    found = controls(r)
    if not found:
        return ""
    rows = []
    for c in found:
        symbol = {"yes": "✓", "part": "◐", "no": "✗"}[c.mark]
        mark = f'<span class="{c.mark}">{symbol} {t(c.status)}</span>'
        rows.append(
            f"<tr><th>{t(c.id)}</th><td>{t(c.name)}</td><td>{t(c.section)}</td>"
            f"<td>{'required' if c.required else 'optional'}</td><td>{mark}</td>"
            f"<td>{'<br>'.join(t(n) for n in c.notes)}</td></tr>"
        )
    score = monitoring_score(r)
    scored = f" (score {score:.0%})" if score is not None else ""
    return (
        f'<h2 id="controls">Monitoring controls{scored}</h2>'
        '<table class="controls"><thead><tr><th>control</th><th>name</th><th>section</th><th></th>'
        f"<th>status</th><th>evidence</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def evidence(r: Report) -> str:
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
    head = "".join(f"<th>{t(o.value)}</th>" for o in Outcome)
    rows, parts = [], []
    for fw in frameworks():
        res = assess_framework(fw, r, raw)
        counts = "".join(f"<td>{res.counts.get(o.value, 0)}</td>" for o in Outcome)
        rows.append(f"<tr><th>{t(res.title)}</th>{counts}</tr>")
        reqs = "".join(
            f"<tr><th>{t(q.id)}</th><td>{t(q.title)}</td><td>{t(q.coverage.value)}</td>"
            f'<td><span class="{marks[q.outcome]}">{t(q.outcome.value)}</span></td>'
            f"<td>{t(q.remains_for_people or '')}</td></tr>"
            for q in res.requirements
        )
        parts.append(
            f'<details class="framework"><summary>{t(res.title)}</summary><table>'
            "<thead><tr><th>requirement</th><th>title</th><th>coverage</th><th>outcome</th>"
            f"<th>remains for people</th></tr></thead><tbody>{reqs}</tbody></table></details>"
        )
    return (
        '<h2 id="evidence">Compliance evidence</h2>'
        f'<p class="muted">{t(STATEMENT)} The whole pack (JSON, Markdown, OSCAL): '
        "<code>model-gate evidence REPORT.json</code>.</p>"
        f'<table class="evidence"><thead><tr><th>framework</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>" + "".join(parts)
    )
