"""`--shard i/n`: a deterministic slice of a probe set."""

from __future__ import annotations

import re
from collections.abc import Sequence

from gate.errors import InputError

MAX_SHARDS = 1000
_SHARD = re.compile(r"^\s*(\d{1,4})\s*/\s*(\d{1,4})\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    m = _SHARD.match(text)
    if not m:
        raise InputError(f"--shard '{text}': expected I/N, e.g. 2/4")
    i, n = int(m.group(1)), int(m.group(2))
    if not 1 <= n <= MAX_SHARDS or not 1 <= i <= n:
        raise InputError(f"--shard '{text}': need 1 <= I <= N <= {MAX_SHARDS}")
    return i, n


def shard_of(probes: Sequence[str], i: int, n: int) -> list[str]:
    """Round-robin over the sorted names: stable across machines, shards differ by one at most."""
    return sorted(set(probes))[i - 1 :: n]
