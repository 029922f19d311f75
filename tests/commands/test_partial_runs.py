"""--only gives an honest partial report, --skip leaves a trace, optional checks stay optional."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gate.attest import SUMMARY_FIELD, build_statement, sign_attestation
from gate.errors import InputError
from gate.models.report import Report
from gate.policy import load_policy
from gate.risk import Tier
from gate.signing.keys import load_private_key
from tests.support import MINIMAL_MANIFEST, run_cli, write_release
from tests.support.waiverkit import make_keys, write_keys

# Tests here start a server on 127.0.0.1 (and stop it).
pytestmark = pytest.mark.server

# A pickle whose loading runs os.system: the model-files check (required at every tier) blocks it.
EVIL_PICKLE = b"cos\nsystem\n(S'echo pwned'\ntR."


@pytest.fixture
def unsafe(tmp_path: Path) -> Path:
    return write_release(
        tmp_path / "rel", files={"model/weights.bin": b"\x00" * 64, "model/extra.pkl": EVIL_PICKLE}
    )


def _json(*args: str) -> tuple[int, dict[str, Any]]:
    res = run_cli("check", *args, "--format", "json")
    return res.exit_code, json.loads(res.stdout)


def _by_id(rep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in rep["checks"]}


def test_only_is_partial_and_its_exit_code_speaks_for_the_checks_that_ran(unsafe: Path) -> None:
    code, full = _json(str(unsafe))
    assert code == 1 and not full["partial"] and full["left_out"] == []
    code, rep = _json(str(unsafe), "--only", "release-integrity")
    # model-files (required) was left out: no GATE-GA001 for it, and its finding is not judged.
    assert code == 0 and rep["verdict"] in ("pass", "warn")
    assert rep["partial"] is True and "model-files" in rep["left_out"]
    assert not [f for f in rep["findings"] if f["rule"]["code"] == "GATE-GA001"]
    left = _by_id(rep)["model-files"]
    assert left["status"] == "skipped" and left["summary"].startswith("left out by --only")
    assert left["details"] == {"requested": "only"}
    # The text says it is partial and which checks were left out.
    text = run_cli("check", str(unsafe), "--only", "release-integrity").stdout
    assert "PARTIAL run" in text and "model-files" in text.split("PARTIAL run", 1)[1].split("\n\n")[0]
    md = run_cli("check", str(unsafe), "--only", "release-integrity", "--format", "markdown").stdout
    partial = md.split("**Partial run:**", 1)[1].splitlines()[0]
    assert "<code>model-files</code>" in partial


def test_only_naming_every_listed_check_is_a_full_run(unsafe: Path) -> None:
    listed = load_policy("default").for_tier(Tier.LOW)
    code, rep = _json(str(unsafe), "--only", ",".join((*listed.required, *listed.optional)))
    assert code == 1 and rep["partial"] is False


def test_comma_lists_and_repeated_flags_are_the_same(unsafe: Path) -> None:
    _, a = _json(str(unsafe), "--only", "release-integrity,model-files")
    _, b = _json(str(unsafe), "--only", "release-integrity", "--only", " model-files")
    assert [(c["id"], c["status"]) for c in a["checks"]] == [(c["id"], c["status"]) for c in b["checks"]]
    assert a["exit_code"] == b["exit_code"] == 1
    _, s = _json(str(unsafe), "--skip", "monitoring,deployment")
    assert _by_id(s)["monitoring"]["summary"] == _by_id(s)["deployment"]["summary"] == "skipped on request"


@pytest.mark.parametrize(
    ("args", "wrong", "guess"),
    [
        (["--only", "model-file"], "model-file", "model-files"),
        (["--skip", "monitoring,deploymnet"], "deploymnet", "deployment"),
        (["--only", "release-integrity", "--only", "risktier"], "risktier", "risk-tier"),
    ],
)
def test_unknown_check_names_say_did_you_mean(release: Path, args: list[str], wrong: str, guess: str) -> None:
    res = run_cli("check", str(release), *args)
    assert res.exit_code == 2
    assert f"unknown check '{wrong}'" in res.stderr and f"did you mean '{guess}'" in res.stderr
    assert "Traceback" not in res.output


def test_skip_is_recorded_for_optional_and_required_checks(unsafe: Path) -> None:
    code, rep = _json(str(unsafe), "--skip", "monitoring")
    mon = _by_id(rep)["monitoring"]
    assert mon["status"] == "skipped" and mon["summary"] == "skipped on request" and not mon["required"]
    assert code == 1  # model-files still ran and blocks
    text = run_cli("check", str(unsafe), "--skip", "monitoring").stdout
    assert "monitoring" in text and "skipped on request" in text
    # A required check skipped without the policy's allow_skip blocks, with the same reason.
    code, rep = _json(str(unsafe), "--skip", "model-files")
    mf = _by_id(rep)["model-files"]
    assert mf["status"] == "skipped" and mf["summary"] == "skipped on request" and mf["required"]
    (ga,) = [f for f in rep["findings"] if f["rule"]["code"] == "GATE-GA001"]
    assert ga["blocking"] and "skipped on request" in ga["title"] and code == 1
    # its location is what made the check required: the tier's list in the policy
    assert ga["location"]["detail"] == f"policy tiers.{rep['tier']['level']}.required: model-files"
    assert rep["partial"] is False


def test_a_partial_run_cannot_be_attested(unsafe: Path, release: Path, tmp_path: Path) -> None:
    private = write_keys(make_keys(), tmp_path / "k")
    att = tmp_path / "vsa.json"
    res = run_cli(
        "check",
        str(release),
        "--only",
        "model-files",
        "--attest",
        str(att),
        "--attest-key",
        str(private["alice"]),
    )
    assert res.exit_code == 2 and "partial" in res.stderr and not att.exists()
    # The statement builder refuses a partial report whatever calls it.
    _, rep = _json(str(release), "--only", "model-files")
    with pytest.raises(InputError, match="partial run cannot be attested"):
        build_statement(Report.model_validate(rep), None)


def test_verify_attestation_refuses_a_partial_verdict(release: Path, tmp_path: Path) -> None:
    keys = write_keys(make_keys(), tmp_path / "k")
    _, rep = _json(str(release))
    statement = build_statement(Report.model_validate(rep), None)
    key = load_private_key(keys["alice"], None)
    good = tmp_path / "good.json"
    good.write_bytes(sign_attestation(statement, key))
    pub = tmp_path / "k" / "alice.pub"
    ok = run_cli("verify-attestation", str(good), "--release", str(release), "--key", str(pub))
    assert ok.exit_code == 0, ok.output
    # The same verdict, signed by the same key, but saying it was partial: never admitted.
    statement["predicate"][SUMMARY_FIELD]["partial"] = True
    bad = tmp_path / "bad.json"
    bad.write_bytes(sign_attestation(statement, key))
    res = run_cli("verify-attestation", str(bad), "--release", str(release), "--key", str(pub))
    assert res.exit_code == 1 and "partial run" in res.output


def test_fail_closed_composes_as_a_union(tmp_path: Path) -> None:
    parent = tmp_path / "parent.yaml"
    parent.write_text(
        "version: 1\nname: parent\nextends: [default]\ndefaults:\n  fail_closed: [dependencies]\n"
    )
    child = tmp_path / "child.yaml"
    child.write_text(
        f"version: 1\nname: child\nextends: [{parent}]\ndefaults:\n  fail_closed: [monitoring]\n"
    )
    assert set(load_policy(str(child)).for_tier(Tier.LOW).fail_closed) == {"dependencies", "monitoring"}
    # A child that names none cannot drop its parent's.
    child.write_text(f"version: 1\nname: child\nextends: [{parent}]\ndefaults:\n  fail_closed: []\n")
    assert load_policy(str(child)).for_tier(Tier.LOW).fail_closed == ("dependencies",)
    child.write_text(f"version: 1\nname: child\nextends: [{parent}]\ndefaults:\n  fail_closed: [monitorin]\n")
    res = run_cli("policy", "lint", str(child))
    assert res.exit_code == 2 and "unknown check 'monitorin'" in res.stdout


def test_an_optional_check_that_cannot_complete_warns_and_names_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adversarial check without garak: an error and a warning, not a pass and not exit 3."""
    rel = write_release(
        tmp_path / "rel",
        MINIMAL_MANIFEST + "endpoint: {type: callable, callable: 'tests.support.redteam_targets:hardened'}\n",
    )
    pol = tmp_path / "p.yaml"
    pol.write_text(
        # A standalone policy: the garak command is a source of truth that an extending policy
        # may not replace.
        "version: 1\nname: p\ndefaults:\n  required: [release-integrity, risk-tier, model-files]\n"
        "  optional: [adversarial]\n  checks:\n    adversarial:\n"
        "      garak_command: [/nonexistent/bin/python, -m, garak]\n"
    )
    code, rep = _json(str(rel), "--policy", str(pol))
    adv = _by_id(rep)["adversarial"]
    assert adv["status"] == "error" and not adv["required"] and "garak command not found" in adv["summary"]
    assert code == 0 and rep["verdict"] == "warn"
    (warning,) = [f for f in rep["findings"] if f["rule"]["code"] == "GATE-GA002"]
    assert not warning["blocking"] and "--skip adversarial" in warning["mitigation"]
    # fail_closed turns the same error into exit 3, as for a required check.
    pol.write_text(pol.read_text().replace("defaults:\n", "defaults:\n  fail_closed: [adversarial]\n"))
    code, rep = _json(str(rel), "--policy", str(pol))
    assert code == 3 and rep["verdict"] == "error"
    assert not [f for f in rep["findings"] if f["rule"]["code"] == "GATE-GA002"]
