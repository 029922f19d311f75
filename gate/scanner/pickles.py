"""Pickle files, and every other file that an unpickler would also read as a pickle.

A pickle has no required magic: `pickle.load` runs any stream whose first opcode it accepts
(`pickle_walker.FIRST_OPCODES`), protocol-0 pickles are plain text, and a file of another format
(text, a tar header, an image) can start with such an opcode too. So a file identified as
something else is still walked as a pickle when its first byte is one of those opcodes
(`analyse_as_pickle_too`); what the walk saw is reported when the stream gets as far as an import
or a call, which is what the unpickler would already have run before any later error.
"""

from __future__ import annotations

from gate.scanner.interface import Context, Issue, IssueKind, Result, Target
from gate.scanner.pickle_walker import FIRST_OPCODES, walk_all
from gate.scanner.stream import Stream

# What an unpickler has done by the time it reaches these: imported a module, called or changed
# an object. Malformed or trailing bytes alone are what every non-pickle file looks like.
EXECUTED = frozenset(
    {
        IssueKind.UNSAFE_IMPORT,
        IssueKind.UNRESOLVED_IMPORT,
        IssueKind.MUTATES_IMPORT,
        IssueKind.INDIRECT_CALL,
    }
)


def analyse(target: Target, ctx: Context) -> None:
    with target.open() as fh:
        # With the size known, joblib array bytes are passed over by seeking.
        s = Stream(fh, ctx.limits.max_pickle_bytes, size=target.size)
        walk_all(s, ctx, target.display)
        ctx.result.bytes_read += s.bytes_read


def may_be_pickle(head: bytes) -> bool:
    return bool(head) and head[0] in FIRST_OPCODES


def analyse_as_pickle_too(target: Target, ctx: Context) -> None:
    """Walk a file of another format as a pickle; report only what an unpickler would act on."""
    if not may_be_pickle(target.head):
        return
    with target.open() as fh:
        walk_if_acting(Stream(fh, ctx.limits.max_pickle_bytes, size=target.size), ctx, target.display)


def walk_if_acting(s: Stream, ctx: Context, member: str) -> bool:
    """Walk bytes that may or may not be a pickle; report the walk only if it reaches an import
    or a call that an unpickler would perform. Returns whether it did."""
    seen = Result(path=ctx.result.path)
    walk_all(s, Context(ctx.settings, seen, lambda t, c: None), member)  # a walk dispatches nothing
    if not any(_acted(i) for i in seen.issues):
        return False
    if "pickle" not in ctx.result.formats:
        ctx.result.formats.append("pickle")
    ctx.result.bytes_read += s.bytes_read
    for issue in seen.issues:
        ctx.add(issue)
    return True


# Callees whose call can only raise (TypeError): the walker's descriptions of constants and containers.
INERT_CALLEES = ("constant ", "list", "tuple", "dict", "set", "frozenset", "unknown value")


def _acted(issue: Issue) -> bool:
    """Whether the loader would have acted: imported a name the import system can look up, called
    something callable, or changed an imported object."""
    if issue.kind not in EXECUTED:
        return False
    name = issue.name or ""
    if issue.kind is IssueKind.INDIRECT_CALL:
        return not name.startswith(INERT_CALLEES)
    if issue.kind is IssueKind.UNRESOLVED_IMPORT:
        # An extension code resolves only where the loading process registered it with copyreg.
        return not name.startswith("extension:")
    if issue.kind is not IssueKind.UNSAFE_IMPORT:
        return True
    module = str(issue.evidence.get("module", ""))
    # A module name that is not a dotted identifier (a line of prose, binary noise) names no
    # importable module; a text file is not reported for it.
    return all(part.isidentifier() for part in module.split("."))
