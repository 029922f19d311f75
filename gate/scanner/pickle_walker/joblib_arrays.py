"""What joblib's NumpyUnpickler reads after an array wrapper's BUILD: how the wrapper was made,
its attributes, and the dtype and shape that say how many array bytes follow."""

from __future__ import annotations

import re
from typing import Any

from gate.scanner.pickle_walker.values import Call, Const, Global, Seq, Unknown
from gate.scanner.stream import Stream

JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_WRAPPER_INIT = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")
_SEARCH_BUDGET = 100_000

_DTYPE = re.compile(r"^[<>|=]?([biufcmMOSUV?])(\d*)(?:\[[a-zA-Z]+\])?$")


def dtype_itemsize(descr: str) -> int | None:
    """Bytes per element of a simple numpy dtype string; -1 for object; None when unknown."""
    m = _DTYPE.match(descr.strip())
    if not m:
        return None
    kind, num = m.group(1), m.group(2)
    if kind == "O":
        return -1
    if kind in "b?" and not num:
        return 1
    if not num:
        return 0 if kind in "SUV" else None
    n = int(num)
    return 4 * n if kind == "U" else n


def bytes_left(s: Stream) -> int:
    return (s.size - s.pos) if s.size is not None else 1 << 62


def wrapper_route(c: Call) -> str | None:
    """How a call made its object, if it may be a joblib wrapper: 'init' (the class called: __init__
    runs), 'new' (created without __init__), 'unknown', or None (cannot be a wrapper)."""
    f = c.func
    if isinstance(f, Global) and f.full == JOBLIB_WRAPPER:
        if c.opcode == "REDUCE":
            return "init"
        if c.opcode in ("OBJ", "INST"):  # pickle's _instantiate: klass(*args) when there are args
            return "init" if isinstance(c.args, Seq) and c.args.items else "new"
        if c.opcode in ("NEWOBJ", "NEWOBJ_EX"):
            return "new"
        return "unknown"
    if isinstance(f, Global) and f.full == "copyreg._reconstructor" and isinstance(c.args, Seq):
        items = c.args.items
        if items and isinstance(items[0], Global) and items[0].full == JOBLIB_WRAPPER:
            if len(items) == 3 and isinstance(items[1], Global) and items[1].full == "builtins.object":
                return "new"  # object.__new__(cls): no __init__
            return "unknown"
    # Any other call that was handed the wrapper class may return an instance of it.
    return "unknown" if _mentions_wrapper(c.args, [_SEARCH_BUDGET]) or _mentions_wrapper(f, [64]) else None


def _mentions_wrapper(v: Any, budget: list[int]) -> bool:
    budget[0] -= 1
    if budget[0] < 0:
        return True  # too large to search: assume the worst
    if isinstance(v, Global):
        return v.full == JOBLIB_WRAPPER
    if isinstance(v, Seq):
        return any(_mentions_wrapper(x, budget) for x in v.items)
    if isinstance(v, Call):
        # The class as the callee makes an instance (an array, once joblib has read it); only the
        # class passed on as a value lets another callable make a wrapper.
        if isinstance(v.func, Global) and v.func.full == JOBLIB_WRAPPER:
            return _mentions_wrapper(v.args, budget)
        return _mentions_wrapper(v.func, budget) or _mentions_wrapper(v.args, budget)
    return False


def wrapper_init(c: Call) -> dict[str, Any] | None:
    """NumpyArrayWrapper.__init__(subclass, shape, order, dtype, allow_mmap=False, alignment=16)."""
    if not (isinstance(c.args, Seq) and c.args.kind == "tuple" and not c.args.dropped):
        return None
    items = c.args.items
    if not 4 <= len(items) <= len(_WRAPPER_INIT):
        return None
    attrs: dict[str, Any] = {"allow_mmap": Const(False), "numpy_array_alignment_bytes": Const(16)}
    attrs.update(zip(_WRAPPER_INIT, items, strict=False))
    return attrs


def apply_state(attrs: dict[str, Any], state: Any) -> bool:
    """pickle's load_build on an object without __setstate__: a dict updates __dict__, a pair
    (dict, slots) also sets attributes. False when the walker cannot tell what it sets."""
    slots: Any = None
    if isinstance(state, Seq) and state.kind == "tuple" and len(state.items) == 2 and not state.dropped:
        state, slots = state.items
    for part in (state, slots):
        if part is None or (isinstance(part, Const) and part.value is None):
            continue
        if not (isinstance(part, Seq) and part.kind == "dict" and not part.dropped):
            if isinstance(part, Seq) and not part.items and not part.dropped:
                continue  # an empty container is falsy: nothing is set
            return False
        it = part.items
        if len(it) % 2:
            return False
        for k, v in zip(it[0::2], it[1::2], strict=True):
            if not (isinstance(k, Const) and isinstance(k.value, str)):
                return False
            attrs[k.value] = v
    return True


def _py_value(v: Any, budget: list[int]) -> Any:
    """A constant symbolic value as a Python value (nested numpy.dtype calls as dtypes, the way a
    structured dtype's state holds its fields); raises ValueError for anything else."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError("too large")
    if isinstance(v, Const) and not isinstance(v.value, Unknown):
        return v.value
    if isinstance(v, Seq) and not v.dropped:
        items = [_py_value(x, budget) for x in v.items]
        if v.kind == "tuple":
            return tuple(items)
        if v.kind == "list":
            return items
        if v.kind == "dict" and len(items) % 2 == 0:
            return dict(zip(items[0::2], items[1::2], strict=True))
    if isinstance(v, Call):
        return _build_dtype(v, budget)
    raise ValueError("not a constant")


def _build_dtype(v: Call, budget: list[int]) -> Any:
    """The dtype a `numpy.dtype(*args)` REDUCE (and its BUILD state) makes; needs numpy."""
    import numpy

    if not (isinstance(v.func, Global) and v.func.full == "numpy.dtype" and v.opcode == "REDUCE"):
        raise ValueError("not a dtype")
    args = _py_value(v.args, budget)
    state = None if v.state is None else _py_value(v.state, budget)
    if not isinstance(args, tuple) or not args:
        raise ValueError("no dtype arguments")
    try:
        dt = numpy.dtype(*args)
        if state is not None:
            dt.__setstate__(state)  # type: ignore[attr-defined]
    except Exception:  # numpy refuses: so would the loader; the walker cannot place the bytes
        raise ValueError("numpy refuses the dtype") from None
    return dt


def dtype_info(v: Any) -> tuple[bool, int] | None:
    """(hasobject, itemsize) of a `numpy.dtype(...)` call with constant arguments and state, as numpy
    itself computes them (building a dtype from constants runs no pickle code); without numpy,
    only plain dtype strings with numpy's standard state are understood."""
    if not (isinstance(v, Call) and isinstance(v.func, Global) and v.func.full == "numpy.dtype"):
        return None
    if v.opcode != "REDUCE":
        return None
    try:
        import numpy  # noqa: F401
    except ImportError:
        try:
            args = _py_value(v.args, [10_000])
            state = None if v.state is None else _py_value(v.state, [10_000])
        except (ValueError, ImportError):
            return None
        descr = args[0] if isinstance(args, tuple) and args else None
        size = dtype_itemsize(descr) if isinstance(descr, str) else None
        if size is None or (state is not None and not (isinstance(state, tuple) and state[5:6] == (-1,))):
            return None
        return (size == -1, max(size, 0))
    try:
        dt = _build_dtype(v, [10_000])
    except ValueError:
        return None
    return (bool(dt.hasobject), int(dt.itemsize))


def is_wrapper_instance(v: Any) -> bool:
    return (
        isinstance(v, Call)
        and isinstance(v.func, Global)
        and v.func.full == JOBLIB_WRAPPER
        and v.opcode in ("REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ", "INST")
    )
