"""The subject is everything the gate judged: a verdict or waiver for release A never applies to B.

Each mutation below changes something a check reads or judges (file contents, a symlink's target
or the target's contents, release.yaml, the file list, a name, a hard link). The attestation and
the waiver made for A must be refused for every such B; the unchanged copy (in another directory)
is the control that is still admitted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gate.attest import load_release_digest
from gate.inventory import build_inventory, subject_listing
from gate.models.report import WaiverStatus
from tests.support import run_cli, write_release
from tests.support.supply_chain_helpers import model_files
from tests.support.waiverkit import (
    T0,
    blocking_ids,
    loaded,
    make_keys,
    policy_from,
    put,
    run,
    signed,
    unsigned_waiver,
    write_keys,
)

MANIFEST = """\
schema_version: 1
name: tiny
version: 1.0.0
model: {path: model/, format: safetensors}
deployment: {exposure: internal, data_sensitivity: none, autonomy: advisory}
"""


def make_a(root: Path, code: bool = False) -> Path:
    files = {f"model/{k}": v for k, v in model_files().items()}
    files["notes/a.json"] = b'{"note": "a"}'
    files["notes/b.json"] = b'{"note": "b"}'
    if code:
        files["model/helper.py"] = b"print('hi')\n"
    write_release(root, MANIFEST, files=files)
    # A link inside the release: what it points at is judged, so it is bound.
    os.symlink("../notes/a.json", root / "model" / "extra.json")
    return root


def _retarget(r: Path) -> None:
    (r / "model" / "extra.json").unlink()
    os.symlink("../notes/b.json", r / "model" / "extra.json")


def _link_file_becomes_link_dir(r: Path) -> None:
    (r / "model" / "extra.json").unlink()
    os.symlink("../notes", r / "model" / "extra.json")


def _flip(r: Path) -> None:
    p = r / "model" / "model.safetensors"
    data = bytearray(p.read_bytes())
    data[-1] ^= 1
    p.write_bytes(bytes(data))


def _target_content(r: Path) -> None:
    (r / "notes" / "a.json").write_bytes(b'{"note": "A"}')


def _manifest(r: Path) -> None:
    with open(r / "release.yaml", "a") as fh:
        fh.write("description: changed\n")


def _add(r: Path) -> None:
    (r / "model" / "added.bin").write_bytes(b"\x00" * 8)


def _remove(r: Path) -> None:
    (r / "model" / "config.json").unlink()


def _rename(r: Path) -> None:
    (r / "model" / "tokenizer.json").rename(r / "model" / "tokenizer2.json")


def _hardlink(r: Path) -> None:
    os.link(r / "notes" / "b.json", r.parent / f"{r.name}-elsewhere.json")


MUTATIONS: dict[str, Callable[[Path], None]] = {
    "file-byte": _flip,
    "symlink-retargeted": _retarget,
    "symlink-now-to-directory": _link_file_becomes_link_dir,
    "symlink-target-content": _target_content,
    "release-yaml": _manifest,
    "file-added": _add,
    "file-removed": _remove,
    "file-renamed": _rename,
    "hard-link-added": _hardlink,
}


@pytest.fixture(scope="module")
def attested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("att")
    private = write_keys(make_keys(), tmp / "k")
    a = make_a(tmp / "a")
    att = tmp / "vsa.json"
    res = run_cli("check", str(a), "--attest", str(att), "--attest-key", str(private["alice"]))
    assert res.exit_code == 0, res.output
    return a, att, tmp / "k" / "alice.pub"


def test_control_same_bytes_elsewhere_is_admitted(attested: tuple[Path, Path, Path], tmp_path: Path) -> None:
    a, att, pub = attested
    copy = tmp_path / "copy"
    shutil.copytree(a, copy, symlinks=True)
    res = run_cli("verify-attestation", str(att), "--release", str(copy), "--key", str(pub))
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_verdict_for_a_is_refused_for_b(name: str, attested: tuple[Path, Path, Path], tmp_path: Path) -> None:
    a, att, pub = attested
    b = tmp_path / "b"
    shutil.copytree(a, b, symlinks=True)
    MUTATIONS[name](b)
    assert load_release_digest(b) != load_release_digest(a)
    res = run_cli("verify-attestation", str(att), "--release", str(b), "--key", str(pub))
    assert res.exit_code == 1 and "for another release" in res.output, res.output


def test_escaping_link_target_content_is_bound(tmp_path: Path) -> None:
    """A link out of the release (blocked, but a waiver could name another finding) binds its target."""
    outside = tmp_path / "outside.json"
    outside.write_bytes(b"{}")
    a = make_a(tmp_path / "a")
    os.symlink(str(outside), a / "model" / "out.json")
    before = load_release_digest(a)
    outside.write_bytes(b'{"changed": 1}')
    assert load_release_digest(a) != before
    outside.unlink()  # dangling now
    assert load_release_digest(a) != before


def test_a_name_with_a_newline_cannot_forge_listing_lines(tmp_path: Path) -> None:
    """Release A holds one file whose name spells a second listing line; B really has both files."""
    y = b"anything the attacker wants\n"
    forged = f"x\n{hashlib.sha256(y).hexdigest()}  {len(y)}  file  y"
    a = write_release(tmp_path / "a", MANIFEST, files={"m/x0": b"0"})
    (a / forged).write_bytes(b"same")
    b = write_release(tmp_path / "b", MANIFEST, files={"m/x0": b"0"})
    (b / "x").write_bytes(b"same")
    (b / "y").write_bytes(y)
    assert build_inventory(a).digest != build_inventory(b).digest
    assert subject_listing(build_inventory(a).entries).count("\n") == len(build_inventory(a).entries)


def test_listing_of_plain_files_is_format_1(tmp_path: Path) -> None:
    """Releases without links or odd names keep the digest they always had (old verdicts verify)."""
    r = write_release(tmp_path / "r", MANIFEST, files={"model/w.bin": b"\x01" * 9})
    inv = build_inventory(r)
    old = "".join(f"{e.sha256 or '-'}  {e.size}  {e.kind}  {e.path}\n" for e in inv.entries)
    assert inv.digest == "sha256:" + hashlib.sha256(old.encode()).hexdigest()


# --- waivers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_waiver_for_a_is_refused_for_b(name: str, tmp_path: Path) -> None:
    keys = make_keys()
    policy = policy_from(tmp_path / "pol", keys)
    a = make_a(tmp_path / "a", code=True)
    release, report = loaded(a, policy)
    ids = [i for i in blocking_ids(report) if i.startswith("GATE-RI005")]
    assert ids, report.findings
    waiver = signed(unsigned_waiver(release, ids), keys.alice)
    wdir = tmp_path / "waivers"
    put(wdir, "w.json", waiver)
    control = run(a, policy, wdir, now=T0)
    assert control.waivers[0].status is WaiverStatus.APPLIED, control.waivers[0].reason

    b = tmp_path / "b"
    shutil.copytree(a, b, symlinks=True)
    MUTATIONS[name](b)
    out = run(b, policy, wdir, now=T0)
    assert out.waivers[0].status is WaiverStatus.REJECTED
    assert "for another release" in out.waivers[0].reason
    assert set(ids) <= set(blocking_ids(out))


# --- the model-signing root digest as a second subject ----------------------------------------


@pytest.fixture
def signed_world(tmp_path: Path) -> dict[str, Path]:
    from tests.support.supply_chain_helpers import ec_key, make_release, sign_key, write_key

    priv, pub = write_key(ec_key(), tmp_path / "keys" / "release.pem")
    gate_keys = write_keys(make_keys(), tmp_path / "k")
    rel = make_release(tmp_path / "rel", extra="signature: model.sig\n")
    sign_key(rel / "model", rel / "model.sig", priv)
    pol = tmp_path / "policy.yaml"
    pol.write_text(
        f"version: 1\nname: team\nextends: [default]\ndefaults:\n  checks:\n"
        f"    model-signature: {{trusted_keys: [{pub}]}}\n"
    )
    return {
        "rel": rel,
        "policy": pol,
        "gate_key": gate_keys["alice"],
        "gate_pub": tmp_path / "k" / "alice.pub",
    }


def _judged(rel: Path, policy: Path) -> tuple[Any, Any]:
    """The release and the report of a real-time run (attestations are checked for freshness)."""
    from gate import engine
    from gate.policy import load_policy

    result = engine.check_release(engine.RunRequest(release_dir=rel, policy=load_policy(str(policy))))
    return result.release, result.report


def _verify(att: Path, w: dict[str, Path]) -> Any:
    return run_cli("verify-attestation", str(att), "--release", str(w["rel"]), "--key", str(w["gate_pub"]))


def _signed_root(rel: Path) -> str:
    from tests.support.waiverkit import statement_of

    sig = json.loads((rel / "model.sig").read_bytes())
    st = statement_of(json.dumps(sig["dsseEnvelope"]).encode())
    return "sha256:" + st["subject"][0]["digest"]["sha256"]


def test_verdict_on_a_trusted_signed_release_names_the_model_root(
    signed_world: dict[str, Path], tmp_path: Path
) -> None:
    from tests.support.waiverkit import statement_of

    w = signed_world
    att = tmp_path / "out" / "vsa.json"
    res = run_cli(
        "check",
        str(w["rel"]),
        "--policy",
        str(w["policy"]),
        "--attest",
        str(att),
        "--attest-key",
        str(w["gate_key"]),
    )
    assert res.exit_code == 0, res.output
    subjects = statement_of(att.read_bytes())["subject"]
    assert [s["name"] for s in subjects] == ["tiny@1.0.0", "tiny@1.0.0#model"]
    summary = statement_of(att.read_bytes())["predicate"]["https://model-gate.dev/vsa-summary/v1"]
    assert summary["release"]["digestFormat"] == 2
    assert "sha256:" + subjects[0]["digest"]["sha256"] == load_release_digest(w["rel"])
    assert "sha256:" + subjects[1]["digest"]["sha256"] == _signed_root(w["rel"])
    ok = _verify(att, w)
    assert ok.exit_code == 0, ok.output


def test_verdict_naming_another_model_root_is_refused(signed_world: dict[str, Path], tmp_path: Path) -> None:
    from gate.attest import build_statement, sign_attestation
    from gate.signing.keys import load_private_key

    w = signed_world
    release, report = _judged(w["rel"], w["policy"])
    st = build_statement(report, release)
    assert len(st["subject"]) == 2
    key = load_private_key(w["gate_key"])
    good = tmp_path / "good.json"
    good.write_bytes(sign_attestation(st, key))
    res = _verify(good, w)
    assert res.exit_code == 0, res.output  # control
    st["subject"][1]["digest"]["sha256"] = "ab" * 32
    bad = tmp_path / "bad.json"
    bad.write_bytes(sign_attestation(st, key))
    res = _verify(bad, w)
    assert res.exit_code == 1 and "for another release" in res.output
    # Naming only the model root (not the release digest) is not enough either.
    st["subject"] = st["subject"][1:]
    st["subject"][0]["digest"]["sha256"] = _signed_root(w["rel"]).split(":")[1]
    only_root = tmp_path / "root.json"
    only_root.write_bytes(sign_attestation(st, key))
    res = _verify(only_root, w)
    assert res.exit_code == 1 and "for another release" in res.output


def test_single_subject_verdicts_keep_verifying(signed_world: dict[str, Path], tmp_path: Path) -> None:
    """A verdict written before the model root was added names the release digest only."""
    from gate.attest import build_statement, sign_attestation
    from gate.signing.keys import load_private_key

    w = signed_world
    release, report = _judged(w["rel"], w["policy"])
    st = build_statement(report, release)
    st["subject"] = st["subject"][:1]
    att = tmp_path / "old.json"
    att.write_bytes(sign_attestation(st, load_private_key(w["gate_key"])))
    res = _verify(att, w)
    assert res.exit_code == 0, res.output


def test_waiver_on_a_signed_release_names_the_model_root(
    signed_world: dict[str, Path], tmp_path: Path
) -> None:
    from tests.support.waiverkit import statement_of

    w = signed_world
    (w["rel"] / "helper.py").write_text("print('hi')\n")  # outside the model: a GATE-RI005 finding
    keys = make_keys()
    policy = policy_from(tmp_path / "pol", keys)
    release, report = loaded(w["rel"], policy)
    ids = [i for i in blocking_ids(report) if i.startswith("GATE-RI005")]
    raw = unsigned_waiver(release, ids)
    subjects = json.loads(raw)["subject"]
    assert subjects[1] == {"name": "tiny@1.0.0#model", "digest": {"sha256": _signed_root(w["rel"])[7:]}}
    wdir = put(tmp_path / "waivers", "w.json", signed(raw, keys.alice)).parent
    assert run(w["rel"], policy, wdir).waivers[0].status is WaiverStatus.APPLIED
    assert statement_of(signed(raw, keys.alice))["subject"] == subjects
