"""Inline SVG charts for the HTML report: static markup, no script, every label escaped.

Each chart is a list of horizontal bars on a shared 0..`scale_max` axis. A bar may carry an
interval (a whisker), a threshold mark and a reference mark (e.g. the baseline's value). Bars
and labels carry fixed class names so that tests (and a browser) can count them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

LABEL_W = 190  # room for the label column
VALUE_W = 300  # room for the value text on the right
PLOT_W = 360
ROW_H = 28
BAR_H = 14
TOP = 26  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # shown right of the plot, e.g. "12% [5–30%]"
    low: float | None = None  # interval, drawn as a whisker
    high: float | None = None
    threshold: float | None = None  # drawn as a red tick
    reference: float | None = None  # drawn as a hollow diamond (e.g. the baseline)
    tone: str = "ok"  # ok | bad | warn | neutral: picks the fill


@dataclass(frozen=True)
class Mark:
    """A vertical line across the whole chart, e.g. a tier's lowest score."""

    at: float
    label: str
    tone: str = "neutral"


def _t(text: str) -> str:
    return escape(text, quote=True)


def _num(v: float) -> str:
    return f"{v:.1f}"


def bar_chart(
    bars: Sequence[Bar],
    *,
    scale_max: float,
    ticks: Sequence[tuple[float, str]],
    title: str,
    marks: Sequence[Mark] = (),
    chart_class: str = "chart",
) -> str:
    """One horizontal bar per item; `ticks` label the axis, `marks` cross every row."""
    scale = max(scale_max, 1e-9)
    height = TOP + ROW_H * max(len(bars), 1) + 8
    width = LABEL_W + PLOT_W + VALUE_W

    def x(v: float) -> float:
        return LABEL_W + PLOT_W * min(max(v, 0.0), scale) / scale

    out = [
        f'<svg class="{_t(chart_class)}" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{_t(title)}</title>",
    ]
    bottom = height - 8
    for at, label in ticks:
        out.append(
            f'<line class="grid" x1="{_num(x(at))}" y1="{TOP - 6}" x2="{_num(x(at))}" y2="{bottom}" '
            'stroke="#8884" stroke-width="1"/>'
            f'<text class="tick" x="{_num(x(at))}" y="{TOP - 10}" text-anchor="middle" '
            f'font-size="11" fill="currentColor">{_t(label)}</text>'
        )
    for m in marks:
        colour = {"bad": "#c62828", "warn": "#b26a00"}.get(m.tone, "#555")
        out.append(
            f'<line class="mark" x1="{_num(x(m.at))}" y1="{TOP - 4}" x2="{_num(x(m.at))}" y2="{bottom}" '
            f'stroke="{colour}" stroke-width="2" stroke-dasharray="5 3"/>'
            f'<text class="mark-label" x="{_num(x(m.at) + 3)}" y="{bottom - 2}" font-size="10" '
            f'fill="{colour}">{_t(m.label)}</text>'
        )
    fills = {"ok": "#2e7d32", "bad": "#c62828", "warn": "#ef8f00", "neutral": "#3f6fb5"}
    for i, b in enumerate(bars):
        y = TOP + i * ROW_H + (ROW_H - BAR_H) / 2
        mid = y + BAR_H / 2
        out.append(
            f'<text class="bar-label" x="{LABEL_W - 8}" y="{_num(mid + 4)}" text-anchor="end" '
            f'font-size="12" fill="currentColor">{_t(b.label)}</text>'
        )
        w = max(x(b.value) - LABEL_W, 0.0)
        out.append(
            f'<rect class="bar" x="{LABEL_W}" y="{_num(y)}" width="{_num(max(w, 1.5))}" height="{BAR_H}" '
            f'fill="{fills.get(b.tone, fills["neutral"])}" rx="2">'
            f"<title>{_t(b.label)}: {_t(b.text)}</title></rect>"
        )
        if b.low is not None and b.high is not None:
            x1, x2 = x(b.low), x(b.high)
            out.append(
                f'<path class="interval" d="M{_num(x1)} {_num(mid)}H{_num(x2)}'
                f'M{_num(x1)} {_num(mid - 5)}V{_num(mid + 5)}M{_num(x2)} {_num(mid - 5)}V{_num(mid + 5)}" '
                'stroke="currentColor" stroke-width="1.5" fill="none"/>'
            )
        if b.threshold is not None:
            tx = x(b.threshold)
            out.append(
                f'<line class="threshold" x1="{_num(tx)}" y1="{_num(y - 4)}" x2="{_num(tx)}" '
                f'y2="{_num(y + BAR_H + 4)}" stroke="#c62828" stroke-width="3"/>'
            )
        if b.reference is not None:
            rx = x(b.reference)
            out.append(
                f'<path class="reference" d="M{_num(rx)} {_num(mid - 6)}L{_num(rx + 6)} {_num(mid)}'
                f'L{_num(rx)} {_num(mid + 6)}L{_num(rx - 6)} {_num(mid)}Z" fill="none" '
                'stroke="#6a1b9a" stroke-width="2"/>'
            )
        out.append(
            f'<text class="bar-value" x="{LABEL_W + PLOT_W + 10}" y="{_num(mid + 4)}" font-size="12" '
            f'fill="currentColor">{_t(b.text)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
