"""Differential test: the walker against CPython's unpicklers as the oracle.

Streams come from hypothesis strategies over opcodes and the argument spellings the unpicklers
accept, and from mutations of real pickles (pickle, numpy, scikit-learn, torch, joblib). For
each stream the oracle (tests/support/scanner/pickle_oracle.py, a child process under resource limits)
lists the names `find_class` was asked for; every one must be among the walker's imports. A name
the unpickler resolves and the walker misses is a bypass. The normal suite runs a few seconds'
worth; `-m slow` runs a large budget.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.scanner.interface import Context, Result, Settings
from gate.scanner.pickle_walker import walk_all
from gate.scanner.stream import Stream
from tests.support.scanner.pickle_oracle import Oracle

STATS = {"streams": 0, "resolved": 0}


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    o = Oracle()
    yield o
    o.close()


def walk(data: bytes) -> tuple[set[tuple[str, str]], set[str]]:
    """The walker's imports (as written) and the names of its issues."""
    result = Result(path="x")
    ctx = Context(Settings(allowlist=frozenset()), result, lambda t, c: None)
    outs = walk_all(Stream(io.BytesIO(data), size=len(data)), ctx, "")
    return {pair for o in outs for pair in o.raw_imports}, {i.name or "" for i in result.issues}


def walker_imports(data: bytes) -> set[tuple[str, str]]:
    return walk(data)[0]


def check(oracle: Oracle, data: bytes) -> None:
    want = oracle.resolve(data)
    STATS["streams"] += 1
    if not want:
        return
    STATS["resolved"] += 1
    got, issues = walk(data)
    missed = want - got
    if missed and "frame-boundary" in issues:
        # The walker reads on as pickle.loads does and reports (critical, unwaivable) that a file
        # reader reads other bytes from the frame boundary on; names only that reading reaches are
        # covered by that issue.
        return
    assert not missed, f"the unpickler resolves {sorted(missed)} but the walker does not: {data!r}"


# ---- strategies -------------------------------------------------------------------------------
MODULES = ["os", "posix", "builtins", "__builtin__", "copy_reg", "UserDict", "a.b", "numpy", "x"]
NAMES = ["system", "eval", "getattr", "_reconstructor", "UserDict", "c.d", "dtype", "y"]
INT_SPELLINGS = [
    b"0",
    b"1",
    b"00",
    b"01",
    b"+1",
    b"-0",
    b"1_0",
    b" 5",
    b"5 ",
    b"\t7\t",
    b"010",
    b"0x1f",
    b"0X1F",
    b"0o7",
    b"\x00",
    b"\x00x",
    b" \x00",
    b"0b1",
    b"1\x00zz",
    b"99999999999999999999",
    b"-12",
    b"1L",
    b"0x",
    b"08",
    b"",
]
FLOAT_SPELLINGS = [
    b"1.5",
    b" 1.5",
    b"1_0.0",
    b"inf",
    b"-Infinity",
    b"nan",
    b"1e999",
    b"1.5\x00x",
    b"1.",
    b"x",
]


def _text_str(s: str) -> st.SearchStrategy[bytes]:
    raw = s.encode()
    escaped = "".join(f"\\x{b:02x}" for b in raw).encode()
    octal = "".join(f"\\{b:03o}" for b in raw).encode()
    uni = "".join(f"\\u{ord(c):04x}" for c in s).encode()
    return st.sampled_from(
        [
            b"S'" + raw + b"'\n",
            b'S"' + raw + b'"\n',
            b"S'" + escaped + b"'\n",
            b"S'" + octal + b"'\n",
            b"V" + raw + b"\n",
            b"V" + uni + b"\n",
            b"X" + struct.pack("<I", len(raw)) + raw,
            b"\x8c" + bytes([len(raw)]) + raw,
            b"\x8d" + struct.pack("<Q", len(raw)) + raw,
            b"U" + bytes([len(raw)]) + raw,
            b"T" + struct.pack("<i", len(raw)) + raw,
        ]
    )


def _string_op() -> st.SearchStrategy[bytes]:
    return st.sampled_from(MODULES + NAMES).flatmap(_text_str)


def _index() -> st.SearchStrategy[bytes]:
    return st.sampled_from([b"0", b"1", b" 1", b"+1", b"0_1", b"01", b"1\x00", b"-1", b"2"])


SIMPLE = [
    b"(",
    b")",
    b"]",
    b"}",
    b"\x8f",
    b"N",
    b"\x88",
    b"\x89",
    b"t",
    b"l",
    b"d",
    b"\x91",
    b"\x85",
    b"\x86",
    b"\x87",
    b"a",
    b"e",
    b"s",
    b"u",
    b"\x90",
    b"0",
    b"1",
    b"2",
    b"R",
    b"\x81",
    b"\x92",
    b"o",
    b"b",
    b"\x93",
    b"\x94",
    b"Q",
    b".",
    b"K\x01",
    b"M\x01\x00",
    b"J\x01\x00\x00\x00",
    b"\x8a\x01\x01",
    b"q\x00",
    b"q\x01",
    b"h\x00",
    b"h\x01",
    b"r\x00\x00\x00\x00",
    b"j\x00\x00\x00\x00",
    b"C\x01a",
    b"B\x01\x00\x00\x00a",
    b"G" + struct.pack(">d", 1.0),
    b"\x82\x01",
    b"\x95" + struct.pack("<Q", 0),
    b"\x97",
    b"\x98",
]


def _op() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from(SIMPLE),
        st.integers(0, 6).map(lambda n: b"\x80" + bytes([n])),
        st.sampled_from(INT_SPELLINGS).map(lambda s: b"I" + s + b"\n"),
        st.sampled_from(INT_SPELLINGS).map(lambda s: b"L" + s + b"\n"),
        st.sampled_from(FLOAT_SPELLINGS).map(lambda s: b"F" + s + b"\n"),
        _index().map(lambda s: b"p" + s + b"\n"),
        _index().map(lambda s: b"g" + s + b"\n"),
        _string_op(),
        st.tuples(st.sampled_from(MODULES), st.sampled_from(NAMES)).map(
            lambda mn: b"c" + mn[0].encode() + b"\n" + mn[1].encode() + b"\n"
        ),
        st.tuples(st.sampled_from(MODULES), st.sampled_from(NAMES)).map(
            lambda mn: b"i" + mn[0].encode() + b"\n" + mn[1].encode() + b"\n"
        ),
        st.sampled_from([b"Pid\n", b"P\n"]),
        st.binary(min_size=1, max_size=3),
    )


streams = st.lists(_op(), min_size=1, max_size=24).map(b"".join)
# An import after a generated prefix: the walker must follow every prefix the unpicklers accept.
prefixed = st.tuples(
    st.lists(_op(), max_size=10).map(b"".join), st.sampled_from(MODULES), st.sampled_from(NAMES)
).map(lambda t: t[0] + b"c" + t[1].encode() + b"\n" + t[2].encode() + b"\n")


def _real_pickles() -> list[bytes]:
    import numpy as np

    out = [
        pickle.dumps(o, protocol=p) for p in range(6) for o in ({"a": [1, 2.5, "x", b"y"]}, np.arange(3.0))
    ]
    out.append(pickle.dumps(np.random.default_rng(0), protocol=4))
    out.append(pickle.dumps(np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), protocol=2))
    try:
        from sklearn.linear_model import LogisticRegression

        m = LogisticRegression().fit(np.arange(8.0).reshape(4, 2), [0, 1, 0, 1])
        out += [pickle.dumps(m, protocol=p) for p in (0, 2, 5)]
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        buf = io.BytesIO()
        torch.save({"w": torch.ones(2)}, buf, _use_new_zipfile_serialization=False)
        out.append(buf.getvalue())
    except ImportError:  # pragma: no cover
        pass
    return out


REAL = _real_pickles()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "import"]))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(_op())
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            m, n = draw(st.sampled_from(MODULES)), draw(st.sampled_from(NAMES))
            data[at:at] = b"c" + m.encode() + b"\n" + n.encode() + b"\n"
    return bytes(data)


ANY_STREAM = st.one_of(streams, prefixed, mutated())
QUICK = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
LARGE = settings(
    max_examples=int(os.environ.get("GATE_PICKLE_DIFFERENTIAL_EXAMPLES", "20000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


@QUICK
@given(ANY_STREAM)
def test_walker_sees_every_name_the_unpickler_resolves(oracle: Oracle, data: bytes) -> None:
    check(oracle, data)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("GATE_PICKLE_DIFFERENTIAL"),
    reason="large differential run: set GATE_PICKLE_DIFFERENTIAL=1 (with -m slow)",
)
@LARGE
@given(ANY_STREAM)
def test_walker_sees_every_name_the_unpickler_resolves_large(oracle: Oracle, data: bytes) -> None:
    check(oracle, data)


def teardown_module() -> None:
    if STATS["streams"] > 1000:
        print(f"\ndifferential: {STATS['streams']} streams, {STATS['resolved']} resolved a name")


def test_every_spelling_case_resolves_in_the_oracle(oracle: Oracle) -> None:
    """The harness itself: the oracle answers, and the walker is compared on streams that import."""
    for spelling in INT_SPELLINGS:
        data = b"I" + spelling + b"\n0cos\nsystem\n."
        want = oracle.resolve(data)
        assert want is not None
        assert want <= walker_imports(data), spelling
    assert oracle.resolve(b"I+1\n0cos\nsystem\n.") == {("os", "system")}
    assert oracle.resolve(b"I0x\n0cos\nsystem\n.") == set()  # both unpicklers stop at '0x'
