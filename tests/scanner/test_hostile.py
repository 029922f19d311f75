"""Hostile input: truncated, malformed, huge, nested, wrong types. Always issues, never a crash or a hang."""

from __future__ import annotations

import gzip
import io
import json
import struct
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.scanner.interface import IssueKind
from tests.support.scanner.helpers import kinds, scan_bytes, scan_path, walk_bytes

OPCODES = list(
    b"\x80(}]).0123NIJKLMFGSTUVXBCabcdeghijlopqrstu\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c"
    b"\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98RQP"
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_dispatcher(data: bytes) -> None:
    scan_bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(OPCODES), max_size=60), st.binary(max_size=40))
def test_random_opcode_soup_never_crashes_the_walker(ops: list[int], tail: bytes) -> None:
    walk_bytes(b"\x80\x04" + bytes(ops) + tail)


def test_every_truncation_of_real_files_ends_in_issues(benign_dir: Path) -> None:
    names = [
        "pytorch_model.bin",
        "legacy.pt",
        "sklearn.pkl",
        "model.joblib",
        "model_gzip.joblib",
        "model.safetensors",
        "array.npy",
        "model.gguf",
        "model.onnx",
        "arrays.npz",
        "tokenizer_config.json",
    ]
    for name in names:
        data = (benign_dir / name).read_bytes()
        for cut in sorted({1, 9, len(data) // 3, len(data) // 2, len(data) - 7, len(data) - 1}):
            if 0 < cut < len(data):
                r = scan_bytes(data[:cut], name)
                # A cut file is never silently clean unless the part kept is itself a complete structure.
                assert r.issues or name.endswith(".json") or cut < 16, (name, cut, r.formats)


def test_malformed_headers_are_findings() -> None:
    cases = {
        "npy-version": b"\x93NUMPY\x09\x00" + b"\x00" * 20,
        "npy-header": b"\x93NUMPY\x01\x00\x10\x00" + b"{'descr': os}   ",
        "st-not-object": struct.pack("<Q", 2) + b"[]",
        "st-bad-json": struct.pack("<Q", 5) + b"{abc}",
        "gguf-version": b"GGUF" + struct.pack("<I", 99) + b"\x00" * 16,
        "gguf-keys": b"GGUF" + struct.pack("<IQQ", 3, 0, 10**12),
        "zip-damaged": b"PK\x03\x04" + b"\x00" * 40,
        "gzip-damaged": b"\x1f\x8b\x08\x00" + b"\xff" * 40,
    }
    for name, data in cases.items():
        r = scan_bytes(data, name)
        assert r.issues, name


def test_safetensors_huge_header_is_bounded() -> None:
    data = struct.pack("<Q", 2**39) + b"{" + b" " * 100
    r = scan_bytes(data, "x.safetensors")
    assert kinds(r) == {"scan-limit-exceeded"}


def test_gguf_huge_string_is_skipped_not_allocated() -> None:
    data = (
        b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 4) + b"name" + struct.pack("<IQ", 8, 2**60)
    )
    start = time.perf_counter()
    r = scan_bytes(data, "x.gguf")
    assert time.perf_counter() - start < 1
    assert kinds(r) and kinds(r) <= {"malformed-model-file", "scan-limit-exceeded"}


def test_deeply_nested_json_template_config() -> None:
    data = b"[" * 100_000 + b"]" * 100_000
    r = scan_bytes(data, "config.json")
    assert kinds(r) <= {"malformed-model-file", "scan-limit-exceeded"}


def test_memo_and_stack_limits_come_from_settings() -> None:
    data = b"\x80\x04N" + b"".join(b"r" + struct.pack("<I", i) for i in range(50)) + b"."
    assert kinds(scan_bytes(data, max_memo_entries=10)) == {"scan-limit-exceeded"}
    assert kinds(scan_bytes(data)) == set()
    marks = b"\x80\x04" + b"(" * 100 + b"N."
    assert kinds(scan_bytes(marks, max_stack_depth=50)) == {"scan-limit-exceeded"}


def test_decompression_bomb_stops_at_the_bound() -> None:
    data = gzip.compress(b"\x00" * (40 << 20))
    start = time.perf_counter()
    r = scan_bytes(data, "x.gz")
    assert time.perf_counter() - start < 10
    assert "scan-limit-exceeded" in kinds(r)
    # The same payload under an absolute cap lower than its size.
    r = scan_bytes(gzip.compress(b"\x80\x04N." + b"\x00" * 5000), "y.gz", max_decompressed_bytes=1000)
    assert "scan-limit-exceeded" in kinds(r)


def test_zip_member_bomb_is_not_decompressed() -> None:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.bin", b"\x00" * (20 << 20))
    r = scan_bytes(b.getvalue(), "bomb.zip")
    assert kinds(r) == {"scan-limit-exceeded"}


def test_nesting_depth_comes_from_settings() -> None:
    data = b"\x80\x04N."
    for i in range(3):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w") as z:
            z.writestr(f"l{i}", data)
        data = b.getvalue()
    assert kinds(scan_bytes(data, max_nesting_depth=1)) == {"scan-limit-exceeded"}
    assert kinds(scan_bytes(data)) == set()


def test_duplicate_zip_members_are_reported() -> None:
    b = io.BytesIO()
    with pytest.warns(UserWarning), zipfile.ZipFile(b, "w") as z:
        z.writestr("a.json", json.dumps({"x": 1}))
        z.writestr("a.json", json.dumps({"x": 2}))
    r = scan_bytes(b.getvalue(), "dup.zip")
    assert IssueKind.ARCHIVE in {i.kind for i in r.issues}


def test_legacy_checkpoint_with_trailing_bytes(benign_dir: Path, tmp_path: Path) -> None:
    p = tmp_path / "legacy_tail.pt"
    p.write_bytes((benign_dir / "legacy.pt").read_bytes() + b"\x80\x04cos\nsystem\n.")
    assert kinds(scan_path(p)) == {"trailing-data"}
