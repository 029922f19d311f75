"""Pickle files, and every other file that an unpickler would also read as a pickle.

A pickle has no required magic: `pickle.load` runs any stream whose first opcode it accepts
(`pickle_walker.FIRST_OPCODES`), protocol-0 pickles are plain text, and a file of another format
(text, a tar header, an image) can start with such an opcode too. So a file identified as
something else is still walked as a pickle when its first byte is one of those opcodes
(`analyse_as_pickle_too`); what the walk saw is reported when the stream gets as far as an import
or a call, which is what the unpickler would already have run before any later error.
"""

from __future__ import annotations

from gate.scanner.interface import Context, Result, Target
from gate.scanner.pickle_walker import FIRST_OPCODES, acted, walk_all
from gate.scanner.stream import Stream


def analyse(target: Target, ctx: Context) -> None:
    with target.open() as fh:
        # With the size known, joblib array bytes are passed over by seeking.
        s = Stream(fh, ctx.limits.max_pickle_bytes, size=target.size, reopen=target.open)
        walk_all(s, ctx, target.display)
        ctx.result.bytes_read += s.bytes_read


def may_be_pickle(head: bytes) -> bool:
    return bool(head) and head[0] in FIRST_OPCODES


def analyse_as_pickle_too(target: Target, ctx: Context) -> None:
    """Walk a file of another format as a pickle; report only what an unpickler would act on."""
    if not may_be_pickle(target.head):
        return
    with target.open() as fh:
        s = Stream(fh, ctx.limits.max_pickle_bytes, size=target.size, reopen=target.open)
        walk_if_acting(s, ctx, target.display, text=_is_text(target.head))


def walk_if_acting(s: Stream, ctx: Context, member: str, text: bool = False) -> bool:
    """Walk bytes that may or may not be a pickle; report the walk only if an unpickler would
    act on it. Returns whether it did.

    Binary data acts when the walk reaches an import of a dotted identifier or a call. Text
    acts when the walk calls something or reaches STOP: a line such as "cat" followed by "dog"
    reads as an import of module 'at', which plain text is full of; a payload needs a call
    (or a complete stream), and an import alone cannot pass arguments."""
    seen = Result(path=ctx.result.path)
    outs = walk_all(s, Context(ctx.settings, seen, lambda t, c: None), member)  # a walk dispatches nothing
    acted_on = [i for i in seen.issues if acted(i)]
    if text and not any(o.complete or o.calls for o in outs):
        acted_on = []
    if not acted_on:
        return False
    if "pickle" not in ctx.result.formats:
        ctx.result.formats.append("pickle")
    ctx.result.bytes_read += s.bytes_read
    for issue in seen.issues:
        ctx.add(issue)
    return True


def _is_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    for cut in range(4):  # the head may end inside a UTF-8 sequence
        try:
            head[: len(head) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False
