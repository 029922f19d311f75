"""The signed verdict (SLSA VSA) and the deploy step that admits only passing, fresh verdicts."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest

from gate.attest import SUMMARY_FIELD, VERIFIER_ID, VSA_PREDICATE, verify_attestation
from gate.errors import InputError
from gate.release import load_release
from gate.signing.dsse import sign_envelope
from gate.signing.model_format import default_root_digest, model_files
from tests.support import BAD, run_cli, write_release
from tests.support.supply_chain_helpers import sign_key
from tests.support.waiverkit import (
    code_release,
    make_keys,
    put,
    signed,
    statement_of,
    unsigned_waiver,
    write_keys,
    write_policy,
)

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def world(tmp_path: Path):
    keys = make_keys()
    private = write_keys(keys, tmp_path / "k")
    rel = write_release(
        tmp_path / "rel",
        "schema_version: 1\nname: tiny\nversion: 1.0.0\nmodel: {path: model/, format: safetensors}\n"
        "signature: model.sig\nprovenance: prov.json\n"
        "deployment: {exposure: internal, data_sensitivity: none, autonomy: advisory}\n",
        # An empty but valid safetensors file: the model-files check recognises it.
        files={"model/w.bin": b"\x02" + b"\x00" * 7 + b"{}"},
    )
    # Declared evidence is verified at every tier: a real signature and provenance (by a key the
    # default policy does not trust, which tier low does not require).
    sign_key(rel / "model", rel / "model.sig", private["carol"])
    root = default_root_digest(model_files(load_release(rel).inventory, "model").files)
    st = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "model", "digest": {"sha256": root}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {}},
            "runDetails": {"builder": {"id": "https://example.com/builder"}},
        },
    }
    (rel / "prov.json").write_bytes(sign_envelope(json.dumps(st).encode(), keys.carol))
    return tmp_path, keys, private, rel


def _check(rel: Path, out: Path, key: Path, *extra: str) -> int:
    res = run_cli(
        "check", str(rel), "--attest", str(out), "--attest-key", str(key), "--format", "json", *extra
    )
    return res.exit_code


def _verify(att: Path, rel: Path, pub: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run_cli("verify-attestation", str(att), "--release", str(rel), "--key", str(pub), *extra)


def test_passing_verdict_is_attested_and_admitted(world) -> None:
    tmp_path, _keys, private, rel = world
    att = tmp_path / "out" / "vsa.json"
    assert _check(rel, att, private["dave"]) == 0
    st = statement_of(att.read_bytes())
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == VSA_PREDICATE
    pred = st["predicate"]
    assert pred["verifier"]["id"] == VERIFIER_ID and "model-gate" in pred["verifier"]["version"]
    assert pred["verificationResult"] == "PASSED"
    assert pred["verifiedLevels"] == ["MODEL_GATE_TIER_LOW"]
    assert pred["resourceUri"] == "urn:model-gate:release:tiny@1.0.0"
    assert len(pred["policy"]["digest"]["sha256"]) == 64
    uris = {a["uri"]: a["digest"]["sha256"] for a in pred["inputAttestations"]}
    import hashlib

    assert uris["release:model.sig"] == hashlib.sha256((rel / "model.sig").read_bytes()).hexdigest()
    assert uris["release:prov.json"] == hashlib.sha256((rel / "prov.json").read_bytes()).hexdigest()
    # The signer of model.sig and prov.json is not one the default policy trusts: a note at tier low.
    assert pred[SUMMARY_FIELD]["verdict"] == "pass"
    assert {c["id"] for c in pred[SUMMARY_FIELD]["checks"]} >= {"release-integrity", "risk-tier"}
    assert dt.datetime.fromisoformat(pred["timeVerified"].replace("Z", "+00:00")) <= dt.datetime.now(dt.UTC)

    res = _verify(att, rel, tmp_path / "k" / "dave.pub")
    assert res.exit_code == 0, res.output
    assert res.output.startswith("admitted:")


def test_subject_is_the_release_digest(world) -> None:
    tmp_path, _keys, private, rel = world
    att = tmp_path / "vsa.json"
    res = run_cli(
        "check", str(rel), "--attest", str(att), "--attest-key", str(private["alice"]), "--format", "json"
    )
    digest = json.loads(res.stdout)["release"]["digest"]
    (subject,) = statement_of(att.read_bytes())["subject"]
    assert "sha256:" + subject["digest"]["sha256"] == digest


def test_another_release_is_rejected(world) -> None:
    tmp_path, _keys, private, rel = world
    att = tmp_path / "vsa.json"
    assert _check(rel, att, private["alice"]) == 0
    (rel / "model" / "w.bin").write_bytes(b"\x00" * 31 + b"\x01")  # one byte changed after the verdict
    res = _verify(att, rel, tmp_path / "k" / "alice.pub")
    assert res.exit_code == 1 and "for another release" in res.output


def test_failed_verdict_is_attested_as_failed_and_not_admitted(tmp_path: Path) -> None:
    private = write_keys(make_keys(), tmp_path / "k")
    att = tmp_path / "vsa.json"
    assert _check(BAD, att, private["alice"]) == 1
    pred = statement_of(att.read_bytes())["predicate"]
    assert pred["verificationResult"] == "FAILED" and pred["verifiedLevels"] == ["FAILED"]
    assert pred[SUMMARY_FIELD]["findings"]["blocking"]
    res = _verify(att, BAD, tmp_path / "k" / "alice.pub")
    assert res.exit_code == 1 and "verificationResult is FAILED" in res.output


def test_wrong_key_is_rejected(world) -> None:
    tmp_path, _keys, private, rel = world
    att = tmp_path / "vsa.json"
    assert _check(rel, att, private["mallory"]) == 0
    res = _verify(att, rel, tmp_path / "k" / "alice.pub")
    assert res.exit_code == 1 and "not signed by the given key" in res.output


def test_freshness_through_time_travel(world) -> None:
    tmp_path, _keys, private, rel = world
    att = tmp_path / "vsa.json"
    assert _check(rel, att, private["alice"]) == 0
    from gate.attest import load_release_digest
    from gate.signing.keys import public_keys_from

    raw, digest = att.read_bytes(), load_release_digest(rel)
    keys = public_keys_from([tmp_path / "k" / "alice.pub"])

    def at(now: dt.datetime, max_age: dt.timedelta | None = dt.timedelta(days=1)):  # type: ignore[no-untyped-def]
        return verify_attestation(raw, release_digest=digest, keys=keys, now=now, max_age=max_age)

    assert at(NOW + dt.timedelta(hours=23)).ok
    late = at(NOW + dt.timedelta(days=2))
    assert not late.ok and "stale" in late.reasons[0]
    early = at(NOW - dt.timedelta(days=1))
    assert not early.ok and "in the future" in early.reasons[0]
    assert at(NOW + dt.timedelta(days=400), max_age=None).ok
    res = _verify(att, rel, tmp_path / "k" / "alice.pub", "--max-age", "0s")
    assert res.exit_code == 1 and "stale" in res.output


def test_policy_pin_on_verification(world) -> None:
    tmp_path, _keys, private, rel = world
    att = tmp_path / "vsa.json"
    assert _check(rel, att, private["alice"]) == 0
    policy_digest = statement_of(att.read_bytes())["predicate"]["policy"]["digest"]["sha256"]
    pub = tmp_path / "k" / "alice.pub"
    assert _verify(att, rel, pub, "--policy-sha256", f"sha256:{policy_digest}").exit_code == 0
    res = _verify(att, rel, pub, "--policy-sha256", "0" * 64)
    assert res.exit_code == 1 and "judged under policy" in res.output


def test_every_byte_flip_is_rejected_or_changes_nothing_signed(world) -> None:
    tmp_path, _keys, private, rel = world
    att = tmp_path / "vsa.json"
    assert _check(rel, att, private["alice"]) == 0
    from gate.attest import load_release_digest
    from gate.signing.keys import public_keys_from

    good = att.read_bytes()
    digest = load_release_digest(rel)
    keys = public_keys_from([tmp_path / "k" / "alice.pub"])
    payload = statement_of(good)
    admitted = 0
    for i in range(len(good)):
        flipped = bytearray(good)
        flipped[i] ^= 0x01
        try:
            res = verify_attestation(bytes(flipped), release_digest=digest, keys=keys, now=NOW, max_age=None)
        except InputError:
            continue  # malformed: exit 2, never admitted
        if res.ok:
            assert statement_of(bytes(flipped)) == payload, f"flip at {i} admitted a changed verdict"
            admitted += 1
    # The unsigned keyid hint (64 hex digits) and, at most, unused low bits of base64 padding.
    assert admitted <= 64 + 4


def test_forged_statements_signed_by_the_key_are_still_checked(world) -> None:
    """A key holder signing something else than a gate verdict does not get it admitted."""
    _tmp_path, keys, _private, rel = world
    from gate.attest import load_release_digest

    digest = load_release_digest(rel).split(":")[1]
    base = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "x", "digest": {"sha256": digest}}],
        "predicateType": VSA_PREDICATE,
        "predicate": {
            "verifier": {"id": "https://example.com/other-verifier"},
            "timeVerified": NOW.isoformat(),
            "resourceUri": "x",
            "policy": {"uri": "x", "digest": {"sha256": "0" * 64}},
            "verificationResult": "PASSED",
            "verifiedLevels": [],
        },
    }
    raw = sign_envelope(json.dumps(base).encode(), keys.alice)
    res = verify_attestation(
        raw, release_digest=f"sha256:{digest}", keys=[keys.alice.public_key()], now=NOW, max_age=None
    )
    assert not res.ok and "verifier.id" in res.reasons[0]
    provenance = dict(base, predicateType="https://slsa.dev/provenance/v1")
    raw = sign_envelope(json.dumps(provenance).encode(), keys.alice)
    res = verify_attestation(
        raw, release_digest=f"sha256:{digest}", keys=[keys.alice.public_key()], now=NOW, max_age=None
    )
    assert not res.ok and "predicateType" in res.reasons[0]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"[]",
        b'{"payload": "!!", "payloadType": "x", "signatures": [{"sig": "AA=="}]}',
        b"[" * 50000,
    ],
)
def test_malformed_attestation_is_exit_2(world, content: bytes) -> None:
    tmp_path, _keys, _private, rel = world
    att = put(tmp_path, "bad.json", content)
    res = _verify(att, rel, tmp_path / "k" / "alice.pub")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output


def test_bad_inputs_to_verify_attestation_are_exit_2(world) -> None:
    tmp_path, _keys, private, rel = world
    att = tmp_path / "vsa.json"
    assert _check(rel, att, private["alice"]) == 0
    pub = tmp_path / "k" / "alice.pub"
    assert _verify(att, tmp_path / "missing", pub).exit_code == 2
    assert _verify(tmp_path / "nope.json", rel, pub).exit_code == 2
    assert _verify(att, rel, private["alice"]).exit_code == 2  # a private key is not a public key
    assert _verify(att, rel, pub, "--max-age", "forever").exit_code == 2


def test_attestation_inside_the_release_is_refused(world) -> None:
    _tmp_path, _keys, private, rel = world
    res = run_cli("check", str(rel), "--attest", str(rel / "vsa.json"), "--attest-key", str(private["alice"]))
    assert res.exit_code == 2 and "inside the release" in res.stderr
    assert not (rel / "vsa.json").exists()


def test_attest_options_are_checked_before_running(world) -> None:
    tmp_path, _keys, private, rel = world
    assert run_cli("check", str(rel), "--attest-key", str(private["alice"])).exit_code == 2
    res = run_cli("check", str(rel), "--attest", str(tmp_path / "a.json"), "--offline")
    assert res.exit_code == 2 and "keyless, which needs the network" in res.stderr


def test_keyless_attestation_without_an_identity_token_fails_before_running(
    world, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path, _keys, _private, rel = world
    for var in (
        "SIGSTORE_ID_TOKEN",
        "GITHUB_ACTIONS",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ):
        monkeypatch.delenv(var, raising=False)
    log = tmp_path / "log.jsonl"
    res = run_cli("check", str(rel), "--attest", str(tmp_path / "a.json"), "--decision-log", str(log))
    assert res.exit_code == 2 and "no OIDC identity token" in res.stderr
    assert not (tmp_path / "a.json").exists() and not log.exists()
    res = run_cli(
        "check", str(rel), "--attest", str(tmp_path / "a.json"), "--attest-key", str(tmp_path / "none")
    )
    assert res.exit_code == 2 and "cannot read key" in res.stderr


def test_waivers_used_are_listed_as_inputs(tmp_path: Path) -> None:
    keys = make_keys()
    private = write_keys(keys, tmp_path / "k")
    policy = write_policy(tmp_path / "pol", keys)
    rel = code_release(tmp_path / "rel")
    res = run_cli("check", str(rel), "--policy", str(policy), "--format", "json")
    (fid,) = [f["id"] for f in json.loads(res.stdout)["findings"] if f["blocking"]]
    from gate.release import load_release

    raw = signed(
        unsigned_waiver(load_release(rel), [fid], created=NOW - dt.timedelta(hours=1)), keys.alice, now=NOW
    )
    w = put(tmp_path / "waivers", "w.json", raw)
    att = tmp_path / "vsa.json"
    assert _check(rel, att, private["bob"], "--policy", str(policy), "--waivers", str(w.parent)) == 0
    pred = statement_of(att.read_bytes())["predicate"]
    import hashlib

    assert {"uri": "waiver:w.json", "digest": {"sha256": hashlib.sha256(raw).hexdigest()}} in pred[
        "inputAttestations"
    ]
    assert pred[SUMMARY_FIELD]["findings"]["waived"] == [fid]
    assert pred[SUMMARY_FIELD]["verdict"] == "warn"
    assert _verify(att, rel, tmp_path / "k" / "bob.pub").exit_code == 0


def test_payload_is_plain_in_toto(world) -> None:
    tmp_path, _keys, private, rel = world
    att = tmp_path / "vsa.json"
    assert _check(rel, att, private["alice"]) == 0
    env = json.loads(att.read_bytes())
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert len(env["signatures"]) == 1 and len(env["signatures"][0]["keyid"]) == 64
    json.loads(base64.b64decode(env["payload"]))
