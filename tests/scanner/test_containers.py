"""Containers are found where their loaders find them, and a file several loaders read differently
is judged as each of them.

- zip: readers (zipfile, and Keras and npz through it) find the archive from its end record, so a
  zip behind a GIF, PNG, JPEG, gzip member, pickle or any prefix is a zip;
- tar: `tarfile` (and torch.load's legacy path, which tries tar first) accepts any header whose
  checksum holds, `ustar` magic or not (v7 tar);
- a file valid as two formats is a finding of its own (`polyglot-model-file`).

Each malicious variant is first proved live with the real reader in a throwaway subprocess
(a marker file appears), then shown blocked; the benign twins pass.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.scanner.helpers import kinds, scan_bytes, scan_path

ROOT = Path(__file__).resolve().parents[2]
CODE_RUNS = {"unsafe-pickle-import", "keras-lambda-layer"}

GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PREFIXES: dict[str, Callable[[], bytes]] = {
    "gif": lambda: GIF,
    "png": lambda: PNG,
    "jpeg": lambda: JPEG,
    "arbitrary": lambda: os.urandom(777),
    "gzip": lambda: gzip.compress(b"just some text\n"),
    "pickle": lambda: pickle.dumps({"lr": 0.1}, protocol=4),
    "safetensors": lambda: b'\x08\x00\x00\x00\x00\x00\x00\x00{"a":1}\n',
}


class _Reduce:
    def __init__(self, fn: object, *args: object) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.fn, self.args


def _payload(marker: Path, protocol: int = 2) -> bytes:
    return pickle.dumps(_Reduce(os.system, f"touch {marker}"), protocol=protocol)


def _torch_zip_with(data_pkl: bytes) -> bytes:
    """A torch.save checkpoint whose archive/data.pkl is replaced (the real writer's layout)."""
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, buf)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = data_pkl if info.filename.endswith("/data.pkl") else src.read(info)
            dst.writestr(info.filename, data)
    return out.getvalue()


def _keras_zip(lambda_layer: bool) -> bytes:
    layer: dict[str, object] = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"name": "dense", "units": 2},
        "registered_name": None,
    }
    if lambda_layer:
        layer = {
            "module": "keras.layers",
            "class_name": "Lambda",
            "config": {
                "name": "lambda",
                "function": {
                    "class_name": "__lambda__",
                    "config": {"code": "4wEAAAAAAAAA", "defaults": None},
                },
            },
            "registered_name": None,
        }
    cfg = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": [layer]}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        z.writestr("config.json", json.dumps(cfg))
        z.writestr("model.weights.h5", b"")
    return out.getvalue()


def _run_loader(code: str, path: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        timeout=120,
        check=False,
        cwd=path.parent,
    )


# The loaders: zipfile exactly as Keras' saving_lib and every other zip reader use it.
ZIP_THEN_UNPICKLE = (
    "import sys, zipfile, pickle\n"
    "z = zipfile.ZipFile(sys.argv[1])\n"
    "pickle.loads(z.read([n for n in z.namelist() if n.endswith('data.pkl')][0]))\n"
)
TORCH_LOAD = "import sys, torch\ntorch.load(sys.argv[1], weights_only=False)\n"


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_torch_zip_behind_any_head_is_read_as_a_zip(tmp_path: Path, prefix: str) -> None:
    marker = tmp_path / "ran"
    p = tmp_path / "preview.bin"
    p.write_bytes(PREFIXES[prefix]() + _torch_zip_with(_payload(marker)))
    _run_loader(ZIP_THEN_UNPICKLE, p)
    assert marker.exists(), "the zip reader did not find the archive: the variant is not live"
    marker.unlink()
    r = scan_path(p)
    assert "unsafe-pickle-import" in kinds(r), r.issues
    assert "zip" in r.formats
    if prefix != "arbitrary":  # random bytes claim no format: a zip with a prefix, not a polyglot
        assert "polyglot-model-file" in kinds(r)
    assert "suspicious-archive-structure" in kinds(r)  # bytes before the first member
    assert not marker.exists()


@pytest.mark.parametrize("prefix", ["gif", "png", "jpeg", "arbitrary", "pickle"])
def test_keras_zip_behind_any_head_is_read_as_a_zip(tmp_path: Path, prefix: str) -> None:
    p = tmp_path / "model.keras"
    p.write_bytes(PREFIXES[prefix]() + _keras_zip(lambda_layer=True))
    with zipfile.ZipFile(p) as z:  # what keras.saving reads: zipfile finds config.json behind the head
        assert "Lambda" in z.read("config.json").decode()
    r = scan_path(p)
    assert "keras-lambda-layer" in kinds(r), r.issues
    assert "keras" in r.formats


@pytest.mark.parametrize("prefix", ["gif", "png", "jpeg"])
def test_benign_images_and_archives_pass(tmp_path: Path, prefix: str) -> None:
    assert scan_bytes(PREFIXES[prefix](), "image").issues == []
    assert scan_bytes(_keras_zip(lambda_layer=False), "model.keras").issues == []
    clean = pickle.dumps({"w": [1.0, 2.0]}, protocol=2)
    r = scan_bytes(_torch_zip_with(clean), "model.bin")
    assert not kinds(r) & (CODE_RUNS | {"polyglot-model-file", "suspicious-archive-structure"}), r.issues


def _tar(members: dict[str, bytes], fmt: int, first_name: str | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:", format=fmt) as tf:
        for i, (name, data) in enumerate(members.items()):
            info = tarfile.TarInfo(first_name if i == 0 and first_name else name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _legacy_torch_tar(marker: Path, fmt: int) -> bytes:
    # torch's legacy tar loader extracts and unpickles 'storages' first: the payload goes there.
    return _tar(
        {
            "sys_info": pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2),
            "storages": _payload(marker),
            "tensors": pickle.dumps(0, protocol=2),
            "pickle": pickle.dumps({}, protocol=2),
        },
        fmt,
    )


@pytest.mark.parametrize(
    "fmt",
    [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, 0],
    ids=["ustar", "gnu", "pax", "v7"],
)
def test_tar_checkpoint_in_every_dialect(tmp_path: Path, fmt: int) -> None:
    marker = tmp_path / "ran"
    data = _legacy_torch_tar(marker, fmt)
    if fmt == 0:  # pre-POSIX: no magic at all; only the checksum says "tar"
        data = _as_v7(data)
        assert b"ustar" not in data[:512]
    p = tmp_path / "legacy.pt"
    p.write_bytes(data)
    _run_loader(TORCH_LOAD, p)
    assert marker.exists(), "torch.load did not run the tar checkpoint's pickle: the variant is not live"
    marker.unlink()
    r = scan_path(p)
    assert "unsafe-pickle-import" in kinds(r), (r.formats, r.issues)
    assert "torch-tar" in r.formats
    assert not marker.exists()


def _as_v7(data: bytes) -> bytes:
    """Rewrite every header as a v7 one: no magic, no version, checksum recomputed as tarfile checks it."""
    out = bytearray(data)
    pos = 0
    while pos + 512 <= len(out) and any(out[pos : pos + 512]):
        hdr = out[pos : pos + 512]
        size = int(hdr[124:136].rstrip(b"\0 ") or b"0", 8)
        hdr[257:512] = bytes(255)
        hdr[148:156] = b" " * 8
        hdr[148:156] = b"%06o\0 " % sum(hdr)
        out[pos : pos + 512] = hdr
        pos += 512 + (size + 511) // 512 * 512
    return bytes(out)


def test_tar_whose_head_is_also_a_pickle_is_judged_as_both(tmp_path: Path) -> None:
    """The first member's name is a pickle's first bytes: pickle.load and torch.load read different files."""
    marker = tmp_path / "ran"
    head_pickle = b"\x80\x02c__builtin__\nlen\n)R."  # a harmless pickle, 20 bytes: fits the name field
    data = _as_v7(_legacy_torch_tar(marker, tarfile.USTAR_FORMAT))
    # Rename the first member to the pickle bytes (the loader still finds 'storages' by name).
    hdr = bytearray(data[:512])
    hdr[0:100] = head_pickle.ljust(100, b"\0")
    hdr[148:156] = b" " * 8
    hdr[148:156] = b"%06o\0 " % sum(hdr)
    data = bytes(hdr) + data[512:]
    p = tmp_path / "both.pt"
    p.write_bytes(data)
    _run_loader(TORCH_LOAD, p)
    assert marker.exists()
    marker.unlink()
    r = scan_path(p)
    assert {"polyglot-model-file", "unsafe-pickle-import"} <= kinds(r), r.issues
    assert {"torch-tar", "pickle"} <= set(r.formats)


def test_benign_tars_pass(tmp_path: Path) -> None:
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT):
        data = _tar({"README": b"weights elsewhere\n", "w.npy": b""}, fmt)
        for d in (data, _as_v7(data)):
            r = scan_bytes(d, "bundle.tar")
            assert "torch-tar" in r.formats
            assert not {i for i in kinds(r) if i != "unrecognised-model-file"}, r.issues


def test_a_zero_block_and_a_broken_checksum_are_not_tar() -> None:
    assert "torch-tar" not in scan_bytes(bytes(1024), "zeros").formats
    data = bytearray(_as_v7(_tar({"a": b"x"}, tarfile.USTAR_FORMAT)))
    data[148] ^= 1  # tarfile rejects the header, so torch.load does not read a tar either
    assert "torch-tar" not in scan_bytes(bytes(data), "almost.tar").formats


def test_zip_inside_a_gzip_payload_behind_an_image_is_found(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    inner = GIF + _torch_zip_with(_payload(marker))
    r = scan_bytes(gzip.compress(inner), "assets.gz")
    assert {"polyglot-model-file", "unsafe-pickle-import"} <= kinds(r), r.issues


def test_scan_command_blocks_a_polyglot(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    p = tmp_path / "cover.gif"
    p.write_bytes(GIF + _keras_zip(lambda_layer=True))
    q = tmp_path / "weights.pkl"
    q.write_bytes(pickle.dumps([1, 2], protocol=4) + _torch_zip_with(_payload(marker)))
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "scan", "--format", "json", str(p), str(q)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    rules = {f["rule"]["name"] for f in json.loads(proc.stdout)["findings"]}
    assert {"polyglot-model-file", "keras-lambda-layer", "unsafe-pickle-import"} <= rules, rules
