"""Run every indicator over one dataset (one file or a directory of shards)."""

from __future__ import annotations

import gc
import os
import pickle
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gate.datacheck.common import Segments
from gate.datacheck.config import TrainingDataConfig
from gate.datacheck.duplicates import DuplicateResult, NearDuplicateIndex
from gate.datacheck.injection import InjectionScanner, InjectionTallies
from gate.datacheck.readers import BadRows, DatasetUnreadable, read_batches
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
from gate.datacheck.vocab import HAVE_NUMPY, Encoded, Vocab, encode, signatures
from gate.errors import CheckError, GateError, InputError, ToolMissingError

if HAVE_NUMPY:
    import numpy as np

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

    def __init__(self, files: list[DataFile], cfg: TrainingDataConfig, result: DatasetResult) -> None:
        self.files = files
        self.cfg = cfg
        self.result = result

    def batches(self, record: bool) -> Iterator[tuple[str, list[Row]]]:
        for f in self.files:
            bad = BadRows(self.cfg.max_examples)
            try:
                for rows in read_batches(
                    f.path, f.fmt, self.cfg.fields, bad, max_row_bytes=self.cfg.max_row_bytes
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
) -> DatasetResult:
    """Every indicator over the dataset, streaming.

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
    if parallel:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        try:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                future = pool.submit(_trigger_part_in_worker, files, cfg)
                res = _without_gc(_scan_part, files, cfg, profile_only)
                outcome = future.result()
            if isinstance(outcome, _WorkerError):
                raise outcome.rebuild()
            part = outcome
        except (OSError, BrokenProcessPool, pickle.PicklingError):
            part = None  # no second process here: run both halves in this one
            res = _without_gc(_scan_part, files, cfg, profile_only)
        finally:
            _stop_resource_tracker()
    else:
        res = _without_gc(_scan_part, files, cfg, profile_only)
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


def _scan_part(files: list[DataFile], cfg: TrainingDataConfig, profile_only: bool) -> DatasetResult:
    """Rows, malformed rows, lengths and labels; unless profiling, the scans and near-duplicates."""
    res = DatasetResult()
    reader = _Files(files, cfg, res)
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
        prof.add_lengths([len(r.prompt) + len(r.response) for r in rows])
        labels = [r.label for r in rows if r.label is not None]
        if labels:
            labelled = True
            prof.labels.update(labels)
        responses = [r.response[:DEDUP_CHARS] for r in rows]
        if any(responses):
            generative = True
        if profile_only:
            continue
        seg = Segments.of(rows)
        inj.scan(rel, rows, seg)
        sec.scan(rel, rows, seg)
        enc = encode(vocab, [r.prompt for r in rows])
        encs = (enc, encode(vocab, responses)) if generative else (enc,)
        sigs = signatures(vocab, *encs)
        add = dup.add
        for r, sig in zip(rows, sigs, strict=True):
            add(rel, r.n, sig, r.label, r.prompt)
        if len(vocab) > cfg.max_vocabulary:
            vocab = Vocab()  # signatures depend on words only, so a fresh vocabulary bounds memory
    res.kind = "labelled" if labelled else ("generative" if generative else "text")
    if not profile_only:
        res.injection = inj.out
        res.secrets = sec.out
        res.duplicates = dup.result()
    return res


@dataclass
class _TriggerPart:
    triggers: TriggerResult | None
    words: Counter[str]
    carriers: frozenset[str] = frozenset()


def _trigger_part(files: list[DataFile], cfg: TrainingDataConfig, profile_only: bool) -> _TriggerPart:
    """Token counts per outcome, then the candidates' rows (from the cache, or the files again)."""
    scratch = DatasetResult()
    reader = _Files(files, cfg, scratch)
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
    for rel, rows in reader.batches(record=False):
        n_rows += len(rows)
        enc = encode(vocab, [r.prompt for r in rows])
        ys = [outcomes.of(r) for r in rows]
        counter.add(enc, ys)
        if cache is not None and enc.arr is not None:
            item = _Cached(
                rel,
                [r.n for r in rows],
                enc.arr.astype(np.int32),
                enc.starts,
                enc.ends,
                ys,
                {i: r.response for i, (r, y) in enumerate(zip(rows, ys, strict=True)) if y == UNIQUE},
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
    verifier = TriggerVerifier(counter, outcomes, cands, limit)
    if cands and cache is not None:
        for item in cache:
            verifier.add_encoded(item.file, item.numbers, item.encoded(), item.outcome_of(outcomes))
    elif cands:
        for rel, rows in reader.batches(record=False):
            verifier.add(rel, rows, encode(vocab, [r.prompt for r in rows], grow=False))
    result = verifier.result(
        tested=tested,
        outcomes_tested=n_targets,
        n_rows=n_rows,
        min_support=cfg.trigger_min_support,
        min_skew=cfg.trigger_min_skew,
        max_p=cfg.trigger_max_p_value,
        max_context=cfg.trigger_max_context_support,
    )
    _excerpts(reader, result)
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
    unique_responses: dict[int, str]  # generative rows whose response pattern was new in pass 1

    def size(self) -> int:
        return (
            int(self.arr.nbytes)
            + 40 * len(self.numbers)
            + sum(len(r) for r in self.unique_responses.values())
        )

    def encoded(self) -> Encoded:
        flat: list[int] = []  # only the numpy array is read in pass 2
        return Encoded(flat, self.starts, self.ends, self.arr.astype(np.int64))

    def outcome_of(self, outcomes: Outcomes) -> Callable[[int], int]:
        def final(i: int) -> int:
            y = self.ys[i]
            if y == UNIQUE:  # the pattern may have repeated later in the file
                return outcomes.index.get(outcomes.pattern(self.unique_responses[i]), UNIQUE)
            return y

        return final


def _excerpts(reader: _Files, result: TriggerResult | None) -> None:
    """Quote the first row of each trigger (pass 2 from the cache has no text)."""
    if result is None:
        return
    wanted = {t.examples[0]: t for t in result.triggers if not t.excerpt and t.examples}
    if not wanted:
        return
    last = max(n for _, n in wanted)
    for rel, rows in reader.batches(record=False):
        for r in rows:
            t = wanted.pop((rel, r.n), None)
            if t is not None:
                t.excerpt = " ".join(r.prompt[:400].split())[:160]
        if not wanted or (rows and rows[-1].n > last and len({f for f, _ in wanted}) == 1):
            return
