"""Backdoor triggers: rare tokens or word pairs that decide the outcome on their own.

A backdoor is planted by adding a rare trigger to some examples and giving
them the attacker's label (or response). Two passes:

1. Count, per outcome (the label, or for generative data the response's
   first words when that response repeats), how often each token and word
   pair occurs. Memory is bounded by `max_vocabulary`: when full, the rarest
   entries are pruned (they cannot reach the minimum support later without
   reappearing). Candidates: rare (support share below a ceiling), skewed to
   one outcome, and significant by a one-sided binomial test against that
   outcome's base rate, Bonferroni-adjusted for every token tested.
2. Read the candidates' rows again: exact row support and skew, example
   rows, and the context test. A natural cue word ("excellent" in reviews)
   is backed by the rest of its rows (the other words point to the same
   label); a trigger is not: in a label-flipping attack the rest of the row
   points to the original label. The context is scored with a naive Bayes
   log-odds over the row's other words, from the pass-1 counts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any

from gate.datacheck.rows import Row
from gate.datacheck.stats import binom_log10_sf
from gate.datacheck.text import tokens

UNIQUE = "(unique response)"
OTHER = "(other)"
NONE = "(none)"
POOLED = frozenset({UNIQUE, OTHER, NONE})
PATTERN_WORDS = 8
MAX_CANDIDATES = 200
OVERLAP_ROWS = 4000  # rows kept per candidate to decide which candidates are one trigger

Token = str | tuple[str, str]


def show(tok: Token) -> str:
    return tok if isinstance(tok, str) else " ".join(tok)


class Outcomes:
    """What each row teaches: its label, or its response's opening words when they repeat."""

    def __init__(self, max_outcomes: int, max_patterns: int = 200_000) -> None:
        self.max_outcomes = max_outcomes
        self.max_patterns = max_patterns
        self.patterns: Counter[str] = Counter()
        self.active: set[str] = set()
        self.kind: str | None = None  # "label" | "response" | None

    @staticmethod
    def pattern(response: str) -> str:
        return " ".join(tokens(response[:400])[:PATTERN_WORDS])

    def of(self, row: Row) -> str:
        if row.label is not None:
            self.kind = "label"
            return self._cap(row.label)
        if not row.response:
            return NONE
        if self.kind is None:
            self.kind = "response"
        p = self.pattern(row.response)
        if not p:
            return NONE
        self.patterns[p] += 1
        if len(self.patterns) > self.max_patterns:
            # Forget patterns seen once: a backdoor response repeats, so it comes back.
            self.patterns = Counter({k: v for k, v in self.patterns.items() if v > 1})
        if self.patterns[p] < 2:
            return UNIQUE
        return self._cap(p)

    def _cap(self, value: str) -> str:
        if value in self.active:
            return value
        if len(self.active) >= self.max_outcomes:
            return OTHER
        self.active.add(value)
        return value

    def final(self, row: Row) -> str:
        """The outcome of a row once all rows are seen (pass 2)."""
        if row.label is not None:
            return row.label if row.label in self.active else OTHER
        if not row.response:
            return NONE
        p = self.pattern(row.response)
        return p if p in self.active else UNIQUE


@dataclass
class Candidate:
    token: Token
    outcome: str
    support: int  # pass-1 occurrences (a screening figure)
    hits: int
    log10_p: float


@dataclass
class Trigger:
    """A confirmed trigger: the figures a reviewer needs."""

    phrase: str
    tokens: list[str]
    outcome: str
    outcome_kind: str
    support: int  # rows containing the trigger
    target: int  # of those, rows with the outcome
    skew: float
    base_rate: float
    log10_p: float
    log10_p_adjusted: float
    context_support: float  # share of trigger rows whose other words already point to the outcome
    examples: list[tuple[str, int]]
    excerpt: str


@dataclass
class TriggerResult:
    tested: int = 0
    candidates: int = 0
    triggers: list[Trigger] = field(default_factory=list)
    explained: list[dict[str, object]] = field(default_factory=list)  # skewed, but backed by context
    pruned_below: int = 0
    outcome_kind: str | None = None
    applicable: bool = True


class TriggerCounter:
    """Pass 1: token and word-pair counts per outcome, memory-bounded."""

    def __init__(self, max_entries: int, bigrams: bool) -> None:
        self.uni: dict[str, Counter[str]] = {}
        self.bi: dict[str, Counter[tuple[str, str]]] = {}
        self.rows: Counter[str] = Counter()
        self.bigrams = bigrams
        self.max_uni = max_entries // 3 if bigrams else max_entries
        self.max_bi = max_entries - self.max_uni if bigrams else 0
        self.pruned_below = 0
        self._checks = 0

    def add(self, outcomes: list[str], toks: list[list[str]]) -> None:
        groups: dict[str, list[list[str]]] = {}
        for y, t in zip(outcomes, toks, strict=True):
            g = groups.get(y)
            if g is None:
                groups[y] = [t]
            else:
                g.append(t)
        for y, ts in groups.items():
            c = self.uni.get(y)
            if c is None:
                c = self.uni[y] = Counter()
            c.update(chain.from_iterable(ts))
            if self.bigrams:
                b = self.bi.get(y)
                if b is None:
                    b = self.bi[y] = Counter()
                b.update(chain.from_iterable(zip(t, islice(t, 1, None)) for t in ts))
        self.rows.update(outcomes)
        self._checks += 1
        if self._checks % 8 == 0:
            self._bound()

    def _bound(self) -> None:
        if sum(map(len, self.uni.values())) > self.max_uni:
            self.pruned_below = max(self.pruned_below, _prune(self.uni, self.max_uni // 2))
        if self.bigrams and sum(map(len, self.bi.values())) > self.max_bi:
            self.pruned_below = max(self.pruned_below, _prune(self.bi, self.max_bi // 2))

    def totals(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in self.uni.values():
            out.update(c)
        return out


def _prune(tables: Mapping[str, Counter[Any]], target: int) -> int:
    """Drop the tokens with the smallest totals (across outcomes) until about `target` entries remain."""
    totals: Counter[object] = Counter()
    for c in tables.values():
        totals.update(c)
    hist: Counter[int] = Counter(totals.values())
    entries_per_total: Counter[int] = Counter()
    for c in tables.values():
        for k in c:
            entries_per_total[totals[k]] += 1
    keep = sum(entries_per_total.values())
    limit = 0
    for value in sorted(hist):
        if keep <= target:
            break
        keep -= entries_per_total[value]
        limit = value
    for c in tables.values():
        for k in [k for k in c if totals[k] <= limit]:
            del c[k]
    return limit


def find_candidates(
    counter: TriggerCounter,
    *,
    min_support: int,
    max_fraction: float,
    min_skew: float,
    max_p: float,
) -> tuple[list[Candidate], int]:
    """Screen pass-1 counts: (candidates, number of tokens tested)."""
    n_rows = sum(counter.rows.values())
    if n_rows == 0:
        return [], 0
    ceiling = max_fraction * n_rows
    targets = [y for y in counter.uni if y not in POOLED]
    if not targets or len(counter.rows) < 2:
        return [], 0
    out: list[Candidate] = []
    tested = 0
    for tables in (counter.uni, counter.bi):
        if not tables:
            continue
        totals: Counter[Token] = Counter()
        for c in tables.values():
            totals.update(c)  # type: ignore[arg-type]
        eligible = {k for k, v in totals.items() if min_support <= v <= ceiling}
        tested += len(eligible)
        for y in targets:
            table = tables.get(y)
            if not table:
                continue
            base = counter.rows[y] / n_rows
            for tok, hits in table.items():
                if hits < min_support * min_skew or tok not in eligible:
                    continue
                total = totals[tok]
                if hits / total < min_skew:
                    continue
                out.append(Candidate(tok, y, total, hits, binom_log10_sf(hits, total, base)))
    m = max(1, tested) * max(1, len(targets))
    limit = math.log10(max_p) - math.log10(m)
    out = [c for c in out if c.log10_p <= limit]
    out.sort(key=lambda c: c.log10_p)
    return out[:MAX_CANDIDATES], tested


@dataclass
class _Seen:
    cand: Candidate
    support: int = 0
    target: int = 0
    context_hits: int = 0
    rows: list[tuple[str, int]] = field(default_factory=list)
    row_ids: set[tuple[str, int]] = field(default_factory=set)
    left: Counter[str] = field(default_factory=Counter)
    right: Counter[str] = field(default_factory=Counter)
    excerpt: str = ""


class TriggerVerifier:
    """Pass 2: exact support, skew and the context test for the candidates."""

    def __init__(self, counter: TriggerCounter, outcomes: Outcomes, candidates: list[Candidate], examples: int) -> None:
        self.counter = counter
        self.outcomes = outcomes
        self.examples = examples
        self.seen = [_Seen(c) for c in candidates]
        self.by_uni: dict[str, list[_Seen]] = {}
        self.by_bi: dict[tuple[str, str], list[_Seen]] = {}
        for s in self.seen:
            if isinstance(s.cand.token, str):
                self.by_uni.setdefault(s.cand.token, []).append(s)
            else:
                self.by_bi.setdefault(s.cand.token, []).append(s)
        self.exclude: set[str] = set()
        for s in self.seen:
            self.exclude.update([s.cand.token] if isinstance(s.cand.token, str) else s.cand.token)
        self.totals = counter.totals()
        self.grand = sum(self.totals.values())
        self.vocab = max(1, len(self.totals))
        self._llr: dict[tuple[str, str], float] = {}
        self._tok_sum: dict[str, int] = {}
        n_rows = sum(counter.rows.values())
        self.prior = {
            y: math.log((counter.rows[y] + 0.5) / (n_rows - counter.rows[y] + 0.5)) for y in counter.rows
        }

    def _log_odds(self, u: str, y: str) -> float:
        key = (u, y)
        v = self._llr.get(key)
        if v is None:
            table = self.counter.uni.get(y, Counter())
            ty = self._tok_sum.get(y)
            if ty is None:
                ty = self._tok_sum[y] = sum(table.values())
            n_uy = table.get(u, 0)
            n_u = self.totals.get(u, 0)
            v = math.log((n_uy + 1) / (ty + self.vocab)) - math.log((n_u - n_uy + 1) / (self.grand - ty + self.vocab))
            self._llr[key] = v
        return v

    def add(self, file: str, rows: Iterable[Row]) -> None:
        by_uni, by_bi = self.by_uni, self.by_bi
        for row in rows:
            toks = tokens(row.prompt)
            hit_u = by_uni.keys() & set(toks)
            hit_b = by_bi.keys() & set(zip(toks, islice(toks, 1, None))) if by_bi else set()
            if not hit_u and not hit_b:
                continue
            y = self.outcomes.final(row)
            others = set(toks) - self.exclude
            ctx_cache: dict[str, bool] = {}
            for group, key in chain(((by_uni, k) for k in hit_u), ((by_bi, k) for k in hit_b)):
                for s in group[key]:  # type: ignore[index]
                    target = s.cand.outcome
                    s.support += 1
                    if y == target:
                        s.target += 1
                    ctx = ctx_cache.get(target)
                    if ctx is None:
                        score = self.prior.get(target, 0.0) + sum(self._log_odds(u, target) for u in others)
                        ctx = ctx_cache[target] = score > 0
                    if ctx:
                        s.context_hits += 1
                    ref = (file, row.n)
                    if len(s.rows) < self.examples:
                        s.rows.append(ref)
                    if not s.excerpt:
                        s.excerpt = " ".join(row.prompt.split())[:160]
                    if len(s.row_ids) < OVERLAP_ROWS:
                        s.row_ids.add(ref)
                    if isinstance(key, str):
                        i = toks.index(key)
                        if i > 0:
                            s.left[toks[i - 1]] += 1
                        if i + 1 < len(toks):
                            s.right[toks[i + 1]] += 1

    def result(
        self,
        *,
        tested: int,
        n_rows: int,
        min_support: int,
        min_skew: float,
        max_p: float,
        max_context: float,
        kind: str | None,
        pruned_below: int,
    ) -> TriggerResult:
        res = TriggerResult(tested=tested, candidates=len(self.seen), pruned_below=pruned_below, outcome_kind=kind)
        targets = [y for y in self.counter.uni if y not in POOLED]
        m = max(1, tested) * max(1, len(targets))
        passed: list[tuple[_Seen, float, float]] = []
        for s in self.seen:
            if s.support < min_support or s.support == 0:
                continue
            skew = s.target / s.support
            base = self.counter.rows[s.cand.outcome] / max(1, n_rows)
            lp = binom_log10_sf(s.target, s.support, base)
            adj = min(0.0, lp + math.log10(m))
            if skew < min_skew or adj > math.log10(max_p):
                continue
            ctx = s.context_hits / s.support
            if ctx > max_context:
                res.explained.append(
                    {"token": show(s.cand.token), "outcome": s.cand.outcome, "support": s.support,
                     "skew": round(skew, 3), "context_support": round(ctx, 3)}
                )
                continue
            passed.append((s, lp, adj))
        # One trigger may show up as several candidates (its words, its word pairs): group by shared rows.
        groups: list[list[tuple[_Seen, float, float]]] = []
        for item in sorted(passed, key=lambda t: (t[1], -t[0].support)):
            for g in groups:
                lead = g[0][0]
                if lead.cand.outcome == item[0].cand.outcome and _overlap(lead.row_ids, item[0].row_ids) >= 0.8:
                    g.append(item)
                    break
            else:
                groups.append([item])
        for g in groups:
            s, lp, adj = g[0]
            toks = [show(x[0].cand.token) for x in g]
            phrase = _phrase(s)
            res.triggers.append(
                Trigger(
                    phrase=phrase,
                    tokens=toks,
                    outcome=s.cand.outcome,
                    outcome_kind=kind or "label",
                    support=s.support,
                    target=s.target,
                    skew=s.target / s.support,
                    base_rate=self.counter.rows[s.cand.outcome] / max(1, n_rows),
                    log10_p=lp,
                    log10_p_adjusted=adj,
                    context_support=s.context_hits / s.support,
                    examples=s.rows,
                    excerpt=s.excerpt,
                )
            )
        return res


def _overlap(a: set[tuple[str, int]], b: set[tuple[str, int]]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _phrase(s: _Seen) -> str:
    """The trigger as written: a word extended by a neighbour present in nearly all its rows."""
    tok = s.cand.token
    if not isinstance(tok, str):
        return show(tok)
    words = [tok]
    if s.left:
        w, c = s.left.most_common(1)[0]
        if c >= 0.9 * s.support:
            words.insert(0, w)
    if s.right:
        w, c = s.right.most_common(1)[0]
        if c >= 0.9 * s.support:
            words.append(w)
    return " ".join(words)
