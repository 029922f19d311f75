"""Regression tests per pickle family: text pickles, any first opcode, imports before a malformed
opcode, joblib array wrappers, numpy object dtypes, ufuncs, fix hints.

Each variant is proved live by its real loader in a throwaway child process (the payload creates
a marker file), then shown to be blocked by the scanner, `model-gate scan` and the `check`
command; each benign twin passes.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import textwrap
import zlib
from pathlib import Path

import pytest

from gate.checks.model_files import RULES
from tests.support import ROOT, run_json, write_release
from tests.support.scanner.helpers import kinds, scan_bytes

CRITICAL = {r.name for r in RULES if r.severity.value == "critical" and not r.waivable}


def _touch(marker: Path) -> bytes:
    """Protocol-0 os.system call creating `marker`, as text."""
    return b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."


def _benign_tail() -> bytes:
    return b"(lp0\nI1\naS'x'\np1\na."


LOAD_SCRIPT = textwrap.dedent(
    """
    import sys, pickle
    kind, paths = sys.argv[1], sys.argv[2:]
    for p in paths:
        try:
            if kind == "pickle":
                with open(p, "rb") as f:
                    pickle.load(f)
            elif kind == "pickle-bytes":
                pickle.loads(open(p, "rb").read())
            elif kind == "pickle-zlib":
                import zlib
                pickle.loads(zlib.decompress(open(p, "rb").read()))
            elif kind == "joblib":
                import joblib
                joblib.load(p)
            elif kind == "numpy":
                import numpy
                numpy.load(p, allow_pickle=True)
        except Exception:
            pass
    """
)


def load_in_child(kind: str, paths: list[Path]) -> None:
    subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, kind, *map(str, paths)],
        timeout=120,
        check=False,
        capture_output=True,
        cwd=paths[0].parent if paths else None,
    )


def assert_blocked(data: bytes, name: str) -> None:
    r = scan_bytes(data, name)
    assert kinds(r) & CRITICAL, (name, r.formats, r.issues)
    assert "unsafe-pickle-import" in kinds(r), (name, r.issues)
    assert any(i.name == "os.system" for i in r.issues), (name, r.issues)


# ---- text pickles and first opcodes ------------------------------------------------------------
# Prefixes CPython's unpickler accepts before the payload (each pushes one value, popped by '0').
TEXT_PREFIXES = {
    "int-plus": b"I+1\n0",
    "int-underscore": b"I1_000\n0",
    "int-octal": b"I010\n0",
    "int-hex": b"I0x1F\n0",
    "int-spaces": b"I\t 7 \n0",
    "int-nul": b"I1\x00junk\n0",
    "int-only-nul": b"I\x00\n0",
    "int-bool": b"I01\n0",
    "long-suffix": b"L12L\n0",
    "long-underscore": b"L1_2\n0",
    "float-spelling": b"F1e5\n0",
    "string-escape": b"S'\\x41\\102'\n0",
    "unicode-escape": b"V\\u0041\n0",
    "long-line": b"V" + b"padding " * 300 + b"\n0",
    "put-spelling": b"Np 01\n0",
    "proto-then-int": b"\x80\x02I+1\n0",
}
# First opcodes outside the old identifier's start list, each followed by what pops its value.
FIRST_OPCODES = {
    "empty-set": b"\x8f0",
    "newtrue": b"\x880",
    "newfalse": b"\x890",
    "long1": b"\x8a\x01\x050",
    "long4": b"\x8b\x01\x00\x00\x00\x050",
    "binunicode8": b"\x8d\x01\x00\x00\x00\x00\x00\x00\x00a0",
    "binbytes8": b"\x8e\x01\x00\x00\x00\x00\x00\x00\x00a0",
    "bytearray8": b"\x96\x01\x00\x00\x00\x00\x00\x00\x00a0",
    "binint1": b"K\x050",
    "binput-after-none": b"Nq\x000",
    "frame": b"\x95" + struct.pack("<Q", 0),
}


@pytest.mark.parametrize("table", ["text", "first"])
def test_pickles_however_they_start_are_live_and_blocked(tmp_path: Path, table: str) -> None:
    variants = TEXT_PREFIXES if table == "text" else FIRST_OPCODES
    files: dict[str, tuple[Path, Path]] = {}
    for name, prefix in variants.items():
        marker = tmp_path / f"{name}.marker"
        p = tmp_path / f"{name}.txt"
        p.write_bytes(prefix + _touch(marker))
        files[name] = (p, marker)
    load_in_child("pickle", [p for p, _ in files.values()])
    for name, (p, marker) in files.items():
        assert marker.exists(), f"{name}: the real unpickler does not run it"
        for fname in (p.name, "README.md", "chat_template.jinja", "tokenizer.model"):
            assert_blocked(p.read_bytes(), fname)
        twin = variants[name] + _benign_tail()
        r = scan_bytes(twin, p.name)
        assert r.issues == [], (name, r.issues)


def test_text_files_are_not_reported_as_pickles() -> None:
    for text in (
        b"cat\ndog\nbird\n",
        b"Model card\n\nThis model classifies text.\n",
        b"import os\nprint('hi')\n",
        b"(c) 2024 Example Corp\nAll rights reserved\n",
        b"Version 1.0\nNotes\n",
        b"{% for m in messages %}{{ m.content }}{% endfor %}",
    ):
        r = scan_bytes(text, "notes.txt")
        assert not (kinds(r) & CRITICAL), (text, r.issues)


# ---- what was seen before a failure ------------------------------------------------------------
BROKEN_TAILS = {
    "bad-opcode": b"\xff",
    "truncated": b"",
    "empty-stack-stop": b"0.",
    "bad-int": b"Ixyz\n.",
    "bad-memo": b"g99\n.",
}


def test_import_before_a_malformed_opcode_stays_critical(tmp_path: Path) -> None:
    files = {}
    for name, tail in BROKEN_TAILS.items():
        marker = tmp_path / f"{name}.marker"
        body = b"\x80\x02" + _touch(marker)[:-1] + b"0" + tail  # the call runs, then the stream breaks
        p = tmp_path / f"{name}.pkl"
        p.write_bytes(body)
        files[name] = (p, marker)
    load_in_child("pickle", [p for p, _ in files.values()])
    for name, (p, marker) in files.items():
        assert marker.exists(), name
        r = scan_bytes(p.read_bytes(), p.name)
        assert "unsafe-pickle-import" in kinds(r), (name, r.issues)
        assert "malformed-model-file" in kinds(r) or name == "empty-stack-stop", (name, r.issues)


def test_unterminated_last_line_import_is_reported() -> None:
    # joblib's (Python) unpickler imports 'os' from a GLOBAL whose last line lacks its newline.
    r = scan_bytes(b"\x80\x02cos\nsystemX", "x.pkl")
    assert any(i.name == "os.system" for i in r.issues), r.issues


def test_a_frame_boundary_inside_an_opcode_is_critical() -> None:
    body = b"\x8c\x02os\x8c\x06system\x93."
    frame = b"\x80\x04\x95" + struct.pack("<Q", 7) + body  # the frame ends inside the second string
    r = scan_bytes(frame, "x.pkl")
    assert any(i.name == "frame-boundary" for i in r.issues), r.issues
    assert kinds(r) & CRITICAL


# ---- joblib ------------------------------------------------------------------------------------
def _u(s: str) -> bytes:
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def _sg(module: str, name: str) -> bytes:
    return _u(module) + _u(name) + b"\x93"


DTYPE_F8 = (
    _sg("numpy", "dtype") + _u("f8") + b"\x89\x88\x87R"
    b"(K\x03" + _u("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
)
WRAPPER = _sg("joblib.numpy_pickle", "NumpyArrayWrapper")
INIT_ARGS = b"(" + _sg("numpy", "ndarray") + b"K\x02\x85" + _u("C") + DTYPE_F8 + b"t"


def _state(align: bytes | None) -> bytes:
    items = _u("subclass") + _sg("numpy", "ndarray") + _u("shape") + b"K\x02\x85" + _u("order") + _u("C")
    items += _u("dtype") + DTYPE_F8 + _u("allow_mmap") + b"\x89"
    if align is not None:
        items += _u("numpy_array_alignment_bytes") + align
    return b"}(" + items + b"u"


# How the wrapper is made, whether __init__ runs (default alignment 16), and the BUILD state.
ROUTES = {
    "newobj": (WRAPPER + b")\x81", False),
    "newobj-ex": (WRAPPER + b")}\x92", False),
    "reduce-init": (WRAPPER + INIT_ARGS + b"R", True),
    "obj-empty": (b"(" + WRAPPER + b"o", False),
    "inst-init": (
        INIT_ARGS[:-1] + b"ijoblib.numpy_pickle\nNumpyArrayWrapper\n",
        True,
    ),
    "reconstructor": (
        _sg("copyreg", "_reconstructor") + b"(" + WRAPPER + _sg("builtins", "object") + b"NtR",
        False,
    ),
}
ALIGNMENTS = {
    "16": b"K\x10",
    "zero": b"K\x00",
    "false": b"\x89",
    "empty-str": _u(""),
    "none": b"N",
    "absent": None,
}


def _joblib_stream(route: str, align: str, tail: bytes) -> bytes:
    make, init = ROUTES[route]
    a = ALIGNMENTS[align]
    state = b"}" if (init and a is None) else _state(a)
    if init and a is None:
        a = b"K\x10"  # __init__ sets the default
    data = b"\x80\x04" + make + state + b"b"
    if a is not None and a != b"N":
        data += b"\x03\xff\xff\xff"  # padding length byte, then that many bytes
    data += struct.pack("<2d", 1.0, 2.0) + b"0" + tail
    return data


def test_joblib_wrappers_are_read_as_joblib_reads_them(tmp_path: Path) -> None:
    pytest.importorskip("joblib")
    files = []
    for route in ROUTES:
        for align in ALIGNMENTS:
            marker = tmp_path / f"{route}-{align}.marker"
            bad = tmp_path / f"{route}-{align}.joblib"
            bad.write_bytes(_joblib_stream(route, align, _touch(marker)))
            good = tmp_path / f"{route}-{align}-benign.joblib"
            good.write_bytes(_joblib_stream(route, align, b"N."))
            files.append((route, align, bad, good, marker))
    load_in_child("joblib", [f[2] for f in files])
    for route, align, bad, good, marker in files:
        assert marker.exists(), f"{route}/{align}: joblib does not reach the payload"
        assert_blocked(bad.read_bytes(), bad.name)
        r = scan_bytes(good.read_bytes(), good.name)
        assert r.issues == [], (route, align, r.issues)


def test_joblib_wrapper_made_by_another_callable_fails_closed() -> None:
    # numpy.ma's reconstructor calls subtype.__new__ on whatever class it is given.
    make = (
        _sg("numpy.ma.core", "_mareconstruct")
        + b"("
        + WRAPPER
        + _sg("numpy", "ndarray")
        + b"K\x00\x85"
        + _u("b")
        + b"tR"
    )
    data = b"\x80\x04" + make + _state(b"K\x10") + b"b" + b"\x00" + b"\x00" * 16 + b"0N."
    r = scan_bytes(data, "x.joblib")
    assert any(i.name == "joblib.numpy_pickle.NumpyArrayWrapper" for i in r.issues), r.issues
    assert kinds(r) & CRITICAL


def test_real_joblib_files_have_no_findings(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    objs = {
        "arrays": {
            "a": np.arange(7.0),
            "b": np.ones((3, 2), dtype="i2"),
            "o": np.array([1, "x"], dtype=object),
        },
        "structured": np.zeros(3, dtype=[("a", "<f4"), ("b", "<i8", (2,))]),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "empty": np.zeros((0, 4)),
        "scalar": np.array(3.5),
    }
    for name, o in objs.items():
        for compress in (0, 3):
            p = tmp_path / f"{name}-{compress}.joblib"
            joblib.dump(o, p, compress=compress)
            r = scan_bytes(p.read_bytes(), p.name)
            assert r.issues == [], (name, compress, r.issues)


# ---- joblib files as a plain unpickler reads them ------------------------------------------------
# joblib reads an array's bytes after its wrapper's BUILD and unpickles on after them; pickle.load
# (and every loader built on it) reads the same bytes as opcodes, on the same stack and memo.
class _NoTell(io.BytesIO):
    """A handle joblib cannot tell() on: it then writes arrays without alignment padding."""

    def tell(self) -> int:
        raise io.UnsupportedOperation("tell")


def _dump(obj: object, aligned: bool) -> bytes:
    import joblib

    if aligned:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "x.joblib"
            joblib.dump(obj, p)
            return p.read_bytes()
    fh = _NoTell()
    joblib.dump(obj, fh)
    return fh.getvalue()


def _stack_global_touch(name: str) -> bytes:
    return _sg("os", "system") + _u(f"touch {name}") + b"\x85R."


PAYLOADS = {
    "global": lambda name: f"cos\nsystem\n(S'touch {name}'\ntR.".encode(),
    "stack-global": _stack_global_touch,
}


def _plain_payload_file(where: str, payload: bytes) -> bytes:
    """A real joblib dump whose first array region is rewritten so that joblib.load still reads a
    benign array and pickle.load reaches `payload`: in the array bytes themselves (a dump without
    alignment), or in the alignment padding (the padding-length byte set to 'N', which joblib
    reads as a length and pickle.load as 'push None')."""
    np = pytest.importorskip("numpy")
    arr = np.arange(64, dtype="<f8")
    raw = arr.tobytes()
    data = _dump({"coef_": arr, "n": 3}, aligned=where == "padding")
    at = data.index(raw)
    if where == "array":
        assert data[at - 1 : at] == b"b", "a dump without alignment has the array right after BUILD"
        return data[:at] + payload.ljust(len(raw), b"\0") + data[at + len(raw) :]
    i = at
    while data[i - 1] == 0xFF:
        i -= 1
    assert data[i - 1] == at - i and data[i - 2 : i - 1] == b"b", "BUILD, padding length, padding"
    build = i - 2
    pad = 0x4E  # 'N': joblib skips 78 padding bytes, pickle.load pushes None and reads them
    assert len(payload) <= pad
    return data[: build + 1] + bytes([pad]) + payload.ljust(pad, b"\0") + data[at:]


def _assert_plain_blocked(data: bytes, name: str) -> None:
    assert_blocked(data, name)
    r = scan_bytes(data, name)
    bad = [i for i in r.issues if i.name == "os.system"]
    assert bad and all(i.evidence.get("reader") == "plain unpickler" for i in bad), bad


def test_joblib_array_bytes_read_as_opcodes_by_pickle_load_are_blocked(tmp_path: Path) -> None:
    pytest.importorskip("joblib")
    cases = []
    for where in ("array", "padding"):
        for pname, make in PAYLOADS.items():
            tag = f"{where}-{pname}"
            data = _plain_payload_file(where, make(f"{tag}.marker"))
            p = tmp_path / f"{tag}.joblib"
            p.write_bytes(data)
            cases.append((tag, p, "pickle"))
    # A compressed dump: a loader that decompresses, then unpickles plainly, reads the same bytes.
    inner = _plain_payload_file("padding", PAYLOADS["global"]("zlib.marker"))
    z = tmp_path / "zlib.joblib"
    z.write_bytes(zlib.compress(inner, 3))
    cases.append(("zlib", z, "pickle-zlib"))
    load_in_child("joblib", [c[1] for c in cases])
    for tag, _, _ in cases:
        assert not (tmp_path / f"{tag}.marker").exists(), f"{tag}: joblib.load reaches the payload"
    for kind in ("pickle", "pickle-zlib"):
        load_in_child(kind, [c[1] for c in cases if c[2] == kind])
    for tag, p, _ in cases:
        assert (tmp_path / f"{tag}.marker").exists(), f"{tag}: pickle.load does not reach the payload"
        _assert_plain_blocked(p.read_bytes(), p.name)


def test_real_joblib_dumps_have_no_plain_reading_findings() -> None:
    """Benign twins: real arrays of every kind of byte content, read as opcodes by the plain
    reading, stop there without a finding."""
    pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(7)
    dtypes = ["<f8", "<f4", "<i8", "|u1", "|i1", "<c16", "|b1", "<U3", "|S4"]
    for seed in range(40):
        objs = []
        for dt in dtypes:
            size = int(rng.integers(0, 300))
            raw = rng.integers(0, 256, size * np.dtype(dt).itemsize, dtype=np.uint8).tobytes()
            objs.append(np.frombuffer(raw, dtype=dt) if dt[-2] not in "US" else np.array(["ab"] * size, dt))
        obj = {"w": objs, "first": rng.random(int(rng.integers(1, 50))), "seed": seed}
        for aligned in (True, False):
            for compress in (0, 3):
                data = _dump(obj, aligned) if not compress else zlib.compress(_dump(obj, aligned), 3)
                r = scan_bytes(data, f"{seed}-{aligned}-{compress}.joblib")
                assert r.issues == [], (seed, aligned, compress, r.issues)


def test_plain_reading_of_a_stream_that_cannot_be_read_again_fails_closed() -> None:
    pytest.importorskip("joblib")
    from gate.scanner.interface import Context, Result
    from gate.scanner.pickle_walker import walk_all
    from gate.scanner.scan import dispatch
    from gate.scanner.stream import Stream
    from tests.support.scanner.helpers import settings

    bad = _plain_payload_file("array", PAYLOADS["global"]("never.marker"))
    found = {}
    for how in ("seek", "reopen", "neither"):
        result = Result(path="x.joblib")
        s = Stream(
            io.BytesIO(bad),
            seekable=how == "seek",
            reopen=(lambda: io.BytesIO(bad)) if how == "reopen" else None,
        )
        walk_all(s, Context(settings(), result, dispatch), "")
        found[how] = {(i.kind.value, i.name) for i in result.issues}
    assert found["seek"] == found["reopen"] == {("unsafe-pickle-import", "os.system")}, found
    assert {k for k, _ in found["neither"]} == {"scan-limit-exceeded"}, found


def test_capitalised_allowlisted_classes_that_make_str_are_known() -> None:
    """The plain reading takes an instance of a capitalised allowlisted class as no str; every such
    class that is a str subclass must be listed as an exception."""
    import importlib

    from gate.scanner.allowlist import effective
    from gate.scanner.pickle_walker import STR_CLASSES

    checked = 0
    for full in sorted(effective()):
        module, _, name = full.rpartition(".")
        if not name[:1].isupper():
            continue
        try:
            obj = importlib.import_module(module)
            for part in name.split("."):
                obj = getattr(obj, part)
        except Exception:
            continue
        checked += 1
        if isinstance(obj, type) and issubclass(obj, str):
            assert full in STR_CLASSES, full
    assert checked > 100


def test_real_sklearn_models_with_object_arrays_have_no_plain_reading_findings(tmp_path: Path) -> None:
    """Object arrays (string categories, class labels) are joblib's nested pickles; read plainly
    they run on the outer stack and memo, the way pickle.load would, and stop without a finding."""
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler

    x = np.array([["a", "x", 1.0], ["b", "y", 2.0], ["c", "x", 3.0], ["a", "y", 4.0]] * 5, dtype=object)
    y = np.array(["yes", "no"] * 10, dtype=object)
    models = {
        "onehot": OneHotEncoder().fit(x[:, :2]),
        "labels": LabelEncoder().fit(y),
        "pipeline": make_pipeline(
            ColumnTransformer([("o", OneHotEncoder(), [0, 1]), ("s", StandardScaler(), [2])]),
            LogisticRegression(),
        ).fit(x, y),
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(np.random.rand(20, 3), y),
    }
    for name, m in models.items():
        for compress in (0, 3):
            p = tmp_path / f"{name}-{compress}.joblib"
            joblib.dump(m, p, compress=compress)
            r = scan_bytes(p.read_bytes(), p.name)
            assert r.issues == [], (name, compress, r.issues)


# ---- numpy -------------------------------------------------------------------------------------
def _npy(descr: str, payload: bytes, version: int = 1) -> bytes:
    h = ("{'descr': " + descr + ", 'fortran_order': False, 'shape': (1,), }").encode("latin1")
    pad = 64 - ((12 + len(h) + 1) % 64)
    h += b" " * pad + b"\n"
    fmt = "<H" if version == 1 else "<I"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(fmt, len(h)) + h + payload


OBJECT_DESCRS = ["'O'", "'|O'", "'O8'", "'object'", "[('a', 'O')]", "[('a', '<f8'), ('b', '|O')]", "'(2,)O'"]


def test_npy_object_dtype_spellings_are_caught(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    files = []
    for i, descr in enumerate(OBJECT_DESCRS):
        for version in (1, 2, 3):
            marker = tmp_path / f"{i}-{version}.marker"
            p = tmp_path / f"{i}-{version}.npy"
            p.write_bytes(_npy(descr, b"\x80\x02" + _touch(marker), version))
            files.append((descr, p, marker))
    load_in_child("numpy", [f[1] for f in files])
    for descr, p, marker in files:
        assert marker.exists(), f"{descr}: np.load does not unpickle it"
        r = scan_bytes(p.read_bytes(), p.name)
        assert "numpy-object-array" in kinds(r), (descr, r.issues)
        assert any(i.name == "os.system" for i in r.issues), (descr, r.issues)
    twin = tmp_path / "twin.npy"
    np.save(twin, np.zeros(3, dtype=[("a", "<f8"), ("b", "<i4", (2,))]))
    assert scan_bytes(twin.read_bytes(), "twin.npy").issues == []


def test_npy_without_numpy_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_numpy(name: str, *a: object, **k: object) -> object:
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError("no numpy")
        return real(name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_numpy)
    r = scan_bytes(_npy("[('a', '<f8'), ('b', 'O')]", b"\x00" * 16), "x.npy")
    assert "numpy-object-array" in kinds(r)
    r = scan_bytes(_npy("'<f8'", b"\x00" * 8), "x.npy")
    assert r.issues == []


# ---- allowlist ---------------------------------------------------------------------------------
def test_ufuncs_are_values_not_callables() -> None:
    np = pytest.importorskip("numpy")
    r = scan_bytes(pickle.dumps({"f": np.log1p, "m": np.matrix([[1, 2]])}, protocol=4), "x.pkl")
    assert r.issues == []
    called = b"\x80\x04" + _sg("numpy", "log1p") + b"K\x01\x85R."
    r = scan_bytes(called, "x.pkl")
    assert any(i.name == "numpy.log1p" for i in r.issues) and kinds(r) & CRITICAL


def test_sklearn_pipeline_with_a_ufunc_passes(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    m = make_pipeline(FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression())
    m.fit(np.arange(8.0).reshape(4, 2), [0, 1, 0, 1])
    joblib.dump(m, tmp_path / "m.joblib")
    assert scan_bytes((tmp_path / "m.joblib").read_bytes(), "m.joblib").issues == []
    for proto in (2, 5):
        assert scan_bytes(pickle.dumps(m, protocol=proto), "m.pkl").issues == []


def test_blocked_sklearn_name_gets_a_fix_that_fits() -> None:
    from gate.scanner.allowlist import fix_hint

    assert "skops" in (fix_hint("sklearn.somewhere.NewEstimator") or "")
    assert "allow_pickle_callables" in (fix_hint("sklearn.somewhere.NewEstimator") or "")
    assert "safetensors" not in (fix_hint("sklearn.somewhere.NewEstimator") or "")
    assert "joblib" in (fix_hint("joblib.numpy_pickle.NDArrayWrapper") or "")


# ---- the gate ----------------------------------------------------------------------------------
def _gate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gate", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def test_scan_and_check_block_every_family(tmp_path: Path) -> None:
    marker = tmp_path / "never.marker"
    files = {
        "model/labels.txt": b"I+1\n0" + _touch(marker),
        "model/weights.bin": b"\x8f0" + _touch(marker),
        "model/broken.pkl": b"\x80\x02" + _touch(marker)[:-1] + b"\xff",
        "model/arr.npy": _npy("'O8'", b"\x80\x02" + _touch(marker)),
        "model/model.joblib": _joblib_stream("reduce-init", "zero", _touch(marker)),
        "model/plain.joblib": _plain_payload_file("array", PAYLOADS["global"](str(marker))),
    }
    for rel, data in files.items():
        d = tmp_path / rel.replace("/", "_")
        d.mkdir()
        (d / Path(rel).name).write_bytes(data)
        p = _gate("scan", str(d), "--format", "json", cwd=tmp_path)
        assert p.returncode == 1, (rel, p.stdout, p.stderr)
        import json

        codes = {f["rule"]["code"] for f in json.loads(p.stdout)["findings"]}
        assert "GATE-MF001" in codes, (rel, codes)
    rel_dir = write_release(tmp_path / "rel", files=files)
    code, report = run_json("check", str(rel_dir))
    assert code == 1
    mf = [f for f in report["findings"] if f["check"] == "model-files"]
    blocked = {f["location"]["path"] for f in mf if f["rule"]["code"] == "GATE-MF001"}
    assert blocked >= set(files), blocked
    assert not marker.exists()
    twin = write_release(
        tmp_path / "twin", files={"model/labels.txt": b"cat\ndog\n", "model/a.pkl": _benign_tail()}
    )
    code, report = run_json("check", str(twin))
    assert not [
        f for f in report["findings"] if f["check"] == "model-files" and f["severity"] in ("critical", "high")
    ]


def test_code_execution_blocks_at_every_tier() -> None:
    from gate.checks.model_files import findings_for
    from gate.engine import decide_blocking
    from gate.policy import load_policy
    from gate.risk import Tier

    found = findings_for(scan_bytes(b"I+1\n0" + _touch(Path("/nonexistent/m")), "labels.txt"))
    assert any(f.rule.name == "unsafe-pickle-import" for f in found)
    assert not next(r for r in RULES if r.name == "unsafe-pickle-import").waivable
    for ref in ("default", "strict"):
        pol = load_policy(ref)
        for t in Tier:
            section = pol.for_tier(t)
            assert "model-files" in section.required
            decided = [decide_blocking(f, section) for f in found if f.rule.name == "unsafe-pickle-import"]
            assert decided and all(f.blocking and f.severity.value == "critical" for f in decided), (ref, t)
