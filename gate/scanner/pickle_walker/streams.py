"""Walking streams: one pickle, every pickle of a stream in turn, and the second reading a plain
unpickler gives a stream whose joblib array bytes were passed over."""

from __future__ import annotations

import contextlib
import dataclasses

from gate.scanner.interface import Context, Issue, IssueKind, Result
from gate.scanner.pickle_walker.judge import acted
from gate.scanner.pickle_walker.machine import Walker
from gate.scanner.pickle_walker.values import Malformed, WalkOutcome
from gate.scanner.stream import OverLimit, Stream, Truncated


def walk(
    stream: Stream, ctx: Context, member: str, base: int = 0, extra_prefixes: tuple[str, ...] = ()
) -> WalkOutcome:
    """Walk one pickle (up to STOP). Malformed or over-limit input becomes an issue."""
    w = Walker(stream, ctx, member, base, extra_prefixes)
    start = stream.pos
    try:
        w.run()
    except (Truncated, Malformed, OverLimit) as exc:
        _report_stop(exc, ctx, member, base + stream.pos - start)
    if w.read_array:
        _walk_plain(stream, ctx, member, base, start, extra_prefixes)
    return w.out


def _walk_plain(
    stream: Stream, ctx: Context, member: str, base: int, start: int, extra_prefixes: tuple[str, ...]
) -> None:
    """The same stream as a plain unpickler reads it (pickle.load, and every loader built on it).

    joblib passes over array bytes after each wrapper's BUILD; a plain unpickler reads them as
    opcodes, on the same stack and memo, so a file can be harmless to joblib.load and run code
    under pickle.load. The stream is read again from its start with array skipping off, and what
    that reading imports or calls is reported at its own severity. Where it stops (real array
    bytes are arbitrary, so it usually stops at once) is not a finding. Two stops follow the
    unpickler where benign object arrays (joblib's nested pickles, read on the outer memo) would
    otherwise be reported: a module that is not installed here (ModuleNotFoundError) and a
    STACK_GLOBAL operand that is an instance of an allowlisted class (not a str). Only reached
    when joblib passed over array bytes, so plain pickles and array-free streams cost nothing."""
    seen = Result(path=ctx.result.path)
    scratch = Context(ctx.settings, seen, lambda t, c: None)  # a walk dispatches nothing
    end = stream.pos
    if stream.seek_to(start):
        _run_plain(
            Walker(stream, scratch, member, base, extra_prefixes, joblib=False, missing_modules_stop=True)
        )
        stream.seek_to(end)
    elif stream.reopen is not None:
        with stream.reopen() as fh:
            again = Stream(fh, stream.limit, size=stream.size)
            try:
                again.skip(start)
            except (Truncated, OverLimit):
                return
            _run_plain(
                Walker(again, scratch, member, base, extra_prefixes, joblib=False, missing_modules_stop=True)
            )
            stream.bytes_read += again.bytes_read
    else:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                "joblib array bytes cannot be read again as a plain unpickler reads them "
                "(the stream can neither seek back nor be opened again), so that reading is not judged",
                member=member,
                offset=base,
                evidence={"limit": "plain-unpickler reading"},
            )
        )
        return
    known = {(i.kind, i.name, i.member, i.offset) for i in ctx.result.issues}
    for issue in seen.issues:
        if acted(issue) and (issue.kind, issue.name, issue.member, issue.offset) not in known:
            ctx.add(
                dataclasses.replace(
                    issue,
                    message=f"read by a plain unpickler (pickle.load), which reads joblib's array bytes "
                    f"as opcodes: {issue.message}",
                    evidence={**issue.evidence, "reader": "plain unpickler"},
                )
            )


def _run_plain(w: Walker) -> None:
    # Where a plain unpickler stops in array bytes is no finding; what it ran before it is.
    with contextlib.suppress(Truncated, Malformed, OverLimit):
        w.run()


def _report_stop(exc: Exception, ctx: Context, member: str, offset: int) -> None:
    """The issue for a walk that ended before STOP."""
    if isinstance(exc, OverLimit):
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                f"pickle analysis stopped: {exc}",
                member=member,
                offset=offset,
                evidence={"limit": exc.what, "value": exc.limit},
            )
        )
        return
    what = "truncated" if isinstance(exc, Truncated) else "malformed"
    ctx.add(Issue(IssueKind.MALFORMED, f"pickle is {what}: {exc}", member=member, offset=offset))


# Opcodes an unpickler accepts as the first of a stream (empty stack, memo and marks): with any of
# them a file may be a pickle, whatever else it is. The rest need something on the stack, a MARK,
# a memo entry or out-of-band buffers, and fail at once. EXT1/2/4 succeed only when the loading
# process registered the code with copyreg; they are included. tests/scanner check the set against
# CPython's unpickler.
FIRST_OPCODES = frozenset(b"\x80\x95(})]\x8fN\x88\x89IJKML\x8a\x8bFGSTUVX\x8c\x8dBC\x8e\x96cP\x82\x83\x84")


def walk_all(
    stream: Stream, ctx: Context, member: str, extra_prefixes: tuple[str, ...] = ()
) -> list[WalkOutcome]:
    """Walk every pickle in a stream, one after another, as a loader calling load() repeatedly would."""
    outs: list[WalkOutcome] = []
    while True:
        start = stream.pos
        out = walk(stream, ctx, member, start, extra_prefixes)
        outs.append(out)
        if not out.complete:
            return outs
        nxt = stream.peek(1)
        if not nxt:
            return outs
        if nxt[0] not in FIRST_OPCODES:
            ctx.add(
                Issue(
                    IssueKind.TRAILING,
                    "data after the last pickle that is not a pickle",
                    member=member,
                    offset=stream.pos,
                )
            )
            return outs
