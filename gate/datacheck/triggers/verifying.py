"""Pass 2 of the trigger search: the candidates' rows read again for exact support and skew,
example rows, and the context test that tells a planted trigger from a natural cue word."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise, repeat
from typing import Any

from gate.datacheck import vocab
from gate.datacheck.common import RowSet
from gate.datacheck.rows import Row
from gate.datacheck.stats import binom_log10_sf
from gate.datacheck.triggers.counting import PAIR_SHIFT, Candidate, TriggerCounter
from gate.datacheck.triggers.outcomes import Outcomes
from gate.datacheck.vocab import Encoded

if vocab.HAVE_NUMPY:
    import numpy as np

# `vocab.HAVE_NUMPY` is read where it is used, not copied: it is the one switch between the NumPy
# and the pure-Python paths of the trigger search, shared by both of its passes.

OVERLAP_ROWS = 500  # rows kept per candidate to decide which candidates are one trigger


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
        if vocab.HAVE_NUMPY:
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
        if vocab.HAVE_NUMPY and enc.arr is not None:
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
        if vocab.HAVE_NUMPY and enc.arr is not None:
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


def summary(res: TriggerResult) -> dict[str, Any]:
    return {"tested": res.tested, "candidates": res.candidates, "triggers": len(res.triggers)}
