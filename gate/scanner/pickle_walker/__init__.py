"""A static walker over pickle opcodes: it never imports, calls or builds anything.

It keeps a symbolic stack and memo so that every import is resolved to the
name the real unpickler would look up (`GLOBAL`, `STACK_GLOBAL` with operands
fetched from the memo, `INST`, `OBJ`), and every call (`REDUCE`, `NEWOBJ`,
`NEWOBJ_EX`, `OBJ`, `INST`, `BUILD`) is checked. Anything imported that is not
on the allowlist is an issue, whether or not its result is used (`POP` does not
hide it): the import alone runs module code, and the object can be reached by
later opcodes. What was seen before a malformed or truncated spot still counts.

The parts: `values` (the symbolic values), `text_args` (protocol-0 arguments), `joblib_arrays`
(the array bytes joblib reads after a wrapper), `judge` (imports and calls against the
allowlist), `machine` (the opcode loop) and `streams` (whole streams, and the plain reading).
"""

from gate.scanner.pickle_walker.joblib_arrays import JOBLIB_WRAPPER, dtype_itemsize
from gate.scanner.pickle_walker.judge import EXECUTED, acted
from gate.scanner.pickle_walker.machine import STR_CLASSES, Walker
from gate.scanner.pickle_walker.streams import FIRST_OPCODES, walk, walk_all
from gate.scanner.pickle_walker.values import (
    MARK,
    UNKNOWN,
    Call,
    Const,
    Global,
    Malformed,
    Mark,
    Persistent,
    Seq,
    Unknown,
    WalkOutcome,
    as_ints,
)

__all__ = [
    "EXECUTED",
    "FIRST_OPCODES",
    "JOBLIB_WRAPPER",
    "MARK",
    "STR_CLASSES",
    "UNKNOWN",
    "Call",
    "Const",
    "Global",
    "Malformed",
    "Mark",
    "Persistent",
    "Seq",
    "Unknown",
    "WalkOutcome",
    "Walker",
    "acted",
    "as_ints",
    "dtype_itemsize",
    "walk",
    "walk_all",
]
