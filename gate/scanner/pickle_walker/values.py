"""The symbolic values a pickle walk keeps on its stack and in its memo: names, constants,
containers and calls, described and never built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Mark:
    __slots__ = ()


MARK = Mark()


@dataclass
class Const:
    value: Any


@dataclass
class Global:
    module: str
    name: str
    offset: int
    full: str = field(init=False, repr=False)  # computed once: every call checks it

    def __post_init__(self) -> None:
        self.full = f"{self.module}.{self.name}"


@dataclass
class Seq:
    kind: str  # list, tuple, dict, set, frozenset
    items: list[Any] = field(default_factory=list)
    dropped: int = 0


@dataclass
class Call:
    func: Any
    args: Any
    offset: int
    state: Any = None
    opcode: str = ""
    attrs: dict[str, Any] | None = None  # a joblib array wrapper's attributes, once known


@dataclass
class Persistent:
    pid: Any


class Unknown:
    __slots__ = ()


UNKNOWN = Unknown()


@dataclass
class WalkOutcome:
    result: Any = None
    persistent_ids: list[Any] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    raw_imports: list[tuple[str, str]] = field(default_factory=list)  # as written, before renaming
    opcodes: int = 0
    calls: int = 0  # REDUCE, NEWOBJ(_EX), OBJ, INST, BUILD and item additions: what runs code
    complete: bool = False  # reached STOP
    protocol: int | None = None


class Malformed(Exception):
    pass


def describe(v: Any) -> str:
    if isinstance(v, Global):
        return v.full
    if isinstance(v, Const):
        r = repr(v.value)
        return f"constant {r[:60]}"
    if isinstance(v, Call):
        return f"result of calling {describe(v.func)}"
    if isinstance(v, Seq):
        return v.kind
    if isinstance(v, Persistent):
        return "persistent reference"
    return "unknown value"


def as_ints(v: Any) -> list[int] | None:
    if isinstance(v, Seq) and v.kind in ("tuple", "list"):
        out = []
        for x in v.items:
            if not (isinstance(x, Const) and isinstance(x.value, int) and x.value >= 0):
                return None
            out.append(x.value)
        return out
    return None
