"""The stack machine: a pickle's opcodes read one at a time as the unpickler reads them."""

from __future__ import annotations

import struct
from typing import Any, NoReturn

from gate.scanner.interface import Context, IssueKind
from gate.scanner.pickle_walker.joblib_arrays import (
    JOBLIB_WRAPPER,
    apply_state,
    bytes_left,
    dtype_info,
    is_wrapper_instance,
    wrapper_init,
    wrapper_route,
)
from gate.scanner.pickle_walker.judge import Judge
from gate.scanner.pickle_walker.text_args import read_line, text_int, text_long, text_memo_key, text_string
from gate.scanner.pickle_walker.values import (
    UNKNOWN,
    Call,
    Const,
    Global,
    Malformed,
    Persistent,
    Seq,
    Unknown,
    WalkOutcome,
    as_ints,
    describe,
)
from gate.scanner.stream import OverLimit, Stream, Truncated

NO_FRAME = 1 << 62
KEEP_BYTES = 4096  # longer string/bytes arguments are skipped, not kept
# Allowlisted capitalised names whose instances are str (STACK_GLOBAL accepts str subclasses);
# tests/scanner check the allowlist for others.
STR_CLASSES = frozenset({"torch.torch_version.TorchVersion"})


class Walker(Judge):
    """One pickle stream read opcode by opcode on a symbolic stack, memo and marks."""

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
        super().__init__(ctx, member, base, extra_prefixes, missing_modules_stop)
        self.s = stream
        # joblib's NumpyUnpickler reads array bytes after a wrapper's BUILD; the nested unpickler it
        # uses for object arrays is a plain one and does not.
        self.joblib = joblib and JOBLIB_WRAPPER in ctx.settings.allowlist
        # Whether joblib's reading passed over array bytes (or a nested array pickle) that a plain
        # unpickler, reading the same file, would read as opcodes of this stream instead.
        self.read_array = False
        self.lim = ctx.limits
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}

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
                self.push(Const(text_int(line) if c == 0x49 else text_long(line)))
            elif c == 0x46:  # FLOAT (text): any line is passed over (the value is never needed)
                s.readline()
                self.push(Const(0.0))
            elif c == 0x47:  # BINFLOAT
                self.push(Const(struct.unpack(">d", rd(8))[0]))
            elif c == 0x53:  # STRING
                self.push(Const(text_string(s.readline())))
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
                    idx = text_memo_key(s.readline())
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
                    idx = text_memo_key(s.readline())
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
                        f"(module {describe(mod_v)}, name {describe(name_v)})",
                        off,
                        "STACK_GLOBAL",
                        f"{describe(mod_v)}.{describe(name_v)}",
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
            line, complete = read_line(self.s)
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
            route = wrapper_route(target)
            if route is None:
                return
            if route == "unknown":
                self._wrapper_unknown(off, f"built by {describe(target.func)} through {target.opcode}")
            attrs = wrapper_init(target) if route == "init" else {}
            if attrs is None:
                self._wrapper_unknown(off, "constructor arguments that cannot be read")
        attrs = dict(attrs)
        if not apply_state(attrs, state):
            self._wrapper_unknown(off, "state that cannot be read")
        target.attrs = attrs
        shape = as_ints(attrs.get("shape"))
        info = dtype_info(attrs.get("dtype"))
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
                self.s.skip(min(pad[0], bytes_left(self.s)))
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


def _not_str(v: Any) -> bool:
    """A value the unpickler's STACK_GLOBAL rejects for certain (a non-string constant, a container,
    a joblib array wrapper: calling that class makes an instance of it)."""
    if isinstance(v, Const):
        return not isinstance(v.value, (str, Unknown))
    return isinstance(v, Seq) or is_wrapper_instance(v)
