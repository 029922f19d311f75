"""Plain pickle files (and anything identified as one by content, whatever its name)."""

from __future__ import annotations

from gate.scanner.interface import Context, Target
from gate.scanner.pickle_walker import walk_all
from gate.scanner.stream import Stream


def analyse(target: Target, ctx: Context) -> None:
    with target.open() as fh:
        s = Stream(fh, ctx.limits.max_pickle_bytes, size=target.size)
        walk_all(s, ctx, target.display)
        ctx.result.bytes_read += s.bytes_read
