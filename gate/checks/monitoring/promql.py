"""Just enough PromQL to cross-check alert rules: metric names, thresholds, kept labels.

This is a lexer plus a few structural rules, not a PromQL parser: promtool (when
installed) validates the syntax. What we need is robust on any input, never
raises and runs in linear time:

- the metric names an expression selects (to compare with what serving exports);
- the numeric thresholds of its top-level comparisons (to judge their range);
- whether every aggregation and vector matching keeps a given label (the model
  version), because an alert that sums the label away cannot say which model
  version is misbehaving;
- whether it selects any series at all (a constant expression never changes:
  the rule is disabled in all but name).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

MAX_EXPR_CHARS = 20_000

KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "atan2",
        "start",
        "end",
        "inf",
        "nan",
    }
)
AGGREGATIONS = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    }
)
COMPARISONS = frozenset({">", ">=", "<", "<=", "==", "!="})
# Series that exist without any exporter: Prometheus makes them itself.
BUILTIN_SERIES = frozenset(
    {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}
)

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?(?:\d+(?:ms|[smhdwy]))*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|==|!=|>=|<=|[-+*/%^=<>@])
  | (?P<punct>[(){}\[\],])
  | (?P<other>.)
    """,
    re.X | re.S,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    depth: int  # nesting depth of (), {} and [] around the token


@dataclass
class ExprFacts:
    metrics: set[str] = field(default_factory=set)
    name_regex: bool = False  # selects series by a __name__ regex: names unknown
    thresholds: list[float] = field(default_factory=list)
    comparisons: int = 0
    dropped_by: list[str] = field(default_factory=list)  # clauses that drop a watched label
    percent: bool = False  # multiplied by 100 somewhere: thresholds are percentages
    too_long: bool = False

    @property
    def constant(self) -> bool:
        """True when the expression selects no series at all."""
        return not self.metrics and not self.name_regex and not self.too_long


def tokenize(expr: str) -> list[Token]:
    out: list[Token] = []
    depth = 0
    for m in _TOKEN.finditer(expr):
        kind = m.lastgroup or "other"
        text = m.group()
        if kind == "ws":
            continue
        if kind == "punct" and text in ")}]":
            depth = max(0, depth - 1)
        out.append(Token(kind, text, depth))
        if kind == "punct" and text in "({[":
            depth += 1
    return out


def parse_number(text: str) -> float | None:
    low = text.lower()
    if low in ("inf", "+inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    if low == "nan":
        return math.nan
    try:
        return float(int(text, 16)) if low.startswith("0x") else float(text)
    except ValueError:
        return None  # a duration such as 5m


def _label_list(tokens: list[Token], i: int) -> tuple[list[str], int]:
    """Labels inside the '( ... )' starting at tokens[i]; returns them and the index after ')'."""
    labels: list[str] = []
    if i >= len(tokens) or tokens[i].text != "(":
        return labels, i
    depth = tokens[i].depth
    j = i + 1
    while j < len(tokens) and not (tokens[j].text == ")" and tokens[j].depth == depth):
        if tokens[j].kind in ("ident", "str"):
            labels.append(tokens[j].text.strip("\"'`"))
        j += 1
    return labels, j + 1


def _number_operand(tokens: list[Token], i: int, step: int) -> float | None:
    """The number right next to the comparison at i (skipping `bool` and a sign), if it stands alone."""
    j = i + step
    if step > 0 and j < len(tokens) and tokens[j].text == "bool":
        j += 1
    sign = 1.0
    if step > 0 and j < len(tokens) and tokens[j].text in "+-" and tokens[j].kind == "op":
        sign = -1.0 if tokens[j].text == "-" else 1.0
        j += 1
    if not 0 <= j < len(tokens):
        return None
    tok = tokens[j]
    if tok.kind == "num" or (tok.kind == "ident" and tok.text.lower() in ("inf", "nan")):
        value = parse_number(tok.text)
        if value is None:
            return None
        # The operand stands alone only if nothing binds tighter on its far side.
        nxt = j + step
        if 0 <= nxt < len(tokens) and tokens[nxt].depth == tok.depth:
            far = tokens[nxt]
            if far.kind == "op" and far.text in "*/%^":
                return None
            if step < 0 and far.kind == "op" and far.text in "+-":
                return None
        return sign * value
    return None


def analyse(expr: str, keep_label: str | None = None) -> ExprFacts:
    """Facts about a PromQL expression. Never raises."""
    facts = ExprFacts()
    if len(expr) > MAX_EXPR_CHARS:
        facts.too_long = True
        return facts
    tokens = tokenize(expr)
    brace_depths: list[int] = []  # depths at which a '{' opened: label matchers inside
    n = len(tokens)
    i = 0
    skip_until = -1
    while i < n:
        tok = tokens[i]
        if tok.kind == "punct" and tok.text == "{":
            brace_depths.append(tok.depth)
        elif tok.kind == "punct" and tok.text == "}" and brace_depths:
            brace_depths.pop()
        in_braces = bool(brace_depths)
        if in_braces:
            if tok.kind == "ident" and tok.text == "__name__" and i + 2 < n:
                op, val = tokens[i + 1], tokens[i + 2]
                if op.text == "=" and val.kind == "str":
                    facts.metrics.add(val.text[1:-1])
                elif op.text in ("=~", "!~", "!="):
                    facts.name_regex = True
            i += 1
            continue
        if tok.kind == "ident" and i > skip_until:
            word = tok.text
            nxt = tokens[i + 1] if i + 1 < n else None
            low = word.lower()
            if low in ("by", "without", "on", "ignoring"):
                labels, after = _label_list(tokens, i + 1)
                if keep_label:
                    many = after < n and tokens[after].text in ("group_left", "group_right")
                    if low in ("by", "on") and keep_label not in labels and not many:
                        facts.dropped_by.append(f"{word} ({', '.join(labels)})")
                    if low in ("without", "ignoring") and keep_label in labels and not many:
                        facts.dropped_by.append(f"{word} ({', '.join(labels)})")
                skip_until = after - 1
            elif low in ("group_left", "group_right"):
                _labels, after = _label_list(tokens, i + 1)
                skip_until = after - 1
            elif word in AGGREGATIONS and nxt is not None and nxt.text in ("(", "by", "without"):
                if keep_label and not _has_grouping(tokens, i):
                    facts.dropped_by.append(f"{word}(...) without 'by'")
            elif low in KEYWORDS:
                pass
            elif nxt is not None and nxt.text == "(":
                pass  # a function call
            elif i > 0 and tokens[i - 1].text in ("offset", "@"):
                pass
            else:
                facts.metrics.add(word)
        elif tok.kind == "num" and tok.text == "100":
            prev = tokens[i - 1] if i > 0 else None
            nxt = tokens[i + 1] if i + 1 < n else None
            if (prev and prev.text == "*") or (nxt and nxt.text == "*"):
                facts.percent = True
        elif tok.kind == "op" and tok.text in COMPARISONS and tok.depth == 0:
            facts.comparisons += 1
            for step in (1, -1):
                value = _number_operand(tokens, i, step)
                if value is not None:
                    facts.thresholds.append(value)
                    break
        i += 1
    return facts


def _has_grouping(tokens: list[Token], i: int) -> bool:
    """Whether the aggregation at i has a `by`/`without` clause before or after its arguments."""
    if i + 1 < len(tokens) and tokens[i + 1].text in ("by", "without"):
        return True
    # 'sum (...) by (...)': find the ')' closing the argument list.
    if i + 1 >= len(tokens) or tokens[i + 1].text != "(":
        return False
    depth = tokens[i + 1].depth
    j = i + 2
    while j < len(tokens) and not (tokens[j].text == ")" and tokens[j].depth == depth):
        j += 1
    return j + 1 < len(tokens) and tokens[j + 1].text.lower() in ("by", "without")


_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_duration(text: str) -> float | None:
    """A Prometheus duration ('1h30m', '5m', '0s') in seconds; None when invalid."""
    if not isinstance(text, str) or not text or len(text) > 64:
        return None
    if text == "0":
        return 0.0
    m = _DURATION.match(text)
    if not m or not any(m.groups()):
        return None
    return float(sum(int(g) * u for g, u in zip(m.groups(), _UNITS, strict=True) if g))


def metric_family(name: str) -> set[str]:
    """The names under which an exporter may list a series: histogram and counter suffixes removed."""
    out = {name}
    for suffix in ("_bucket", "_sum", "_count", "_total", "_created", "_info"):
        if name.endswith(suffix) and len(name) > len(suffix):
            out.add(name[: -len(suffix)])
    return out


def unit_scale(metric: str) -> float | None:
    """Seconds per unit of a metric by its name suffix (Prometheus naming), or None."""
    base = re.sub(r"_(bucket|sum|count|total)$", "", metric)
    if base.endswith(("_seconds", "_second")):
        return 1.0
    if base.endswith(("_milliseconds", "_ms")):
        return 0.001
    if base.endswith(("_microseconds", "_us")):
        return 0.000001
    return None
