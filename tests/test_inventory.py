from __future__ import annotations

import hashlib
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gate.inventory import CHUNK, DigestRequest, build_inventory


def test_digests_match_hashlib_and_parallel_equals_serial(tmp_path: Path) -> None:
    files = {
        "a.bin": os.urandom(3 * CHUNK + 17),
        "dir/b.bin": b"",
        "dir/sub/c.txt": b"hello",
    }
    for rel, data in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    inv = build_inventory(tmp_path, [DigestRequest(algorithm="blake2b")])
    serial = build_inventory(tmp_path, [DigestRequest(algorithm="blake2b")], workers=1)
    assert inv == serial
    by = inv.by_path()
    for rel, data in files.items():
        assert by[rel].sha256 == hashlib.sha256(data).hexdigest()
        assert by[rel].digests["blake2b"] == hashlib.blake2b(data).hexdigest()
        assert by[rel].size == len(data)
        assert by[rel].magic == data[:16].hex()
    assert [e.path for e in inv.entries] == sorted(files)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=2000))
def test_shard_digests(data: bytes, shard: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        Path(d, "f").write_bytes(data)
        inv = build_inventory(Path(d), [DigestRequest(algorithm="sha256", shard_size=shard)])
        got = inv.entries[0].shard_digests[f"sha256/{shard}"]
        want = [hashlib.sha256(data[i : i + shard]).hexdigest() for i in range(0, len(data), shard)]
        assert list(got) == (want or [hashlib.sha256(b"").hexdigest()])


def test_symlinks_git_dir_and_digest_stability(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w").write_bytes(b"x")
    os.symlink("w", tmp_path / "m" / "inside")
    os.symlink("/etc/hostname", tmp_path / "m" / "outside")
    os.symlink("missing", tmp_path / "m" / "dangling")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    inv = build_inventory(tmp_path)
    by = inv.by_path()
    assert by["m/inside"].kind == "symlink" and not by["m/inside"].link_escapes
    assert by["m/outside"].link_escapes and by["m/dangling"].link_escapes
    assert ".git" in inv.excluded and not any(p.startswith(".git/") for p in by)
    before = inv.digest
    (tmp_path / "m" / "w").write_bytes(b"y")
    assert build_inventory(tmp_path).digest != before
