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
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from gate.scanner.interface import Context, Issue, IssueKind
from gate.scanner.stream import OverLimit, Stream, Truncated

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

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}"


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
        self, stream: Stream, ctx: Context, member: str, base: int = 0, extra_prefixes: tuple[str, ...] = ()
    ) -> None:
        self.s = stream
        self.extra_prefixes = extra_prefixes
        self.ctx = ctx
        self.member = member
        self.base = base  # offset of this stream inside the member, for reporting
        self.allow = ctx.settings.allowlist
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
        g = Global(module, name, offset)
        self.out.imports.append(g.full)
        if g.full not in self.allow and not (self.extra_prefixes and g.full.startswith(self.extra_prefixes)):
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
        if not isinstance(func, Global):
            self.issue(
                IssueKind.INDIRECT_CALL,
                f"calls an object that is not an imported name ({_describe(func)})",
                offset,
                opcode,
                _describe(func),
            )
        return Call(func, args, offset)

    def mutate(self, target: Any, offset: int, opcode: str) -> None:
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
        while True:
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
                rd(8)
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
            elif c == 0x49:  # INT (text)
                self.push(Const(_text_int(s.readline())))
            elif c == 0x4C:  # LONG (text)
                self.push(Const(_text_long(s.readline())))
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
                module = s.readline().decode("utf-8", "replace")
                name = s.readline().decode("utf-8", "replace")
                self.push(self.resolve(module, name, off, "GLOBAL"))
            elif c == 0x93:  # STACK_GLOBAL
                name_v = self.pop()
                mod_v = self.pop()
                if _not_str(mod_v) or _not_str(name_v):
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
                module = s.readline().decode("utf-8", "replace")
                name = s.readline().decode("utf-8", "replace")
                g = self.resolve(module, name, off, "INST")
                self.push(self.call(g, Seq("tuple", self.pop_mark()), off, "INST"))
            elif c == 0x62:  # BUILD
                state = self.pop()
                target = self.top()
                self.mutate(target, off, "BUILD")
                if isinstance(target, Call):
                    target.state = state
                    self._after_build(target)
            elif c == 0x50:  # PERSID
                pid = s.readline()
                self.push(Persistent(Const(pid.decode("ascii", "replace"))))
            elif c == 0x51:  # BINPERSID
                pid = self.pop()
                self.out.persistent_ids.append(pid)
                self.push(Persistent(pid))
            else:
                raise Malformed(f"unknown opcode 0x{c:02x}")

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

    def _after_build(self, target: Call) -> None:
        """joblib writes array bytes right after a NumpyArrayWrapper's BUILD: pass over them by size."""
        if not (
            isinstance(target.func, Global) and target.func.full == "joblib.numpy_pickle.NumpyArrayWrapper"
        ):
            return
        if target.func.full not in self.allow:
            return
        state = as_dict(target.state)
        shape = as_ints(state.get("shape"))
        descr = dtype_descr(state.get("dtype"))
        size = dtype_itemsize(descr) if descr else None
        if shape is None or size is None:
            raise Malformed("joblib array wrapper without a readable shape and dtype")
        if size == -1:
            # Object arrays are written as a nested pickle: walk it like any other.
            inner = Walker(self.s, self.ctx, self.member, self.s.pos, self.extra_prefixes)
            inner.reported = self.reported
            inner.run()
            self.out.imports += inner.out.imports
            return
        align = state.get("numpy_array_alignment_bytes")
        if isinstance(align, Const) and isinstance(align.value, int) and align.value:
            pad = self.s.read(1)[0]
            self.s.skip(pad)
        n = size
        for d in shape:
            n *= d
        self.s.skip(n)


def _not_str(v: Any) -> bool:
    """A value the unpickler's STACK_GLOBAL rejects for certain (a non-string constant, a container)."""
    if isinstance(v, Const):
        return not isinstance(v.value, (str, Unknown))
    return isinstance(v, Seq)


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
    text = _c_str(line)
    m = _STRTOL.match(text)
    if m:
        sign, hexd, octd, decd = m.groups()
        v = int(hexd, 16) if hexd else int(octd, 8) if octd else int(decd)
        return -v if sign == b"-" else v
    for cand in (text, line):
        v = _py_int(cand, 0)
        if v is not None:
            return v
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


def as_dict(v: Any) -> dict[Any, Any]:
    if isinstance(v, Seq) and v.kind == "dict":
        it = v.items
        return {
            (k.value if isinstance(k, Const) else id(k)): val
            for k, val in zip(it[0::2], it[1::2], strict=False)
        }
    return {}


def as_ints(v: Any) -> list[int] | None:
    if isinstance(v, Seq) and v.kind in ("tuple", "list"):
        out = []
        for x in v.items:
            if not (isinstance(x, Const) and isinstance(x.value, int) and x.value >= 0):
                return None
            out.append(x.value)
        return out
    return None


def dtype_descr(v: Any) -> str | None:
    """The dtype string of a symbolic `numpy.dtype('f8', ...)` call."""
    if isinstance(v, Call) and isinstance(v.args, Seq) and v.args.items:
        first = v.args.items[0]
        if isinstance(first, Const) and isinstance(first.value, str):
            return first.value
    return None


def walk(
    stream: Stream, ctx: Context, member: str, base: int = 0, extra_prefixes: tuple[str, ...] = ()
) -> WalkOutcome:
    """Walk one pickle (up to STOP). Malformed or over-limit input becomes an issue."""
    w = Walker(stream, ctx, member, base, extra_prefixes)
    start = stream.pos
    try:
        return w.run()
    except Truncated as exc:
        ctx.add(
            Issue(
                IssueKind.MALFORMED,
                f"pickle is truncated: {exc}",
                member=member,
                offset=base + stream.pos - start,
            )
        )
    except Malformed as exc:
        ctx.add(
            Issue(
                IssueKind.MALFORMED,
                f"pickle is malformed: {exc}",
                member=member,
                offset=base + stream.pos - start,
            )
        )
    except OverLimit as exc:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                f"pickle analysis stopped: {exc}",
                member=member,
                offset=base + stream.pos - start,
                evidence={"limit": exc.what, "value": exc.limit},
            )
        )
    return w.out


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
