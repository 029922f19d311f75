"""gate.onnx_proto parses ONNX exactly as the onnx package does, without the package's start-up."""

from __future__ import annotations

import subprocess
import sys
import tempfile

import pytest

onnx = pytest.importorskip("onnx")

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # noqa: E402

from gate.onnx_proto import parse_model  # noqa: E402
from tests.support.robustness_models import digits_onnx  # noqa: E402


def _outcome(parse: object, data: bytes) -> tuple[str, bytes]:
    try:
        model = parse(data)  # type: ignore[operator]
    except (DecodeError, ValueError, RuntimeError) as exc:
        return type(exc).__name__, b""
    return "ok", model.SerializeToString()


VALID = digits_onnx(False)


@pytest.mark.parametrize(
    "data",
    [
        VALID,
        VALID[: len(VALID) // 2],  # cut mid-field
        VALID + b"\x00",  # a stray byte after the message
        b"",
        b"\xff" * 64,
        b"\x0a\x80\x80\x80\x80\x10",  # a length that runs past the end
        b"\x08\x07" + VALID,  # ir_version given twice: the last one wins in both
    ],
    ids=["valid", "truncated", "trailing-zero", "empty", "garbage", "overlong-length", "repeated-field"],
)
def test_the_same_bytes_parse_to_the_same_model_or_fail_alike(data: bytes) -> None:
    assert _outcome(parse_model, data) == _outcome(onnx.load_model_from_string, data)


def test_the_message_classes_are_onnx_s_own_and_its_start_up_is_not_paid() -> None:
    code = (
        "import sys\n"
        "from gate.onnx_proto import parse_model\n"
        "m = parse_model(open(sys.argv[1], 'rb').read())\n"
        "print('onnx' in sys.modules, 'ml_dtypes' in sys.modules, len(m.graph.node))\n"
        "import onnx\n"
        "print(type(m) is onnx.ModelProto)\n"
    )
    with tempfile.NamedTemporaryFile(suffix=".onnx") as fh:
        fh.write(VALID)
        fh.flush()
        r = subprocess.run(
            [sys.executable, "-c", code, fh.name], capture_output=True, text=True, timeout=120, check=False
        )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False", "5", "True"]
