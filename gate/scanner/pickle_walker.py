"""A static walker over pickle opcodes: it never imports, calls or builds anything.

It keeps a symbolic stack and memo so that every import is resolved to the
name the real unpickler would look up (`GLOBAL`, `STACK_GLOBAL` with operands
fetched from the memo, `INST`, `OBJ`), and every call (`REDUCE`, `NEWOBJ`,
`NEWOBJ_EX`, `OBJ`, `INST`, `BUILD`) is checked. Anything imported that is not
on the allowlist is an issue, whether or not its result is used (`POP` does not
hide it): the import alone runs module code, and the object can be reached by
later opcodes. What was seen before a malformed or truncated spot still counts.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import contextlib
import dataclasses
import functools
import importlib.util
import re
import struct
from dataclasses import dataclass, field
from typing import Any, NoReturn

from gate.scanner.interface import Context, Issue, IssueKind, Result
from gate.scanner.stream import OverLimit, Stream, Truncated

NO_FRAME = 1 << 62
KEEP_BYTES = 4096  # longer string/bytes arguments are skipped, not kept
MAX_ISSUES_PER_STREAM = 200

# The unpickler renames Python 2 names in protocol < 3 pickles (`fix_imports`, on by default) with
# the standard library's own tables, so `__builtin__.eval` is judged as `builtins.eval`.
COMPAT_NAMES: dict[tuple[str, str], tuple[str, str]] = _compat_pickle.NAME_MAPPING
COMPAT_MODULES: dict[str, str] = _compat_pickle.IMPORT_MAPPING
# Aliases that reach the same code under another name; used to explain, never to allow.
MODULE_ALIASES = {"posix": "os", "nt": "os", "_pickle": "pickle", "_operator": "operator", "_io": "io"}


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


class Walker:
    def __init__(
        self,
        stream: Stream,
        ctx: Context,
        member: str,
        base: int = 0,
        extra_prefixes: tuple[str, ...] = (),
        joblib: bool = True,
        missing_modules_stop: bool = False,
    ) -> None:
        self.s = stream
        # Reading joblib array bytes as a plain unpickler does: where it names a module that is not
        # installed, the unpickler stops with ModuleNotFoundError (see _walk_plain).
        self.missing_modules_stop = missing_modules_stop
        # joblib's NumpyUnpickler reads array bytes after a wrapper's BUILD; the nested unpickler it
        # uses for object arrays is a plain one and does not.
        self.joblib = joblib and JOBLIB_WRAPPER in ctx.settings.allowlist
        self.saw_wrapper = False
        # Whether joblib's reading passed over array bytes (or a nested array pickle) that a plain
        # unpickler, reading the same file, would read as opcodes of this stream instead.
        self.read_array = False
        self.extra_prefixes = extra_prefixes
        self.ctx = ctx
        self.member = member
        self.base = base  # offset of this stream inside the member, for reporting
        self.allow = ctx.settings.allowlist
        self.refs = ctx.settings.reference_only
        self.lim = ctx.limits
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.out = WalkOutcome()
        self.issues = 0
        self.reported: set[tuple[str, str]] = set()

    # ---- reporting -----------------------------------------------------------------
    def issue(
        self,
        kind: IssueKind,
        msg: str,
        offset: int,
        opcode: str | None,
        name: str | None = None,
        **evidence: Any,
    ) -> None:
        key = (kind.value, name or msg)
        if key in self.reported and kind is not IssueKind.MALFORMED:
            return  # one issue per distinct name per stream; the first offset is reported
        self.reported.add(key)
        self.issues += 1
        if self.issues > MAX_ISSUES_PER_STREAM:
            return
        self.ctx.add(
            Issue(
                kind,
                msg,
                member=self.member,
                offset=self.base + offset,
                opcode=opcode,
                name=name,
                evidence=evidence,
            )
        )

    # ---- stack helpers ------------------------------------------------------------------
    def push(self, v: Any) -> None:
        if len(self.stack) >= self.lim.max_stack_depth:
            raise OverLimit("pickle stack depth", self.lim.max_stack_depth)
        self.stack.append(v)

    def pop(self) -> Any:
        if not self.stack:
            raise Malformed("pop from an empty stack")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise Malformed("empty stack")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise Malformed("no MARK on the stack")
        items = self.stack
        self.stack = self.marks.pop()
        return items

    def seq(self, kind: str, items: list[Any]) -> Seq:
        cap = self.lim.max_container_items
        if len(items) > cap:
            return Seq(kind, items[:cap], len(items) - cap)
        return Seq(kind, items)

    # ---- imports and calls ----------------------------------------------------------------
    def resolve(self, module: str, name: str, offset: int, opcode: str) -> Global:
        self.out.raw_imports.append((module, name))
        if (self.out.protocol or 0) < 3:  # the unpickler's find_class renames only then
            if (module, name) in COMPAT_NAMES:
                module, name = COMPAT_NAMES[module, name]
            elif module in COMPAT_MODULES:
                module = COMPAT_MODULES[module]
        if self.missing_modules_stop and not _installed(module):
            raise Malformed(f"module '{module}' is not installed: the unpickler stops here")
        g = Global(module, name, offset)
        self.out.imports.append(g.full)
        if g.full == JOBLIB_WRAPPER:
            self.saw_wrapper = True
        if (
            g.full not in self.allow
            and g.full not in self.refs
            and not (self.extra_prefixes and g.full.startswith(self.extra_prefixes))
        ):
            alias = MODULE_ALIASES.get(module)
            via = ""
            if alias:
                via = f" ('{module}' is '{alias}' under another name)"
            elif "." in name:
                via = f" (attribute chain '{name}' through module '{module}')"
            self.issue(
                IssueKind.UNSAFE_IMPORT,
                f"imports '{g.full}', which is not on the allowlist{via}",
                offset,
                opcode,
                g.full,
                module=module,
                attribute=name,
            )
        return g

    def call(self, func: Any, args: Any, offset: int, opcode: str) -> Call:
        self.out.calls += 1
        if isinstance(func, Global) and func.full in self.refs:
            self.issue(
                IssueKind.UNSAFE_IMPORT,
                f"calls '{func.full}', which the allowlist admits only as a value: no model needs to "
                "call it while loading",
                offset,
                opcode,
                func.full,
                called=True,
            )
        elif not isinstance(func, Global):
            self.issue(
                IssueKind.INDIRECT_CALL,
                f"calls an object that is not an imported name ({_describe(func)})",
                offset,
                opcode,
                _describe(func),
            )
        return Call(func, args, offset, opcode=opcode)

    def mutate(self, target: Any, offset: int, opcode: str) -> None:
        self.out.calls += 1
        if isinstance(target, Global):
            self.issue(
                IssueKind.MUTATES_IMPORT,
                f"{opcode} changes the imported object '{target.full}' itself, not an instance",
                offset,
                opcode,
                target.full,
            )
        elif isinstance(target, (Const, Persistent)) and opcode != "BUILD":
            self.issue(
                IssueKind.INDIRECT_CALL,
                f"{opcode} on a {_describe(target)}: calls a method of a non-container",
                offset,
                opcode,
                _describe(target),
            )

    # ---- the loop -------------------------------------------------------------------------
    def arg_bytes(self, n: int) -> Const:
        if n < 0:
            raise Malformed("negative length")
        if n <= KEEP_BYTES:
            return Const(self.s.read(n))
        self.s.skip(n)
        return Const(UNKNOWN)

    def run(self) -> WalkOutcome:
        s = self.s
        rd = s.read
        start = s.pos
        # The end of the current FRAME (absolute), and where the previous opcode's arguments began.
        # Reading a file, CPython's C unpickler holds a frame in a buffer and, when an argument
        # runs past its end, drops the rest of the buffer and reads on from the file, while
        # pickle.loads reads straight on: a frame boundary inside an opcode gives two readings.
        frame_end = NO_FRAME
        framed = False  # a plain local test per opcode outside frames (torch writes none)
        off = -1
        while True:
            if framed and s.pos > frame_end:
                if start + off + 1 < frame_end:  # the previous opcode's arguments began inside it
                    self._frame_split(off)
                frame_end = NO_FRAME
                framed = False
            off = s.pos - start
            c = s.read_byte()
            if c < 0:
                raise Truncated("pickle ended without STOP")
            self.out.opcodes += 1
            # The commonest opcodes in weight pickles first (memo traffic, marks, short strings).
            if c == 0x71:  # BINPUT
                idx = rd(1)[0]
                if idx not in self.memo and len(self.memo) >= self.lim.max_memo_entries:
                    raise OverLimit("pickle memo entries", self.lim.max_memo_entries)
                self.memo[idx] = self.top()
            elif c == 0x68:  # BINGET
                idx = rd(1)[0]
                if idx not in self.memo:
                    raise Malformed(f"memo key {idx} read before it was written")
                self.push(self.memo[idx])
            elif c == 0x4B:  # BININT1
                self.push(Const(rd(1)[0]))
            elif c == 0x80:  # PROTO
                self.out.protocol = rd(1)[0]
            elif c == 0x95:  # FRAME
                (n,) = struct.unpack("<Q", rd(8))
                if s.pos > frame_end and start + off + 1 < frame_end:
                    pass  # the length itself crosses the boundary: reported at the next opcode
                elif s.pos + n > frame_end and s.pos < frame_end:
                    self._frame_split(off)  # a frame that outruns the current one (C reads it afresh)
                    frame_end = NO_FRAME
                    framed = False
                elif s.pos >= frame_end or frame_end == NO_FRAME:
                    frame_end = s.pos + n
                    framed = True
            elif c == 0x28:  # MARK
                if len(self.marks) >= self.lim.max_stack_depth:
                    raise OverLimit("pickle MARK depth", self.lim.max_stack_depth)
                self.marks.append(self.stack)
                self.stack = []
            elif c == 0x2E:  # STOP
                self.out.result = self.pop() if self.stack else None
                self.out.complete = True
                return self.out
            elif c == 0x30:  # POP
                if self.stack:
                    self.stack.pop()
                else:
                    self.pop_mark()
            elif c == 0x31:  # POP_MARK
                self.pop_mark()
            elif c == 0x32:  # DUP
                self.push(self.top())
            # ---- constants ----
            elif c == 0x4E:
                self.push(Const(None))
            elif c == 0x88:
                self.push(Const(True))
            elif c == 0x89:
                self.push(Const(False))
            elif c == 0x4A:  # BININT
                self.push(Const(struct.unpack("<i", rd(4))[0]))
            elif c == 0x4B:  # BININT1
                self.push(Const(rd(1)[0]))
            elif c == 0x4D:  # BININT2
                self.push(Const(struct.unpack("<H", rd(2))[0]))
            elif c == 0x8A:  # LONG1
                n = rd(1)[0]
                self.push(Const(int.from_bytes(rd(n), "little", signed=True)))
            elif c == 0x8B:  # LONG4
                n = struct.unpack("<i", rd(4))[0]
                if n < 0:
                    raise Malformed("LONG4 with negative length")
                self.push(
                    Const(int.from_bytes(rd(n), "little", signed=True)) if n <= 64 else self.arg_bytes(n)
                )
            elif c in (0x49, 0x4C):  # INT, LONG (text)
                line = s.readline()
                self.push(Const(_text_int(line) if c == 0x49 else _text_long(line)))
            elif c == 0x46:  # FLOAT (text): any line is passed over (the value is never needed)
                s.readline()
                self.push(Const(0.0))
            elif c == 0x47:  # BINFLOAT
                self.push(Const(struct.unpack(">d", rd(8))[0]))
            elif c == 0x53:  # STRING
                self.push(Const(_text_string(s.readline())))
            elif c == 0x54:  # BINSTRING
                self.push(self._str(self.arg_bytes(struct.unpack("<i", rd(4))[0])))
            elif c == 0x55:  # SHORT_BINSTRING
                self.push(self._str(self.arg_bytes(rd(1)[0])))
            elif c == 0x56:  # UNICODE
                self.push(Const(s.readline().decode("raw_unicode_escape", "replace")))
            elif c == 0x58:  # BINUNICODE
                self.push(self._str(self.arg_bytes(struct.unpack("<I", rd(4))[0])))
            elif c == 0x8C:  # SHORT_BINUNICODE
                self.push(self._str(self.arg_bytes(rd(1)[0])))
            elif c == 0x8D:  # BINUNICODE8
                self.push(self._str(self.arg_bytes(struct.unpack("<Q", rd(8))[0])))
            elif c == 0x42:  # BINBYTES
                self.push(self.arg_bytes(struct.unpack("<I", rd(4))[0]))
            elif c == 0x43:  # SHORT_BINBYTES
                self.push(self.arg_bytes(rd(1)[0]))
            elif c in (0x8E, 0x96):  # BINBYTES8, BYTEARRAY8
                self.push(self.arg_bytes(struct.unpack("<Q", rd(8))[0]))
            elif c == 0x97:  # NEXT_BUFFER: out-of-band data, supplied by the loader
                self.push(UNKNOWN)
            elif c == 0x98:  # READONLY_BUFFER
                self.top()
            # ---- containers ----
            elif c == 0x5D:
                self.push(Seq("list"))
            elif c == 0x29:
                self.push(Seq("tuple"))
            elif c == 0x7D:
                self.push(Seq("dict"))
            elif c == 0x8F:
                self.push(Seq("set"))
            elif c == 0x6C:  # LIST
                self.push(self.seq("list", self.pop_mark()))
            elif c == 0x74:  # TUPLE
                self.push(self.seq("tuple", self.pop_mark()))
            elif c == 0x64:  # DICT
                self.push(self.seq("dict", self.pop_mark()))
            elif c == 0x91:  # FROZENSET
                self.push(self.seq("frozenset", self.pop_mark()))
            elif c in (0x85, 0x86, 0x87):  # TUPLE1..3
                n = c - 0x84
                if len(self.stack) < n:
                    raise Malformed("tuple of more items than on the stack")
                items = self.stack[-n:]
                del self.stack[-n:]
                self.push(Seq("tuple", items))
            elif c == 0x61:  # APPEND
                v = self.pop()
                self._add(self.top(), [v], off, "APPEND")
            elif c == 0x65:  # APPENDS
                items = self.pop_mark()
                self._add(self.top(), items, off, "APPENDS")
            elif c == 0x73:  # SETITEM
                v = self.pop()
                k = self.pop()
                self._add(self.top(), [k, v], off, "SETITEM")
            elif c == 0x75:  # SETITEMS
                items = self.pop_mark()
                self._add(self.top(), items, off, "SETITEMS")
            elif c == 0x90:  # ADDITEMS
                items = self.pop_mark()
                self._add(self.top(), items, off, "ADDITEMS")
            # ---- memo ----
            elif c in (0x70, 0x71, 0x72, 0x94):  # PUT, BINPUT, LONG_BINPUT, MEMOIZE
                if c == 0x70:
                    idx = _text_memo_key(s.readline())
                elif c == 0x71:
                    idx = rd(1)[0]
                elif c == 0x72:
                    idx = struct.unpack("<I", rd(4))[0]
                else:
                    idx = len(self.memo)
                if not isinstance(idx, int) or idx < 0:
                    raise Malformed("memo index is not a non-negative integer")
                if idx not in self.memo and len(self.memo) >= self.lim.max_memo_entries:
                    raise OverLimit("pickle memo entries", self.lim.max_memo_entries)
                self.memo[idx] = self.top()
            elif c in (0x67, 0x68, 0x6A):  # GET, BINGET, LONG_BINGET
                if c == 0x67:
                    idx = _text_memo_key(s.readline())
                elif c == 0x68:
                    idx = rd(1)[0]
                else:
                    idx = struct.unpack("<I", rd(4))[0]
                if idx not in self.memo:
                    raise Malformed(f"memo key {idx} read before it was written")
                self.push(self.memo[idx])
            # ---- imports ----
            elif c == 0x63:  # GLOBAL
                module, name = self._name_lines(off, "GLOBAL")
                self.push(self.resolve(module, name, off, "GLOBAL"))
            elif c == 0x93:  # STACK_GLOBAL
                name_v = self.pop()
                mod_v = self.pop()
                if (
                    _not_str(mod_v)
                    or _not_str(name_v)
                    or (self.missing_modules_stop and self._instance(mod_v, name_v))
                ):
                    raise Malformed("STACK_GLOBAL operands are not strings")  # the unpickler stops here
                if not (
                    isinstance(mod_v, Const)
                    and isinstance(mod_v.value, str)
                    and isinstance(name_v, Const)
                    and isinstance(name_v.value, str)
                ):
                    self.issue(
                        IssueKind.UNRESOLVED_IMPORT,
                        "STACK_GLOBAL imports a name built at load time "
                        f"(module {_describe(mod_v)}, name {_describe(name_v)})",
                        off,
                        "STACK_GLOBAL",
                        f"{_describe(mod_v)}.{_describe(name_v)}",
                    )
                    self.push(Global("?", "?", off))
                else:
                    self.push(self.resolve(mod_v.value, name_v.value, off, "STACK_GLOBAL"))
            elif c in (0x82, 0x83, 0x84):  # EXT1, EXT2, EXT4
                if c == 0x82:
                    code = rd(1)[0]
                elif c == 0x83:
                    code = struct.unpack("<H", rd(2))[0]
                else:
                    code = struct.unpack("<i", rd(4))[0]
                self.issue(
                    IssueKind.UNRESOLVED_IMPORT,
                    f"imports through the copyreg extension registry (code {code}), "
                    "whose target depends on the loading process",
                    off,
                    "EXT",
                    f"extension:{code}",
                )
                self.push(Global("?", f"extension:{code}", off))
            # ---- calls ----
            elif c == 0x52:  # REDUCE
                args = self.pop()
                func = self.pop()
                self.push(self.call(func, args, off, "REDUCE"))
            elif c == 0x81:  # NEWOBJ
                args = self.pop()
                cls = self.pop()
                self.push(self.call(cls, args, off, "NEWOBJ"))
            elif c == 0x92:  # NEWOBJ_EX
                self.pop()
                args = self.pop()
                cls = self.pop()
                self.push(self.call(cls, args, off, "NEWOBJ_EX"))
            elif c == 0x6F:  # OBJ
                items = self.pop_mark()
                if not items:
                    raise Malformed("OBJ without a class")
                self.push(self.call(items[0], Seq("tuple", items[1:]), off, "OBJ"))
            elif c == 0x69:  # INST
                module, name = self._name_lines(off, "INST")
                g = self.resolve(module, name, off, "INST")
                self.push(self.call(g, Seq("tuple", self.pop_mark()), off, "INST"))
            elif c == 0x62:  # BUILD
                state = self.pop()
                target = self.top()
                self.mutate(target, off, "BUILD")
                if isinstance(target, Call):
                    target.state = state
                    if self.saw_wrapper and self.joblib:
                        self._after_build(target, state, off)
            elif c == 0x50:  # PERSID
                pid = s.readline()
                self.push(Persistent(Const(pid.decode("ascii", "replace"))))
            elif c == 0x51:  # BINPERSID
                pid = self.pop()
                self.out.persistent_ids.append(pid)
                self.push(Persistent(pid))
            else:
                raise Malformed(f"unknown opcode 0x{c:02x}")

    def _instance(self, *vs: Any) -> bool:
        """Whether a value is, for certain enough in the plain reading of array bytes, an instance of
        an allowlisted class (capitalised by convention; str subclasses excepted): the
        unpickler's STACK_GLOBAL rejects it. In benign files with object arrays the plain reading
        meets such operands: joblib's nested array pickle read on the outer memo."""
        for v in vs:
            if (
                isinstance(v, Call)
                and isinstance(v.func, Global)
                and v.func.full in self.allow
                and v.func.name.rsplit(".", 1)[-1][:1].isupper()
                and v.func.full not in STR_CLASSES
                and v.opcode in ("REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ", "INST")
            ):
                return True
        return False

    def _name_lines(self, off: int, opcode: str) -> tuple[str, str]:
        """GLOBAL/INST's module and name lines. At the end of the data a line without its newline
        is read by the Python unpickler (joblib's) as the line minus its last byte, and the next
        as empty: it still imports the module. That import is reported, then the stream ends."""
        lines: list[str] = []
        for _ in range(2):
            line, complete = _read_line(self.s)
            if not complete:
                lines.append(line[:-1].decode("utf-8", "replace"))
                lines += [""] * (2 - len(lines))
                self.resolve(lines[0], lines[1], off, opcode)
                raise Truncated("line not terminated")
            lines.append(line.decode("utf-8", "replace"))
        return lines[0], lines[1]

    def _frame_split(self, offset: int) -> None:
        self.issue(
            IssueKind.UNRESOLVED_IMPORT,
            "an opcode's argument crosses the end of a FRAME: CPython's unpickler reading a file and "
            "pickle.loads read different bytes from here on, so what it imports depends on the loader",
            offset,
            "FRAME",
            "frame-boundary",
        )

    def _str(self, v: Const) -> Const:
        if isinstance(v.value, bytes):
            return Const(v.value.decode("utf-8", "surrogateescape"))
        return v

    def _add(self, target: Any, items: list[Any], off: int, opcode: str) -> None:
        self.mutate(target, off, opcode)
        if isinstance(target, Seq):
            room = self.lim.max_container_items - len(target.items)
            if room > 0:
                target.items.extend(items[:room])
            target.dropped += max(0, len(items) - max(room, 0))

    def _after_build(self, target: Call, state: Any, off: int) -> None:
        """joblib's NumpyUnpickler reads an array after every BUILD whose object is a
        NumpyArrayWrapper (numpy_pickle.NumpyArrayWrapper.read_array): a nested pickle for object
        dtypes, else an optional padding-length byte and padding (when the wrapper has a
        `numpy_array_alignment_bytes` attribute that is not None, whatever its value), then
        count * itemsize bytes. The walker passes over exactly those bytes. A wrapper whose
        attributes it cannot know (built another way, state it cannot read) ends the walk with a
        blocking issue: joblib would read bytes the walker cannot place."""
        attrs = target.attrs
        if attrs is None:
            route = _wrapper_route(target)
            if route is None:
                return
            if route == "unknown":
                self._wrapper_unknown(off, f"built by {_describe(target.func)} through {target.opcode}")
            attrs = _wrapper_init(target) if route == "init" else {}
            if attrs is None:
                self._wrapper_unknown(off, "constructor arguments that cannot be read")
        attrs = dict(attrs)
        if not _apply_state(attrs, state):
            self._wrapper_unknown(off, "state that cannot be read")
        target.attrs = attrs
        shape = as_ints(attrs.get("shape"))
        info = _dtype_info(attrs.get("dtype"))
        if shape is None or info is None:
            self._wrapper_unknown(off, "shape or dtype that cannot be read")
            return
        has_object, size = info
        self.read_array = True
        if has_object:
            # Object arrays are written as a nested pickle, read by a plain unpickler: walk it.
            inner = Walker(self.s, self.ctx, self.member, self.s.pos, self.extra_prefixes, joblib=False)
            inner.reported = self.reported
            inner.run()
            self.out.imports += inner.out.imports
            self.out.raw_imports += inner.out.raw_imports
            return
        align = attrs.get("numpy_array_alignment_bytes")
        if align is not None and not (isinstance(align, Const) and align.value is None):
            pad = self.s.read_some(1)
            if pad and pad[0]:
                self.s.skip(min(pad[0], _left(self.s)))
        n = size
        for d in shape:
            n *= d
        self.s.skip(n)

    def _wrapper_unknown(self, off: int, why: str) -> NoReturn:
        self.issue(
            IssueKind.UNSAFE_IMPORT,
            f"joblib array wrapper with {why}: joblib would read array bytes whose end cannot be known, "
            "so what follows cannot be judged",
            off,
            "BUILD",
            JOBLIB_WRAPPER,
        )
        raise Malformed("joblib array wrapper that cannot be followed")


JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
# Allowlisted capitalised names whose instances are str (STACK_GLOBAL accepts str subclasses);
# tests/scanner check the allowlist for others.
STR_CLASSES = frozenset({"torch.torch_version.TorchVersion"})
_WRAPPER_INIT = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")
_SEARCH_BUDGET = 100_000


def _left(s: Stream) -> int:
    return (s.size - s.pos) if s.size is not None else 1 << 62


def _wrapper_route(c: Call) -> str | None:
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


def _wrapper_init(c: Call) -> dict[str, Any] | None:
    """NumpyArrayWrapper.__init__(subclass, shape, order, dtype, allow_mmap=False, alignment=16)."""
    if not (isinstance(c.args, Seq) and c.args.kind == "tuple" and not c.args.dropped):
        return None
    items = c.args.items
    if not 4 <= len(items) <= len(_WRAPPER_INIT):
        return None
    attrs: dict[str, Any] = {"allow_mmap": Const(False), "numpy_array_alignment_bytes": Const(16)}
    attrs.update(zip(_WRAPPER_INIT, items, strict=False))
    return attrs


def _apply_state(attrs: dict[str, Any], state: Any) -> bool:
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


def _dtype_info(v: Any) -> tuple[bool, int] | None:
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


def _read_line(s: Stream, max_len: int = 1 << 16) -> tuple[bytes, bool]:
    """A line without its newline, and whether it had one (False: the data ended first)."""
    buf = bytearray()
    while True:
        c = s.read_some(1)
        if not c:
            return bytes(buf), False
        if c == b"\n":
            return bytes(buf), True
        buf += c
        if len(buf) > max_len:
            raise Truncated("line too long")


def _not_str(v: Any) -> bool:
    """A value the unpickler's STACK_GLOBAL rejects for certain (a non-string constant, a container,
    a joblib array wrapper: calling that class makes an instance of it)."""
    if isinstance(v, Const):
        return not isinstance(v.value, (str, Unknown))
    return isinstance(v, Seq) or _is_wrapper_instance(v)


def _is_wrapper_instance(v: Any) -> bool:
    return (
        isinstance(v, Call)
        and isinstance(v.func, Global)
        and v.func.full == JOBLIB_WRAPPER
        and v.opcode in ("REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ", "INST")
    )


def _describe(v: Any) -> str:
    if isinstance(v, Global):
        return v.full
    if isinstance(v, Const):
        r = repr(v.value)
        return f"constant {r[:60]}"
    if isinstance(v, Call):
        return f"result of calling {_describe(v.func)}"
    if isinstance(v, Seq):
        return v.kind
    if isinstance(v, Persistent):
        return "persistent reference"
    return "unknown value"


# Text arguments (protocol 0) are parsed as the unpicklers parse them. CPython has two: the C one
# (pickle.load, torch, numpy) and the Python one (joblib's NumpyUnpickler). The walker accepts what
# either accepts, so it never stops where a loader goes on. The C one reads an INT with the C
# library's strtol (base 0: octal '010', hex, leading whitespace, a NUL ends the number) and, when
# that does not consume the line, with int(line, 0) (underscores, '0o', '0b', surrounding
# whitespace); the Python one uses int(line, 0) only. LONG drops one 'L' before the newline, then
# int(line, 0); GET/PUT use int(line, 10). In the C reader a NUL byte ends the text.
_STRTOL = re.compile(rb"[ \t\n\v\f\r]*([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))\Z")


def _c_str(line: bytes) -> bytes:
    return line.split(b"\0", 1)[0]


def _py_int(text: bytes, base: int) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None


def _text_int(line: bytes) -> int:
    if line[:1] == b"\0":
        return 0  # strtol reads no digits and stops at the NUL, which the C reader accepts as the end
    text = _c_str(line)
    m = _STRTOL.match(text)
    if m:
        sign, hexd, octd, decd = m.groups()
        v = int(hexd, 16) if hexd else int(octd, 8) if octd else int(decd)
        return -v if sign == b"-" else v
    for cand in (text, line):
        got = _py_int(cand, 0)
        if got is not None:
            return got
    raise Malformed("INT argument is not a number")


def _text_long(line: bytes) -> int:
    if line.endswith(b"L"):
        line = line[:-1]
    for cand in (_c_str(line), line):
        v = _py_int(cand, 0)
        if v is not None:
            return v
    raise Malformed("LONG argument is not a number")


def _text_memo_key(line: bytes) -> int:
    for cand in (_c_str(line), line):
        v = _py_int(cand, 10)
        if v is not None:
            return v
    raise Malformed("memo key is not a number")


def _text_string(line: bytes) -> str:
    """STRING: quoted by the same character at both ends, backslash escapes as in Python 2 str."""
    if not (len(line) >= 2 and line[:1] == line[-1:] and line[:1] in (b"'", b'"')):
        raise Malformed("STRING argument is not quoted")
    try:
        raw = codecs.escape_decode(line[1:-1])[0]
    except ValueError:
        raise Malformed("STRING argument has a bad escape") from None
    return raw.decode("utf-8", "surrogateescape")


def as_ints(v: Any) -> list[int] | None:
    if isinstance(v, Seq) and v.kind in ("tuple", "list"):
        out = []
        for x in v.items:
            if not (isinstance(x, Const) and isinstance(x.value, int) and x.value >= 0):
                return None
            out.append(x.value)
        return out
    return None


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


@functools.lru_cache(maxsize=4096)
def _installed(module: str) -> bool:
    """Whether the top-level package of `module` can be found by the import system here; finding
    a top-level spec runs no module code."""
    top = module.split(".", 1)[0]
    if not top.isidentifier():
        return False
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


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
# Callees whose call can only raise (TypeError): the walker's descriptions of constants and
# containers, and joblib's array wrapper instances (the class defines no __call__).
INERT_CALLEES = (
    "constant ",
    "list",
    "tuple",
    "dict",
    "set",
    "frozenset",
    "unknown value",
)
WRAPPER_INSTANCE = f"result of calling {JOBLIB_WRAPPER}"


def acted(issue: Issue) -> bool:
    """Whether the loader would have acted: imported a name the import system can look up, called
    something callable, or changed an imported object. Used where a walk reads bytes that may be
    no pickle at all (a file of another format, joblib array bytes read as opcodes)."""
    if issue.kind not in EXECUTED:
        return False
    name = issue.name or ""
    if issue.kind is IssueKind.INDIRECT_CALL:
        return not (name.startswith(INERT_CALLEES) or name == WRAPPER_INSTANCE)
    if issue.kind is IssueKind.UNRESOLVED_IMPORT:
        # An extension code resolves only where the loading process registered it with copyreg.
        return not name.startswith("extension:")
    if issue.kind is not IssueKind.UNSAFE_IMPORT:
        return True
    module = str(issue.evidence.get("module", ""))
    # A module name that is not a dotted identifier (a line of prose, binary noise) names no
    # importable module; a text file is not reported for it.
    return all(part.isidentifier() for part in module.split("."))


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
