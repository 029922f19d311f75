"""Hostile input for the container and template readers, with the real readers as oracles.

- whenever `tarfile` opens bytes as a tar (what torch.load tries first), the scanner reads a tar;
- whenever `zipfile` opens bytes as a zip with members, the scanner reads a zip;
- the template checker and the sealed reader never raise on arbitrary input.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.inventory import build_inventory
from gate.scanner.identify import identify_all
from gate.scanner.interface import Context, Format, Result
from gate.scanner.scan import dispatch
from gate.scanner.sealed import SealedFile, Watch
from gate.scanner.templates import check_template
from tests.support.scanner.helpers import scan_bytes
from tests.support.scanner.helpers import settings as scan_settings


def _tar_bytes(fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:", format=fmt) as tf:
        info = tarfile.TarInfo("pickle")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"N.\n"))
    return out.getvalue()


TARS = [_tar_bytes(f) for f in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT)]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TARS), st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)), max_size=6))
def test_every_tar_that_tarfile_opens_is_read_as_tar(base: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(base)
    for pos, value in edits:
        data[pos] = value
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r:") as tf:
            tf.getmembers()
            opened = True
    except (tarfile.TarError, ValueError, OverflowError, UnicodeError):
        opened = False
    if opened:
        assert Format.TORCH_TAR in identify_all(bytes(data[:512]), len(data))


def _zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", b"N.")
    return out.getvalue()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.binary(max_size=40))
def test_every_zip_that_zipfile_opens_is_read_as_zip(prefix: bytes, suffix: bytes) -> None:
    data = prefix + _zip_bytes() + suffix
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            opened = bool(z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        opened = False
    r = scan_bytes(data, "blob")
    if opened:
        assert "zip" in r.formats, (r.formats, r.issues)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1024))
def test_identification_never_raises(head: bytes) -> None:
    assert identify_all(head, len(head) + 10)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*"{}%#()[]|~*.'\"_abcxyz0123456789 =+-,:", "{{", "}}", "{%", "%}", "set", "for", "in"]
        ),
        max_size=60,
    ).map("".join)
)
def test_template_checker_never_raises(source: str) -> None:
    result = Result(path="t")
    check_template(source, Context(scan_settings(), result, dispatch), "", "template")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3 * 1024 * 1024), st.integers(0, 200_000)), min_size=1, max_size=8))
def test_sealed_reads_equal_plain_reads(tmp_path: Path, reads: list[tuple[int, int]]) -> None:
    p = tmp_path / "f"
    if not p.exists():
        p.write_bytes(os.urandom(2 * 1024 * 1024 + 999))
    data = p.read_bytes()
    seal = build_inventory(tmp_path).seal("f")
    assert seal is not None
    watch = Watch()
    with io.BufferedReader(SealedFile(p, seal, watch)) as fh:
        for pos, n in reads:
            fh.seek(pos)
            assert fh.read(n) == data[pos : pos + n]
    assert watch.changed is None
