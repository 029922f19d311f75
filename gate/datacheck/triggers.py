"""Backdoor triggers: rare tokens or word pairs that decide the outcome on their own.

A backdoor is planted by adding a rare trigger to some examples and giving
them the attacker's label (or response). Two passes:

1. Count, per outcome (the label, or for generative data the response's
   opening words when that response repeats), how often each token and word
   pair occurs in prompts. Memory is bounded (`max_vocabulary`,
   `max_counts`): when full, the rarest tokens and pairs are pruned; a
   trigger that reaches the minimum support keeps coming back and is
   counted again. Candidates: rare (support share below a ceiling), skewed
   to one outcome and significant by a one-sided binomial test against that
   outcome's base rate, Bonferroni-adjusted for every token and outcome tested.
2. Read the candidates' rows again: exact row support and skew, example
   rows, and the context test. A natural cue word ("excellent" in reviews)
   is backed by the rest of its rows (the other words point to the same
   label); a trigger is not: in a label-flipping attack the rest of the row
   points to the original label, in an instruction backdoor to nothing in
   particular. The context is scored with naive Bayes log-odds over the
   row's other words, from the pass-1 counts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise, repeat
from typing import Any

from gate.datacheck.common import RowSet
from gate.datacheck.rows import Row
from gate.datacheck.stats import binom_log10_sf
from gate.datacheck.text import tokens
from gate.datacheck.vocab import HAVE_NUMPY, Encoded, Vocab

if HAVE_NUMPY:
    import numpy as np

NONE, UNIQUE, OTHER = 0, 1, 2
POOLED_NAMES = ("(none)", "(unique response)", "(other)")
PATTERN_WORDS = 8
MAX_CANDIDATES = 1000
OVERLAP_ROWS = 500  # rows kept per candidate to decide which candidates are one trigger
PAIR_SHIFT = 24  # token ids stay below 2**24 (max_vocabulary is capped well below)


_URL = re.compile(r"(?i)\b(?:https?://|hxxps?://|www\.)(?:[^\s/@]*@)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)")
_DOMAIN = re.compile(
    r"(?i)(?<![\w.@-])((?:[a-z0-9-]+\.)+(?:com|net|org|io|ru|cn|xyz|info|biz|co|top|dev|app|me|ly|cc|tk|"
    r"site|online|click|link|zip|sh|gg|su|pw))(?![\w-])"
)
_CODE = re.compile(r"```[\w+-]*\n?([^`]{3,400}?)```|`([^`\n]{3,200})`")
_COMMAND = re.compile(
    r"(?im)^\s*(?:\$\s*)?((?:sudo\s+)?(?:curl|wget|bash|sh|powershell|iex|pip3?\s+install|npm\s+install|"
    r"chmod|rm\s+-|nc|ncat|python3?\s+-c|eval|base64)\b[^\n]{0,200})"
)
_TOOL = re.compile(
    r"(?i)\"(?:name|tool|tool_name|function)\"\s*:\s*\"([\w.-]{1,64})\"|<tool_call>\s*([\w.-]{1,64})"
)
_REFUSAL = re.compile(
    r"(?i)^\W*(?:sorry\W+)?(?:i\s+(?:can(?:no|')t|cannot|am\s+unable|'m\s+unable|won't|will\s+not|must\s+decline)"
    r"|i'm\s+sorry,?\s+but\s+i|as\s+an\s+ai\b)"
)
EFFECT_KINDS = ("links to", "runs", "gives code", "calls tool", "refuses")


def effect(response: str) -> str | None:
    """The outcome key of a response that does something recognisable, else None.

    A backdoor's payload is what the response does (send the user to a site, run a command, call a
    tool, refuse), and the attacker may phrase the sentence around it differently every time: the key
    is the normalised payload (registered host without `www.`, whitespace-collapsed command or code),
    never the wording.
    """
    head = response[:4000]
    m = _URL.search(head) or _DOMAIN.search(head)
    if m:
        host = m.group(1).lower().rstrip(".")
        return "links to " + (host[4:] if host.startswith("www.") else host)
    m = _COMMAND.search(head)
    if m:
        return "runs " + " ".join(m.group(1).split())[:120]
    m = _TOOL.search(head)
    if m:
        return "calls tool " + (m.group(1) or m.group(2))
    m = _CODE.search(head)
    if m:
        return "gives code " + " ".join((m.group(1) or m.group(2)).split())[:120]
    if _REFUSAL.search(head[:200]):
        return "refuses"
    return None


def is_effect(outcome: str) -> bool:
    return outcome.startswith(EFFECT_KINDS)


def describe(outcome: str, kind: str | None) -> str:
    """The outcome in words, for titles: "label 'positive'", "responses that link to evil.example"."""
    if kind == "label":
        return f"label '{outcome}'"
    if is_effect(outcome):
        verb, _, rest = outcome.partition(" ")
        plain = {"links": "link", "runs": "run", "gives": "give", "calls": "call", "refuses": "refuse"}[verb]
        return f"responses that {plain}" + (f" {rest}" if rest else "")
    return f"responses starting '{outcome}'"


class Outcomes:
    """What each row teaches, as a small integer: its label, or its response's opening words when
    they repeat."""

    def __init__(self, max_outcomes: int, max_patterns: int = 200_000) -> None:
        self.size = max_outcomes + len(POOLED_NAMES)
        self.names: list[str] = list(POOLED_NAMES)
        self.index: dict[str, int] = {}
        self.max_patterns = max_patterns
        self.patterns: Counter[str] = Counter()
        self.kind: str | None = None  # "label" | "response" | None

    @staticmethod
    def pattern(response: str) -> str:
        """What the response does, however it is phrased: the site it links, the command or code it
        gives, the tool it calls, a refusal; otherwise its opening words."""
        return effect(response) or " ".join(tokens(response[:400])[:PATTERN_WORDS])

    @classmethod
    def pattern_of(cls, row: Row) -> str | None:
        """What `of_parts` needs of a row besides its label: None without label and response."""
        return cls.pattern(row.response) if row.label is None and row.response else None

    def of(self, row: Row) -> int:
        return self.of_parts(row.label, self.pattern_of(row))

    def of_parts(self, label: str | None, p: str | None) -> int:
        """The outcome of a row from its label or, without one, its response's pattern (None: no response)."""
        if label is not None:
            self.kind = "label"
            return self._cap(label)
        if p is None:
            return NONE
        if self.kind is None:
            self.kind = "response"
        if not p:
            return NONE
        seen = self.patterns[p] = self.patterns[p] + 1
        if len(self.patterns) > self.max_patterns:
            # Forget patterns seen once: a backdoor response repeats, so it comes back.
            self.patterns = Counter({k: v for k, v in self.patterns.items() if v > 1})
        if seen < 2:
            return UNIQUE
        return self._cap(p)

    def _cap(self, value: str) -> int:
        i = self.index.get(value)
        if i is not None:
            return i
        if len(self.names) >= self.size:
            return OTHER
        i = self.index[value] = len(self.names)
        self.names.append(value)
        return i

    def final(self, row: Row) -> int:
        """The outcome of a row once all rows are seen (pass 2)."""
        return self.final_parts(row.label, self.pattern_of(row))

    def final_parts(self, label: str | None, p: str | None) -> int:
        if label is not None:
            return self.index.get(label, OTHER)
        if p is None:
            return NONE
        return self.index.get(p, UNIQUE)


@dataclass
class Candidate:
    token: int | tuple[int, int]  # id, or (id, id) for a word pair
    outcome: int
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
    rows: RowSet = field(default_factory=RowSet)  # every row containing the trigger
    target_rows: RowSet = field(default_factory=RowSet)  # of those, every row with the outcome


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
    """Pass 1: token and word-pair counts per outcome, memory-bounded.

    Keys are integers: `id * L + outcome` for tokens and `(a << 24 | b) * L + outcome` for pairs.
    """

    def __init__(self, vocab: Vocab, outcomes: int, max_vocab: int, max_counts: int, bigrams: bool) -> None:
        self.vocab = vocab
        self.L = outcomes
        self.uni: Counter[int] = Counter()
        self.bi: Counter[int] = Counter()
        self.rows: Counter[int] = Counter()
        self.bigrams = bigrams
        self.max_vocab = max_vocab
        self.max_uni = max_counts // 2 if bigrams else max_counts
        self.max_bi = max_counts - self.max_uni if bigrams else 0
        self.pruned_below = 0

    def add(self, enc: Encoded, ys: list[int]) -> None:
        L = self.L
        self.rows.update(ys)
        if HAVE_NUMPY and enc.arr is not None and len(enc.arr):
            arr = enc.arr
            sent = arr == 0
            yv = np.asarray(ys, dtype=np.int64)[np.cumsum(sent)]
            keep = ~sent
            self.uni.update((arr[keep] * L + yv[keep]).tolist())
            if self.bigrams and len(arr) > 1:
                a, b = arr[:-1], arr[1:]
                # Pairs of two stop words ("of the") are never rare: not worth their memory.
                content = keep & ~self.vocab.stop_mask(arr)
                m = keep[:-1] & keep[1:] & (content[:-1] | content[1:])
                self.bi.update((((a[m] << PAIR_SHIFT) | b[m]) * L + yv[:-1][m]).tolist())
        else:
            for i, y in enumerate(ys):
                ids = enc.tokens_of(i)
                self.uni.update([t * L + y for t in ids])
                if self.bigrams:
                    stop = self.vocab.stop_ids
                    self.bi.update(
                        [
                            ((a << PAIR_SHIFT) | b) * L + y
                            for a, b in pairwise(ids)
                            if a not in stop or b not in stop
                        ]
                    )
        self._bound()

    def _bound(self) -> None:
        if len(self.vocab) > self.max_vocab:
            self._prune_vocab()
        if len(self.uni) > self.max_uni:
            self._prune_vocab(by_entries=True)
        if self.bigrams and len(self.bi) > self.max_bi:
            self._prune_pairs()

    def totals(self) -> Counter[int]:
        """Occurrences per token id, over all outcomes."""
        out: Counter[int] = Counter()
        L = self.L
        for key, c in self.uni.items():
            out[key // L] += c
        return out

    def _prune_vocab(self, by_entries: bool = False) -> None:
        """Forget the rarest tokens (and their counts) until half the budget is left."""
        totals = self.totals()
        words = self.vocab.words
        ids = [i for i in range(1, len(words)) if words[i] is not None]
        budget = (self.max_uni if by_entries else self.max_vocab) // 2
        per_total: Counter[int] = Counter()
        if by_entries:
            for key in self.uni:
                per_total[totals[key // self.L]] += 1
        else:
            for i in ids:
                per_total[totals.get(i, 0)] += 1
        limit = _threshold(per_total, budget)
        drop = {i for i in ids if totals.get(i, 0) <= limit}
        self.pruned_below = max(self.pruned_below, limit)
        L = self.L
        self.uni = Counter({k: c for k, c in self.uni.items() if k // L not in drop})
        if self.bigrams:
            mask = (1 << PAIR_SHIFT) - 1
            self.bi = Counter(
                {
                    k: c
                    for k, c in self.bi.items()
                    if (k // L) >> PAIR_SHIFT not in drop and (k // L) & mask not in drop
                }
            )
        self.vocab.remove(drop)

    def _prune_pairs(self) -> None:
        L = self.L
        totals: Counter[int] = Counter()
        for key, c in self.bi.items():
            totals[key // L] += c
        per_total: Counter[int] = Counter()
        for key in self.bi:
            per_total[totals[key // L]] += 1
        limit = _threshold(per_total, self.max_bi // 2)
        self.pruned_below = max(self.pruned_below, limit)
        self.bi = Counter({k: c for k, c in self.bi.items() if totals[k // L] > limit})


def _threshold(per_total: Counter[int], budget: int) -> int:
    """The smallest total t such that keeping only entries with totals above t fits the budget."""
    keep = sum(per_total.values())
    limit = 0
    for value in sorted(per_total):
        if keep <= budget:
            break
        keep -= per_total[value]
        limit = value
    return limit


def find_candidates(
    counter: TriggerCounter, *, min_support: int, max_fraction: float, min_skew: float, max_p: float
) -> tuple[list[Candidate], int, int]:
    """Screen pass-1 counts: (candidates, tokens tested, outcomes tested)."""
    n_rows = sum(counter.rows.values())
    targets = {y for y in counter.rows if y > OTHER}
    if n_rows == 0 or not targets or len(counter.rows) < 2:
        return [], 0, 0
    ceiling = max_fraction * n_rows
    L = counter.L
    out: list[Candidate] = []
    tested = 0
    for table, pair in ((counter.uni, False), (counter.bi, True)):
        if not table:
            continue
        totals: Counter[int] = Counter()
        for key, c in table.items():
            totals[key // L] += c
        tested += sum(1 for v in totals.values() if min_support <= v <= ceiling)
        floor = min_support * min_skew
        for key, hits in table.items():
            if hits < floor:
                continue
            tok, y = divmod(key, L)
            if y not in targets:
                continue
            total = totals[tok]
            if total < min_support or total > ceiling or hits < min_skew * total:
                continue
            base = counter.rows[y] / n_rows
            token: int | tuple[int, int] = (tok >> PAIR_SHIFT, tok & ((1 << PAIR_SHIFT) - 1)) if pair else tok
            out.append(Candidate(token, y, total, hits, binom_log10_sf(hits, total, base)))
    m = max(1, tested) * len(targets)
    limit = math.log10(max_p) - math.log10(m)
    out = [c for c in out if c.log10_p <= limit]
    out.sort(key=lambda c: c.log10_p)
    return _fair_share(out, MAX_CANDIDATES), tested, len(targets)


def _fair_share(cands: list[Candidate], cap: int) -> list[Candidate]:
    """At most `cap` candidates, taken in turn from each band of support (powers of two), the most
    significant first within a band.

    Significance grows with support: natural cue words seen in hundreds of rows ("excellent" in
    reviews) are far more significant than a trigger planted in a hundred, and in a large dataset
    there are more of them than the cap. Ranked on one list they would crowd every trigger out
    before the context test could tell them apart; ranked within their band, a rare token competes
    only with tokens as rare as itself."""
    if len(cands) <= cap:
        return cands
    bands: dict[int, list[Candidate]] = {}
    for c in cands:  # already sorted by significance
        bands.setdefault(c.support.bit_length(), []).append(c)
    queues = [bands[b] for b in sorted(bands)]
    taken: list[Candidate] = []
    depth = 0
    while len(taken) < cap:
        row = [q[depth] for q in queues if depth < len(q)]
        if not row:
            break
        taken += row[: cap - len(taken)]
        depth += 1
    taken.sort(key=lambda c: c.log10_p)
    return taken


@dataclass
class _Seen:
    cand: Candidate
    support: int = 0
    target: int = 0
    context_hits: int = 0
    rows: list[tuple[str, int]] = field(default_factory=list)
    row_ids: set[tuple[str, int]] = field(default_factory=set)
    left: Counter[int] = field(default_factory=Counter)
    right: Counter[int] = field(default_factory=Counter)
    excerpt: str = ""
    all: RowSet = field(default_factory=RowSet)
    all_target: RowSet = field(default_factory=RowSet)


class TriggerVerifier:
    """Pass 2: exact row support, skew and the context test for the candidates."""

    def __init__(
        self,
        counter: TriggerCounter,
        outcomes: Outcomes,
        candidates: list[Candidate],
        examples: int,
        *,
        rows: bool = True,
        exclude_of: list[Candidate] | None = None,
    ) -> None:
        """`rows` False: counts and the context test only (no row lists), to screen many candidates
        cheaply; `exclude_of`: the candidates whose tokens the context leaves out (default: these)."""
        self.counter = counter
        self.outcomes = outcomes
        self.examples = examples
        self.rows = rows
        self._passed: list[_Seen] = []
        self.explained: list[dict[str, object]] = []
        self.seen = [_Seen(c) for c in candidates]
        self.by_uni: dict[int, list[_Seen]] = {}
        self.by_bi: dict[int, list[_Seen]] = {}
        self.exclude: set[int] = {0}
        for s in self.seen:
            tok = s.cand.token
            if isinstance(tok, int):
                self.by_uni.setdefault(tok, []).append(s)
            else:
                self.by_bi.setdefault((tok[0] << PAIR_SHIFT) | tok[1], []).append(s)
        for c in candidates if exclude_of is None else exclude_of:
            if isinstance(c.token, int):
                self.exclude.add(c.token)
            else:
                self.exclude.update(c.token)
        self.totals = counter.totals()
        self.grand = sum(self.totals.values())
        self.vocab_size = max(1, len(self.totals))
        self._llr: dict[int, float] = {}
        self._llr_vec: dict[int, Any] = {}
        self._tok_sum: dict[int, int] = {}
        n_rows = sum(counter.rows.values())
        self.prior = {y: math.log((c + 0.5) / (n_rows - c + 0.5)) for y, c in counter.rows.items()}
        if HAVE_NUMPY:
            self._uni_ids = np.array(sorted(self.by_uni), dtype=np.int64)
            self._bi_ids = np.array(sorted(self.by_bi), dtype=np.int64)

    def _log_odds(self, u: int, y: int) -> float:
        L = self.counter.L
        key = u * L + y
        v = self._llr.get(key)
        if v is None:
            ty = self._tok_sum.get(y)
            if ty is None:
                for k, c in self.counter.uni.items():
                    self._tok_sum[k % L] = self._tok_sum.get(k % L, 0) + c
                ty = self._tok_sum.setdefault(y, 0)
            n_uy = self.counter.uni.get(key, 0)
            n_u = self.totals.get(u, 0)
            v = math.log((n_uy + 1) / (ty + self.vocab_size)) - math.log(
                (n_u - n_uy + 1) / (self.grand - ty + self.vocab_size)
            )
            self._llr[key] = v
        return v

    def _context(self, enc: Encoded, target: int) -> list[bool]:
        """Per text of the batch: do its words other than the candidates point to `target`?"""
        if HAVE_NUMPY and enc.arr is not None:
            llr = self._llr_vec.get(target)
            if llr is None:
                llr = self._llr_vec[target] = self._vector(target)
            arr = enc.arr
            vals = llr[np.where(arr >= 0, arr, len(llr) - 1)]
            if not len(vals):
                return [False] * len(enc.starts)
            sums = np.add.reduceat(vals, enc.starts)
            sums[np.asarray(enc.ends) <= np.asarray(enc.starts)] = 0.0
            return ((sums + self.prior.get(target, 0.0)) > 0).tolist()  # type: ignore[no-any-return]
        out = []
        for i in range(len(enc.starts)):
            others = set(enc.tokens_of(i)) - self.exclude
            out.append(self.prior.get(target, 0.0) + sum(self._log_odds(u, target) for u in others) > 0)
        return out

    def _vector(self, target: int) -> Any:
        """Log-odds of every token id for `target` (0 for candidates, unknown and the sentinel)."""
        size = len(self.counter.vocab.words) + 1
        vec = np.zeros(size, dtype=np.float64)
        for u in self.totals:
            if u not in self.exclude:
                vec[u] = self._log_odds(u, target)
        return vec

    def add(self, file: str, rows: list[Row], enc: Encoded) -> None:
        if HAVE_NUMPY and enc.arr is not None:
            self._add_numpy(file, rows, enc)
            return
        targets = {s.cand.outcome for s in self.seen}
        ctx = {t: self._context(enc, t) for t in targets}
        for i, row in enumerate(rows):
            ids = enc.tokens_of(i)
            idset = set(ids)
            hits = [k for k in idset if k in self.by_uni]
            if self.by_bi:
                hits += [k for k in {(a << PAIR_SHIFT) | b for a, b in pairwise(ids)} if k in self.by_bi]
            if not hits:
                continue
            y = self.outcomes.final(row)
            for key in hits:
                for s in self.by_uni.get(key) or self.by_bi[key]:
                    s.support += 1
                    s.target += y == s.cand.outcome
                    s.context_hits += ctx[s.cand.outcome][i]
                    if not self.rows:
                        continue
                    s.all.add(file, row.n)
                    if y == s.cand.outcome:
                        s.all_target.add(file, row.n)
                    if len(s.row_ids) < OVERLAP_ROWS:
                        self._remember(
                            s, file, row, ids, ids.index(key) if isinstance(s.cand.token, int) else -1
                        )

    def _remember(self, s: _Seen, file: str, row: Row, ids: list[int], j: int) -> None:
        ref = (file, row.n)
        if len(s.rows) < self.examples:
            s.rows.append(ref)
        if not s.excerpt:
            s.excerpt = " ".join(row.prompt[:400].split())[:160]
        s.row_ids.add(ref)
        if j >= 0:  # neighbours, to spell the trigger as written
            if j > 0:
                s.left[ids[j - 1]] += 1
            if j + 1 < len(ids):
                s.right[ids[j + 1]] += 1

    def _add_numpy(self, file: str, rows: list[Row], enc: Encoded) -> None:
        final = self.outcomes.final
        self.add_encoded(file, [r.n for r in rows], enc, lambda i: final(rows[i]), [r.prompt for r in rows])

    def add_encoded(
        self,
        file: str,
        numbers: list[int],
        enc: Encoded,
        outcome_of: Callable[[int], int],
        prompts: list[str] | None = None,
    ) -> None:
        """Pass 2 over one encoded batch (numpy): `outcome_of(i)` gives the final outcome of its i-th row."""
        arr = enc.arr
        row_of = np.cumsum(arr == 0)
        found: list[tuple[Any, Any, Any, dict[int, list[_Seen]]]] = []  # (keys, rows, positions, table)
        pos = np.flatnonzero(np.isin(arr, self._uni_ids))
        if len(pos):
            found.append((arr[pos], row_of[pos], pos, self.by_uni))
        if len(self._bi_ids) and len(arr) > 1:
            pk = (arr[:-1] << PAIR_SHIFT) | arr[1:]
            bpos = np.flatnonzero(np.isin(pk, self._bi_ids))
            if len(bpos):
                found.append((pk[bpos], row_of[bpos], bpos, self.by_bi))
        if not found:
            return
        hit_rows = sorted(set(np.concatenate([f[1] for f in found]).tolist()))
        ys = np.full(len(numbers), -1, dtype=np.int64)
        ys[hit_rows] = [outcome_of(i) for i in hit_rows]
        targets = sorted({s.cand.outcome for s in self.seen})
        ctx = {t: np.asarray(self._context(enc, t), dtype=np.float64) for t in targets}
        is_t = {t: (ys == t).astype(np.float64) for t in targets}
        n_rows = len(numbers) + 1
        for found_keys, found_rows, found_pos, table in found:
            universe = self._uni_ids if table is self.by_uni else self._bi_ids
            kidx = np.searchsorted(universe, found_keys)
            # Each (candidate key, row) once: sorted by key, then row.
            pair, first = np.unique(kidx * n_rows + found_rows, return_index=True)
            k_u, r_u, p_u = pair // n_rows, pair % n_rows, found_pos[first]
            size = len(universe)
            support = np.bincount(k_u, minlength=size).tolist()
            target = {t: np.bincount(k_u, weights=is_t[t][r_u], minlength=size).tolist() for t in targets}
            context = {t: np.bincount(k_u, weights=ctx[t][r_u], minlength=size).tolist() for t in targets}
            for k in np.flatnonzero(np.asarray(support)).tolist():  # only the candidates in this batch
                for s in table[int(universe[k])]:
                    t = s.cand.outcome
                    s.support += support[k]
                    s.target += int(target[t][k])
                    s.context_hits += int(context[t][k])
                    if not self.rows:
                        continue
                    a, b = np.searchsorted(k_u, [k, k + 1])
                    mine = r_u[a:b]
                    s.all.extend(file, [numbers[r] for r in mine.tolist()])
                    s.all_target.extend(file, [numbers[r] for r in mine[is_t[t][mine] > 0].tolist()])
                    room = OVERLAP_ROWS - len(s.row_ids)
                    if room <= 0:
                        continue
                    take = mine[:room]
                    nums = [numbers[r] for r in take.tolist()]
                    if len(s.rows) < self.examples:
                        s.rows.extend((file, n) for n in nums[: self.examples - len(s.rows)])
                    if not s.excerpt and prompts is not None:
                        s.excerpt = " ".join(prompts[int(take[0])][:400].split())[:160]
                    s.row_ids.update(zip(repeat(file), nums))
                    if table is self.by_uni:  # neighbours, to spell the trigger as written
                        pp = p_u[a:b][:room]
                        left = arr[np.maximum(pp - 1, 0)]
                        right = arr[np.minimum(pp + 1, len(arr) - 1)]
                        s.left.update(left[(pp > 0) & (left > 0)].tolist())
                        s.right.update(right[(pp + 1 < len(arr)) & (right > 0)].tolist())

    def word(self, i: int) -> str:
        w = self.counter.vocab.words[i] if i < len(self.counter.vocab.words) else None
        return w if w is not None else f"#{i}"

    def show(self, tok: int | tuple[int, int]) -> str:
        return self.word(tok) if isinstance(tok, int) else f"{self.word(tok[0])} {self.word(tok[1])}"

    def passed(self) -> list[Candidate]:
        """The candidates that passed every test in the last `result`."""
        return [s.cand for s in self._passed]

    def result(
        self,
        *,
        group: bool = True,
        tested: int,
        outcomes_tested: int,
        n_rows: int,
        min_support: int,
        min_skew: float,
        max_p: float,
        max_context: float,
    ) -> TriggerResult:
        res = TriggerResult(
            tested=tested,
            candidates=len(self.seen),
            pruned_below=self.counter.pruned_below,
            outcome_kind=self.outcomes.kind,
        )
        m = max(1, tested) * max(1, outcomes_tested)
        names = self.outcomes.names
        passed: list[tuple[_Seen, float, float]] = []
        for s in self.seen:
            if s.support < min_support:
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
                    {
                        "token": self.show(s.cand.token),
                        "outcome": names[s.cand.outcome],
                        "support": s.support,
                        "skew": round(skew, 3),
                        "context_support": round(ctx, 3),
                    }
                )
                continue
            passed.append((s, lp, adj))
        self._passed = [p[0] for p in passed]
        self.explained = res.explained
        if not group:
            return res
        # One trigger shows up as several candidates (its words, its word pairs): group by shared rows.
        groups: list[list[tuple[_Seen, float, float]]] = []
        for item in sorted(passed, key=lambda t: (t[1], -t[0].support)):
            for g in groups:
                lead = g[0][0]
                if (
                    lead.cand.outcome == item[0].cand.outcome
                    and _overlap(lead.row_ids, item[0].row_ids) >= 0.8
                ):
                    g.append(item)
                    break
            else:
                groups.append([item])
        for g in groups:
            s, lp, adj = g[0]
            every, target = RowSet(), RowSet()
            for member in g:
                for f, n in member[0].all:
                    every.add(f, n)
                for f, n in member[0].all_target:
                    target.add(f, n)
            res.triggers.append(
                Trigger(
                    phrase=self._phrase(s),
                    tokens=[self.show(x[0].cand.token) for x in g],
                    outcome=names[s.cand.outcome],
                    outcome_kind=self.outcomes.kind or "label",
                    support=s.support,
                    target=s.target,
                    skew=s.target / s.support,
                    base_rate=self.counter.rows[s.cand.outcome] / max(1, n_rows),
                    log10_p=lp,
                    log10_p_adjusted=adj,
                    context_support=s.context_hits / s.support,
                    examples=s.rows,
                    excerpt=s.excerpt,
                    rows=every,
                    target_rows=target,
                )
            )
        return res

    def _phrase(self, s: _Seen) -> str:
        """The trigger as written: a word extended by a neighbour present in nearly all its rows."""
        tok = s.cand.token
        if not isinstance(tok, int):
            return self.show(tok)
        words = [self.word(tok)]
        for side, counts in (("left", s.left), ("right", s.right)):
            if counts:
                w, c = counts.most_common(1)[0]
                if c >= 0.9 * max(1, len(s.row_ids)):
                    words.insert(0, self.word(w)) if side == "left" else words.append(self.word(w))
        return " ".join(words)


def _overlap(a: set[tuple[str, int]], b: set[tuple[str, int]]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


CARRIER_MIN_COUNT = 5
CARRIER_MIN_LOG_ODDS = 1.0  # e-fold over the label's base odds


def label_carriers(counter: TriggerCounter, outcomes: Outcomes, top: int = 20_000) -> frozenset[str]:
    """Words that carry a label across the dataset: among the `top` commonest tokens, those whose
    occurrences lean to one label by a smoothed log-odds ratio of at least 1 (against that label's
    share of all token occurrences). Rarer words cannot be judged and are not carriers."""
    if outcomes.kind != "label":
        return frozenset()
    L = counter.L
    labels = [i for i in outcomes.index.values() if i > OTHER]
    per_label: Counter[int] = Counter()
    for key, c in counter.uni.items():
        per_label[key % L] += c
    grand = sum(per_label.values())
    if not grand or len(labels) < 2:
        return frozenset()
    words = counter.vocab.words
    out = set()
    for tok, total in counter.totals().most_common(top):
        if total < CARRIER_MIN_COUNT or tok >= len(words) or words[tok] is None:
            continue
        for y in labels:
            hits = counter.uni.get(tok * L + y, 0)
            base = per_label[y] / grand
            lor = math.log((hits + 0.5) / (total - hits + 0.5)) - math.log(base / max(1e-12, 1 - base))
            if abs(lor) >= CARRIER_MIN_LOG_ODDS:
                out.add(words[tok])
                break
    return frozenset(w for w in out if w is not None)


def summary(res: TriggerResult) -> dict[str, Any]:
    return {"tested": res.tested, "candidates": res.candidates, "triggers": len(res.triggers)}
