"""Writes never follow links: init, --output, --sbom, --attest, the decision log, waivers.

Each writer is pointed at a symlink planted where it writes (as a pull request could plant
one in a release or a workspace); the link's target, outside, must stay untouched and the
command must say why with exit 2. The benign twin (a plain path) is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gate.errors import InputError
from gate.safewrite import UnsafeWriteError, open_append, write_file
from tests.conftest import run_cli

POLICY = """\
version: 1
name: write-test
defaults:
  required: [release-integrity]
"""
ORIGINAL = b"precious content outside the release\n"


def _release(tmp: Path) -> tuple[Path, Path]:
    rel = tmp / "rel"
    (rel / "model").mkdir(parents=True)
    (rel / "model" / "w.safetensors").write_bytes(b"\x02" + b"\x00" * 7 + b"{}")
    (rel / "release.yaml").write_text(
        "schema_version: 1\nname: tiny\nversion: 1.0.0\nmodel: {path: model/, format: safetensors}\n"
        "deployment: {exposure: internal, data_sensitivity: none, autonomy: advisory}\n",
        "utf-8",
    )
    pol = tmp / "policy.yaml"
    pol.write_text(POLICY, "utf-8")
    return rel, pol


def _victim(tmp: Path) -> Path:
    victim = tmp / "outside" / "victim.txt"
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_bytes(ORIGINAL)
    return victim


def _link(at: Path, to: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(to)
    return at


def test_init_force_does_not_write_through_a_release_yaml_link(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    rel = tmp_path / "rel"
    (rel / "model").mkdir(parents=True)
    _link(rel / "release.yaml", victim)
    res = run_cli("init", str(rel), "--force")
    assert res.exit_code == 2 and "symbolic link" in res.output, res.output
    assert victim.read_bytes() == ORIGINAL
    assert (rel / "release.yaml").is_symlink()
    # A dangling link is refused too (it would create the file where it points).
    (rel / "release.yaml").unlink()
    _link(rel / "release.yaml", tmp_path / "outside" / "new.yaml")
    assert run_cli("init", str(rel)).exit_code == 2
    assert not (tmp_path / "outside" / "new.yaml").exists()
    # Benign: a regular release.yaml is overwritten with --force.
    (rel / "release.yaml").unlink()
    (rel / "release.yaml").write_text("old\n")
    assert run_cli("init", str(rel), "--force").exit_code == 0
    assert "schema_version" in (rel / "release.yaml").read_text()


@pytest.mark.parametrize("option", ["--output", "--sbom", "--attest", "--decision-log"])
def test_check_outputs_do_not_follow_links(tmp_path: Path, option: str) -> None:
    rel, pol = _release(tmp_path)
    victim = _victim(tmp_path)
    out = _link(tmp_path / "out" / "result", victim)
    extra: list[str] = []
    if option == "--attest":
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (tmp_path / "k.pem").write_bytes(pem)
        extra = ["--attest-key", str(tmp_path / "k.pem")]
    if option == "--output":
        extra = ["--format", "json"]
    res = run_cli("check", str(rel), "--policy", str(pol), option, str(out), *extra)
    assert res.exit_code == 2, res.output
    assert "symbolic link" in res.output
    assert victim.read_bytes() == ORIGINAL and out.is_symlink()
    # Benign twin: the same option with a plain path writes it.
    plain = tmp_path / "out" / "plain"
    res = run_cli("check", str(rel), "--policy", str(pol), option, str(plain), *extra)
    assert res.exit_code == 0, res.output
    assert plain.is_file() and plain.stat().st_size > 0


def test_waiver_new_does_not_follow_a_link(tmp_path: Path) -> None:
    from gate.commands.shared import write_output as _write

    victim = _victim(tmp_path)
    with pytest.raises(UnsafeWriteError):
        _write(_link(tmp_path / "w.json", victim), b"{}")
    assert victim.read_bytes() == ORIGINAL


def test_write_file_keeps_hard_links_and_refuses_special_files(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    os.link(victim, tmp_path / "hard")
    write_file(tmp_path / "hard", b"new")  # replaces the name, not the shared inode
    assert victim.read_bytes() == ORIGINAL and (tmp_path / "hard").read_bytes() == b"new"
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnsafeWriteError, match="not a regular file"):
        write_file(tmp_path / "fifo", b"x")
    with pytest.raises(UnsafeWriteError, match="not a regular file"):
        os.close(open_append(tmp_path / "fifo"))  # refused at once, never blocks
    with pytest.raises(UnsafeWriteError, match="already exists"):
        write_file(tmp_path / "hard", b"x", overwrite=False)
    with pytest.raises(InputError):
        write_file(tmp_path / "d" / "..", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "hard", "outside"]  # no temp left


def test_decision_log_link_is_refused(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    with pytest.raises(UnsafeWriteError, match="symbolic link"):
        open_append(_link(tmp_path / "log.jsonl", victim))
    assert victim.read_bytes() == ORIGINAL


def test_a_linked_output_is_refused_before_the_check_runs(tmp_path: Path) -> None:
    rel, pol = _release(tmp_path)
    victim = _victim(tmp_path)
    out = _link(tmp_path / "report.json", victim)
    res = run_cli("check", str(rel), "--policy", str(pol), "--format", "json", "--output", str(out))
    assert res.exit_code == 2 and "symbolic link" in res.output
    assert "release-integrity" not in res.output  # nothing was judged, so nothing was printed
