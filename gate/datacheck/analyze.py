"""Run every indicator over one dataset (one file or a directory of shards)."""

from __future__ import annotations

import functools
import gc
import os
import pickle
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gate.datacheck.common import Segments
from gate.datacheck.config import TrainingDataConfig
from gate.datacheck.duplicates import DuplicateResult, NearDuplicateIndex
from gate.datacheck.injection import InjectionScanner, InjectionTallies
from gate.datacheck.readers import BadRows, DatasetUnreadable, Span, read_batches
from gate.datacheck.rows import Row
from gate.datacheck.secrets import SecretScanner, SecretTallies
from gate.datacheck.shift import Profile
from gate.datacheck.triggers import (
    NONE,
    UNIQUE,
    Outcomes,
    TriggerCounter,
    TriggerResult,
    TriggerVerifier,
    find_candidates,
    label_carriers,
)
from gate.datacheck.vocab import HAVE_NUMPY, Encoded, Vocab, encode, encode_tokens, signatures, tokenize
from gate.errors import CheckError, GateError, InputError, ToolMissingError

if HAVE_NUMPY:
    import numpy as np

if TYPE_CHECKING:
    from gate.datacheck.shard import DatasetState, Fetcher, Recorder

DEDUP_CHARS = 1200  # near-duplicate signatures of generative rows look at the response's opening only


@dataclass(frozen=True)
class DataFile:
    rel: str  # release-relative path, as reported
    path: Path
    fmt: str


@dataclass
class Unreadable:
    file: str
    reason: str
    row: int | None


@dataclass
class DatasetResult:
    rows: int = 0
    bad: dict[str, BadRows] = field(default_factory=dict)  # file -> malformed rows
    unreadable: list[Unreadable] = field(default_factory=list)
    kind: str = "text"  # "labelled" | "generative" | "text"
    injection: InjectionTallies | None = None
    secrets: SecretTallies | None = None
    duplicates: DuplicateResult | None = None
    triggers: TriggerResult | None = None
    profile: Profile = field(default_factory=Profile)
    seconds: float = 0.0
    label_carriers: frozenset[str] = frozenset()  # words that lean to one label across the dataset

    @property
    def malformed(self) -> int:
        return sum(b.count for b in self.bad.values())


class _Files:
    """Reads the files, recording malformed rows and unreadable files on the first pass."""

    def __init__(
        self,
        files: list[DataFile],
        cfg: TrainingDataConfig,
        result: DatasetResult,
        spans: dict[str, Span] | None = None,
    ) -> None:
        self.files = files
        self.cfg = cfg
        self.result = result
        self.spans = spans  # a shard: only these files, only these byte spans of them

    def batches(self, record: bool) -> Iterator[tuple[str, list[Row]]]:
        for f in self.files:
            if self.spans is not None and f.rel not in self.spans:
                continue
            bad = BadRows(self.cfg.max_examples)
            try:
                for rows in read_batches(
                    f.path,
                    f.fmt,
                    self.cfg.fields,
                    bad,
                    max_row_bytes=self.cfg.max_row_bytes,
                    span=None if self.spans is None else self.spans[f.rel],
                ):
                    yield f.rel, rows
            except DatasetUnreadable as exc:
                if record:
                    self.result.unreadable.append(Unreadable(f.rel, exc.reason, exc.row))
            if record and bad.count:
                self.result.bad[f.rel] = bad


PARALLEL_MIN_BYTES = 32 * 1024 * 1024


def analyse(
    files: list[DataFile],
    cfg: TrainingDataConfig,
    *,
    profile_only: bool = False,
    parallel: bool | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> DatasetResult:
    """Every indicator over the dataset, streaming; `on_rows` hears the count of rows read so far
    by the scans, once per batch (for progress).

    Two halves that share nothing but the files: the scans (injected instructions, secrets, near-
    duplicates, lengths and labels) and the trigger analysis (token counts, then the candidates'
    rows). For large datasets (and `workers: 2`) the trigger half runs in a second process; each
    half reads the files itself, which costs far less than the analysis.
    """
    start = time.perf_counter()
    if parallel is None:
        size = sum(f.path.stat().st_size for f in files if f.path.exists())
        parallel = (
            cfg.workers > 1 and not profile_only and size >= PARALLEL_MIN_BYTES and (os.cpu_count() or 1) > 1
        )
    part: _TriggerPart | None = None
    res: DatasetResult
    scan = functools.partial(_scan_part, on_rows=on_rows) if on_rows is not None else _scan_part
    if parallel:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        try:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                future = pool.submit(_trigger_part_in_worker, files, cfg)
                res = _without_gc(scan, files, cfg, profile_only)
                outcome = future.result()
            if isinstance(outcome, _WorkerError):
                raise outcome.rebuild()
            part = outcome
        except (OSError, BrokenProcessPool, pickle.PicklingError):
            part = None  # no second process here: run both halves in this one
            res = _without_gc(scan, files, cfg, profile_only)
        finally:
            _stop_resource_tracker()
    else:
        res = _without_gc(scan, files, cfg, profile_only)
    if part is None:
        part = _without_gc(_trigger_part, files, cfg, profile_only)
    res.triggers = part.triggers
    res.profile.words = part.words
    res.label_carriers = part.carriers
    res.seconds = time.perf_counter() - start
    return res


def _stop_resource_tracker() -> None:
    """Stop the helper process that a "spawn" pool starts beside it, now and waiting for it.

    The pool's own worker is joined when the pool shuts down; multiprocessing's resource tracker
    would otherwise live until this process exits and linger after it, and a CI runner that
    waits for the process group sees a child outliving the command. The next pool starts a new one.
    """
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        stop()


T = TypeVar("T")


def _without_gc(fn: Callable[..., T], *args: Any) -> T:
    # Millions of small long-lived objects and no reference cycles: the cyclic collector would
    # rescan them over and over. Reference counting still frees everything.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return fn(*args)
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class _WorkerError:
    kind: str
    message: str
    hint: str | None

    def rebuild(self) -> GateError:
        cls = {"ToolMissingError": ToolMissingError, "InputError": InputError}.get(self.kind, CheckError)
        return cls(self.message, hint=self.hint)


def _trigger_part_in_worker(files: list[DataFile], cfg: TrainingDataConfig) -> _TriggerPart | _WorkerError:
    try:
        return _without_gc(_trigger_part, files, cfg, False)
    except GateError as exc:  # exceptions with keyword arguments do not survive pickling: send the parts
        return _WorkerError(type(exc).__name__, exc.message, exc.hint)


def _scan_part(
    files: list[DataFile],
    cfg: TrainingDataConfig,
    profile_only: bool,
    spans: dict[str, Span] | None = None,
    recorder: Recorder | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> DatasetResult:
    """Rows, malformed rows, lengths and labels; unless profiling, the scans and near-duplicates.

    With a `recorder` (a shard), the near-duplicate index is not fed: each row's inputs to it and to
    the trigger analysis are recorded for the merge instead."""
    res = DatasetResult()
    reader = _Files(files, cfg, res, spans)
    limit = cfg.max_examples
    vocab = Vocab()
    inj = InjectionScanner(cfg.injection_patterns, limit)
    sec = SecretScanner(
        cfg.pii_allowed_email_domains, cfg.pii_allowed_values, cfg.secret_placeholder_markers, limit
    )
    dup = NearDuplicateIndex(cfg.near_duplicate_similarity, cfg.max_tracked_clusters, limit)
    prof = res.profile
    labelled = generative = False
    for rel, rows in reader.batches(record=True):
        res.rows += len(rows)
        if on_rows is not None:
            on_rows(res.rows)
        prof.add_lengths([len(r.prompt) + len(r.response) for r in rows])
        labels = [r.label for r in rows if r.label is not None]
        if labels:
            labelled = True
            prof.labels.update(labels)
        responses = [r.response[:DEDUP_CHARS] for r in rows]
        if any(responses):
            generative = True
        if profile_only:
            if recorder is not None:  # the reference's vocabulary comes from the tokens
                recorder.add(rel, rows, [None] * len(rows))
            continue
        seg = Segments.of(rows)
        inj.scan(rel, rows, seg)
        sec.scan(rel, rows, seg)
        enc = encode(vocab, [r.prompt for r in rows])
        encs = (enc, encode(vocab, responses)) if generative else (enc,)
        sigs = signatures(vocab, *encs)
        if recorder is not None:
            recorder.add(rel, rows, sigs)
        else:
            add = dup.add
            for r, sig in zip(rows, sigs, strict=True):
                add(rel, r.n, sig, r.label, r.prompt)
        if len(vocab) > cfg.max_vocabulary:
            vocab = Vocab()  # signatures depend on words only, so a fresh vocabulary bounds memory
    res.kind = "labelled" if labelled else ("generative" if generative else "text")
    if not profile_only:
        res.injection = inj.out
        res.secrets = sec.out
        res.duplicates = dup.result() if recorder is None else None
    return res


@dataclass
class _TriggerPart:
    triggers: TriggerResult | None
    words: Counter[str]
    carriers: frozenset[str] = frozenset()


@dataclass
class TBatch:
    """What the trigger analysis reads of a batch of rows: from the files, or from shards' states."""

    file: str
    numbers: list[int]
    labels: list[str | None]
    patterns: list[str | None]  # `Outcomes.pattern_of` of each row
    words: list[str]  # `vocab.tokenize` of the prompts
    rows: list[Row] | None = None  # read from the files (quotes the prompts; the pure-Python pass 2)

    @classmethod
    def of(cls, file: str, rows: list[Row]) -> TBatch:
        return cls(
            file,
            [r.n for r in rows],
            [r.label for r in rows],
            [Outcomes.pattern_of(r) for r in rows],
            tokenize([r.prompt for r in rows]),
            rows,
        )


Excerpts = Callable[[set[tuple[str, int]]], dict[tuple[str, int], str]]


def _trigger_part(files: list[DataFile], cfg: TrainingDataConfig, profile_only: bool) -> _TriggerPart:
    reader = _Files(files, cfg, DatasetResult())

    def batches() -> Iterator[TBatch]:
        for rel, rows in reader.batches(record=False):
            yield TBatch.of(rel, rows)

    return trigger_analysis(batches, cfg, profile_only, lambda wanted: _prompts_of(reader, wanted))


def trigger_analysis(
    batches: Callable[[], Iterator[TBatch]], cfg: TrainingDataConfig, profile_only: bool, prompts: Excerpts
) -> _TriggerPart:
    """Token counts per outcome, then the candidates' rows (from the cache, or the batches again).

    `batches` gives the rows in reading order, in the reader's batches (one call per pass); `prompts`
    reads the prompts of a few rows (to quote each trigger's first row)."""
    limit = cfg.max_examples
    vocab = Vocab()
    outcomes = Outcomes(cfg.max_outcomes)
    counter = TriggerCounter(
        vocab, outcomes.size, cfg.max_vocabulary, cfg.max_counts, cfg.trigger_bigrams and not profile_only
    )
    # Pass 2 reads the token ids kept from pass 1 instead of the files, within a memory budget.
    cache: list[_Cached] | None = [] if HAVE_NUMPY and not profile_only else None
    budget = cfg.pass2_cache_mb * 1024 * 1024
    cached_bytes = 0
    n_rows = 0
    for b in batches():
        n_rows += len(b.numbers)
        enc = encode_tokens(vocab, b.words)
        ys = [outcomes.of_parts(lab, p) for lab, p in zip(b.labels, b.patterns, strict=True)]
        counter.add(enc, ys)
        if cache is not None and enc.arr is not None:
            item = _Cached(
                b.file,
                b.numbers,
                enc.arr.astype(np.int32),
                enc.starts,
                enc.ends,
                ys,
                {i: p for i, (p, y) in enumerate(zip(b.patterns, ys, strict=True)) if y == UNIQUE and p},
            )
            cached_bytes += item.size()
            cache.append(item)
            if cached_bytes > budget:
                cache = None
    totals = counter.totals()
    words_by_id = vocab.words
    words: Counter[str] = Counter()
    for i, c in totals.most_common(5000):
        w = words_by_id[i]
        if w is not None:
            words[w] = c
    if profile_only:
        return _TriggerPart(None, words)
    carriers = label_carriers(counter, outcomes)
    if outcomes.kind is None or set(counter.rows) <= {NONE}:
        return _TriggerPart(TriggerResult(applicable=False), words, carriers)
    cands, tested, n_targets = find_candidates(
        counter,
        min_support=cfg.trigger_min_support,
        max_fraction=cfg.trigger_max_support_fraction,
        min_skew=cfg.trigger_min_skew,
        max_p=cfg.trigger_max_p_value,
    )

    def second_pass(verifier: TriggerVerifier) -> None:
        if cache is not None:
            for item in cache:
                verifier.add_encoded(item.file, item.numbers, item.encoded(), item.outcome_of(outcomes))
            return
        for b in batches():
            enc = encode_tokens(vocab, b.words, grow=False)
            if b.rows is not None and not HAVE_NUMPY:
                verifier.add(b.file, b.rows, enc)
                continue
            labels, patterns = b.labels, b.patterns
            verifier.add_encoded(
                b.file,
                b.numbers,
                enc,
                lambda i, labels=labels, patterns=patterns: outcomes.final_parts(labels[i], patterns[i]),  # type: ignore[misc]
                [r.prompt for r in b.rows] if b.rows is not None else None,
            )

    tests = functools.partial(
        TriggerVerifier.result,
        tested=tested,
        outcomes_tested=n_targets,
        n_rows=n_rows,
        min_support=cfg.trigger_min_support,
        min_skew=cfg.trigger_min_skew,
        max_p=cfg.trigger_max_p_value,
        max_context=cfg.trigger_max_context_support,
    )
    # Two looks: every candidate's counts and context (no row lists: most are natural cue words),
    # then every row of the few that pass, with the same context (the same tokens left out).
    screen = TriggerVerifier(counter, outcomes, cands, limit, rows=False)
    if cands:
        second_pass(screen)
    tests(screen, group=False)
    keep, explained = screen.passed(), list(screen.explained)
    verifier = TriggerVerifier(counter, outcomes, keep, limit, exclude_of=cands)
    if keep:
        second_pass(verifier)
    result = tests(verifier)
    result.candidates = len(cands)
    result.explained = explained
    _excerpts(prompts, result)
    return _TriggerPart(result, words, carriers)


@dataclass
class _Cached:
    """One pass-1 batch as pass 2 needs it: token ids, row numbers and outcomes."""

    file: str
    numbers: list[int]
    arr: Any
    starts: list[int]
    ends: list[int]
    ys: list[int]
    unique_patterns: dict[int, str]  # rows whose response pattern was new in pass 1

    def size(self) -> int:
        return (
            int(self.arr.nbytes) + 40 * len(self.numbers) + sum(len(r) for r in self.unique_patterns.values())
        )

    def encoded(self) -> Encoded:
        flat: list[int] = []  # only the numpy array is read in pass 2
        return Encoded(flat, self.starts, self.ends, self.arr.astype(np.int64))

    def outcome_of(self, outcomes: Outcomes) -> Callable[[int], int]:
        def final(i: int) -> int:
            y = self.ys[i]
            if y == UNIQUE:  # the pattern may have repeated later in the file
                return outcomes.index.get(self.unique_patterns.get(i, ""), UNIQUE)
            return y

        return final


def _excerpts(prompts: Excerpts, result: TriggerResult | None) -> None:
    """Quote the first row of each trigger (pass 2 from the cache has no text)."""
    if result is None:
        return
    wanted = {t.examples[0]: t for t in result.triggers if not t.excerpt and t.examples}
    if not wanted:
        return
    for ref, text in prompts(set(wanted)).items():
        wanted[ref].excerpt = " ".join(text[:400].split())[:160]


def _prompts_of(reader: _Files, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The prompts of a few rows, reading the files from the start up to the last of them."""
    left = set(wanted)
    out: dict[tuple[str, int], str] = {}
    last = max(n for _, n in left)
    for rel, rows in reader.batches(record=False):
        for r in rows:
            if (rel, r.n) in left:
                left.discard((rel, r.n))
                out[rel, r.n] = r.prompt
        if not left or (rows and rows[-1].n > last and len({f for f, _ in left}) == 1):
            break
    return out


# -- shards -----------------------------------------------------------------------------------------


def analyse_shard(
    files: list[DataFile],
    spans: dict[str, Span],
    cfg: TrainingDataConfig,
    recorder: Recorder,
    profile_only: bool,
) -> DatasetResult:
    """One shard's part of a dataset: the order-independent scans, and the recorded inputs of the
    order-dependent ones (merged by `merge_shards`)."""
    return _without_gc(_scan_part, files, cfg, profile_only, spans, recorder)


def merge_shards(
    parts: list[DatasetState], cfg: TrainingDataConfig, fetch: Fetcher, profile_only: bool
) -> DatasetResult:
    """A dataset's result from its shards' states: what a single run over all rows gives."""
    from gate.datacheck.shard import batches_of, join, words_of

    start = time.perf_counter()
    m = join(parts)
    res = DatasetResult(rows=m.rows, bad=m.bad)
    res.unreadable = [Unreadable(f, reason, row) for f, reason, row in m.unreadable]
    res.kind = "labelled" if m.labelled else ("generative" if m.generative else "text")
    res.profile.labels = m.labels
    if m.lengths:
        res.profile.lengths = m.lengths
    res.profile.rows = m.rows

    def where(file: str, n: int) -> int | None:
        """The byte offset of a recorded row (rows quoted by triggers)."""
        for d in parts:
            names = [f.rel for f in d.files]
            if file not in names:
                continue
            a = d.arrays()
            hit = np.flatnonzero((a["file"] == names.index(file)) & (a["n"] == n))
            if len(hit):
                off = int(a["offset"][hit[0]])
                return None if off < 0 else off
        return None

    if not profile_only:
        res.injection, res.secrets = m.injection, m.secrets
        dup = NearDuplicateIndex(cfg.near_duplicate_similarity, cfg.max_tracked_clusters, cfg.max_examples)
        dup.fetch = fetch.prompt
        for batch in batches_of(parts):
            for r in batch:
                dup.add(r.file, r.n, r.sig, r.label, None, r.offset)
        res.duplicates = dup.result()

    def tbatches() -> Iterator[TBatch]:
        for batch in batches_of(parts):
            yield TBatch(
                batch[0].file,
                [r.n for r in batch],
                [r.label for r in batch],
                [r.pattern for r in batch],
                words_of(batch),
            )

    part = _without_gc(trigger_analysis, tbatches, cfg, profile_only, lambda w: fetch.prompts(w, where))
    res.triggers = part.triggers
    res.profile.words = part.words
    res.label_carriers = part.carriers
    res.seconds = time.perf_counter() - start
    return res
