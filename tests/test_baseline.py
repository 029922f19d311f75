"""`check --baseline`: findings labelled new / unchanged / fixed, and `block_on: new`.

A baseline can make findings stop blocking, so each attack on it (an unsigned report from the
pull request, a verdict for another release line, a signed verdict changed after signing, a
stranger's signature, a stale verdict) is tested next to its benign twin, the signed verdict of
the base branch.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate import engine
from gate.attest import SUMMARY_FIELD, build_statement, sign_attestation
from gate.baseline import load
from gate.errors import InputError, PolicyError
from gate.models.policy import BaselinePolicy
from gate.models.report import Report
from gate.policy import Policy, load_policy
from gate.release import Release
from tests.support.waiverkit import CODE_RELEASE, T0, Keys, code_release, make_keys, pem_public

RI005 = "GATE-RI005"


def _policy(
    directory: Path,
    keys: Keys,
    *,
    block_on: str = "new",
    signers: tuple[str, ...] = ("alice",),
    extra: str = "",
    extends: str = "default",
) -> Policy:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["version: 1", "name: team", f"extends: [{extends}]", "defaults:", f"  block_on: {block_on}"]
    if signers:
        lines += ["  baseline:", "    signers:"]
        for name in signers:
            (directory / f"{name}.pub").write_text(pem_public(getattr(keys, name)))
            lines += [f"      - id: {name}@example.com", f"        keys: [{name}.pub]"]
    path = directory / "policy.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return load_policy(str(path))


def _run(rel: Path, policy: Policy, baseline: Path | None, now: dt.datetime = T0) -> Report:
    return engine.run(engine.RunRequest(release_dir=rel, policy=policy, baseline=baseline, clock=lambda: now))


def _judged(rel: Path, policy: Policy) -> tuple[Release, Report]:
    judged = engine.check_release(engine.RunRequest(release_dir=rel, policy=policy, clock=lambda: T0))
    return judged.release, judged.report


def _attest(rel: Path, policy: Policy, key: Any, out: Path) -> Path:
    """What the base branch's CI does: judge the release and sign the verdict."""
    release, report = _judged(rel, policy)
    out.write_bytes(sign_attestation(build_statement(report, release), key))
    return out


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    keys = make_keys()
    policy = _policy(tmp_path / "policy", keys)
    base = code_release(tmp_path / "base")
    signed = _attest(base, policy, keys.alice, tmp_path / "base.intoto.json")
    # The pull request keeps helper.py (known) and adds tool.py (new).
    pr = code_release(tmp_path / "pr", files={**CODE_RELEASE, "model/tool.py": b"import os\n"})
    return {"tmp": tmp_path, "keys": keys, "policy": policy, "base": base, "signed": signed, "pr": pr}


def _ri005(report: Report) -> dict[str, Any]:
    return {f.location.path: f for f in report.findings if f.rule.code == RI005}


def test_signed_baseline_blocks_only_what_the_change_introduced(world: dict[str, Any]) -> None:
    report = _run(world["pr"], world["policy"], world["signed"])
    found = _ri005(report)
    assert found["model/helper.py"].baseline == "unchanged"
    assert not found["model/helper.py"].effective_blocking  # tracked, not blocking
    assert found["model/tool.py"].baseline == "new" and found["model/tool.py"].effective_blocking
    assert report.verdict.value == "fail"
    info = report.baseline
    assert info is not None and info.trusted and info.honoured and info.signer == "alice@example.com"
    assert info.tracked == (found["model/helper.py"].id,)
    assert info.new >= 1 and info.unchanged >= 1


def test_a_change_that_adds_nothing_passes_with_the_old_findings_tracked(world: dict[str, Any]) -> None:
    same = code_release(world["tmp"] / "same")
    report = _run(same, world["policy"], world["signed"])
    assert report.exit_code == 0 and report.verdict.value == "warn"
    assert all(f.baseline == "unchanged" for f in report.findings)
    # Without the baseline the very same release is blocked: the baseline is what decided.
    assert _run(same, world["policy"], None).exit_code == 1


def test_fixed_findings_are_listed(world: dict[str, Any]) -> None:
    fixed = code_release(world["tmp"] / "fixed", files={"model/weights.bin": b"\x00" * 64})
    report = _run(fixed, world["policy"], world["signed"])
    assert report.baseline is not None
    gone = {f.id: f for f in report.baseline.fixed}
    helper = next(i for i in gone if i.startswith(RI005))
    assert gone[helper].rule == RI005 and gone[helper].severity is not None
    assert gone[helper].title and "helper.py" in gone[helper].title


def test_unsigned_report_from_the_pull_request_cannot_hide_findings(world: dict[str, Any]) -> None:
    # Attack: the pull request writes its own report listing the id of the finding it introduces.
    tmp = world["tmp"]
    pr_report = _run(world["pr"], load_policy("default"), None)
    forged = tmp / "forged.json"
    forged.write_text(pr_report.model_dump_json(by_alias=True))
    report = _run(world["pr"], world["policy"], forged)
    assert report.exit_code == 1
    assert all(f.effective_blocking for f in _ri005(report).values())
    assert report.baseline is not None and not report.baseline.trusted and not report.baseline.honoured
    assert any("unsigned" in r for r in report.baseline.reasons)
    note = [f for f in report.findings if f.rule.code == "GATE-GA003"]
    assert note and not note[0].blocking and "not honoured" in note[0].title
    # The labels are still shown, for information.
    assert all(f.baseline == "unchanged" for f in _ri005(report).values())
    # Benign twin: the signed verdict of the base branch.
    assert _run(world["pr"], world["policy"], world["signed"]).baseline.honoured  # type: ignore[union-attr]


def test_unsigned_baseline_under_block_on_all_is_labels_only(world: dict[str, Any]) -> None:
    policy = _policy(world["tmp"] / "all", world["keys"], block_on="all")
    report = _run(world["pr"], policy, world["signed"])
    assert report.baseline is not None and report.baseline.trusted and not report.baseline.honoured
    assert all(f.effective_blocking for f in _ri005(report).values())
    assert not [f for f in report.findings if f.rule.code == "GATE-GA003"]


def test_verdict_for_another_release_line_is_not_trusted(world: dict[str, Any]) -> None:
    tmp, keys, policy = world["tmp"], world["keys"], world["policy"]
    other = code_release(
        tmp / "other", (tmp / "base" / "release.yaml").read_text().replace("name: tiny", "name: other")
    )
    att = _attest(other, _policy(tmp / "p-other", keys), keys.alice, tmp / "other.intoto.json")
    report = _run(world["pr"], policy, att)
    assert report.exit_code == 1
    assert report.baseline is not None and not report.baseline.trusted
    assert any("another release line" in r for r in report.baseline.reasons)
    # Benign twin: the same release name.
    assert _run(world["pr"], policy, world["signed"]).baseline.trusted  # type: ignore[union-attr]


def _tamper(envelope: bytes, extra_id: str) -> bytes:
    env = json.loads(envelope)
    st = json.loads(base64.b64decode(env["payload"]))
    st["predicate"][SUMMARY_FIELD]["findings"]["items"].append({"id": extra_id, "severity": "critical"})
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    return json.dumps(env).encode()


def test_signed_verdict_changed_after_signing_is_not_trusted(world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    new_id = _ri005(_run(world["pr"], world["policy"], None))["model/tool.py"].id
    tampered = tmp / "tampered.json"
    tampered.write_bytes(_tamper(world["signed"].read_bytes(), new_id))
    report = _run(world["pr"], world["policy"], tampered)
    assert report.exit_code == 1 and _ri005(report)["model/tool.py"].effective_blocking
    assert report.baseline is not None and not report.baseline.trusted
    assert any("bad signature" in r for r in report.baseline.reasons)


def test_signature_by_a_stranger_or_a_stale_verdict_is_not_trusted(world: dict[str, Any]) -> None:
    tmp, keys, policy = world["tmp"], world["keys"], world["policy"]
    by_mallory = _attest(world["base"], policy, keys.mallory, tmp / "mallory.json")
    report = _run(world["pr"], policy, by_mallory)
    assert report.baseline is not None and not report.baseline.trusted
    assert any("untrusted signer" in r for r in report.baseline.reasons)
    later = T0 + dt.timedelta(days=31)
    stale = _run(code_release(tmp / "same"), policy, world["signed"], now=later)
    assert stale.exit_code == 1 and stale.baseline is not None
    assert any("stale" in r for r in stale.baseline.reasons)
    fresh = _run(code_release(tmp / "same2"), policy, world["signed"], now=T0 + dt.timedelta(days=29))
    assert fresh.exit_code == 0


def test_unwaivable_findings_block_whatever_the_baseline(world: dict[str, Any]) -> None:
    # The policy makes RI005 unwaivable: an unchanged RI005 finding still blocks.
    tmp, keys = world["tmp"], world["keys"]
    strict = _policy(
        tmp / "strict", keys, extra="  waivers:\n    unwaivable_rules: [GATE-RI005]\n".replace("  w", "  w")
    )
    same = code_release(tmp / "same")
    signed = _attest(world["base"], strict, keys.alice, tmp / "strict.json")
    report = _run(same, strict, signed)
    assert report.exit_code == 1
    helper = _ri005(report)["model/helper.py"]
    assert helper.baseline == "unchanged" and helper.effective_blocking
    assert report.baseline is not None and report.baseline.honoured and not report.baseline.tracked


def test_a_finding_that_got_worse_is_new(world: dict[str, Any]) -> None:
    env = json.loads(world["signed"].read_bytes())
    st = json.loads(base64.b64decode(env["payload"]))
    items = st["predicate"][SUMMARY_FIELD]["findings"]["items"]
    assert any(i["id"].startswith(RI005) for i in items)
    for i in items:
        i["severity"] = "info"
    keys, tmp = world["keys"], world["tmp"]
    from gate.signing.dsse import sign_envelope

    lowered = tmp / "lowered.json"
    lowered.write_bytes(sign_envelope(json.dumps(st).encode(), keys.alice))
    report = _run(code_release(tmp / "same"), world["policy"], lowered)
    assert report.baseline is not None and report.baseline.trusted
    assert _ri005(report)["model/helper.py"].baseline == "new"
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not json", "baseline is not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"hello": 1}', "neither a model-gate JSON report nor a signed verdict"),
        (b'{"release": {"name": "tiny"}, "findings": [{"title": "x"}]}', "findings.0.id"),
        (b'{"release": {"name": 3}, "findings": []}', "release.name"),
        (b'{"payloadType": "x", "payload": "!!", "signatures": [{"sig": "AA=="}]}', "not valid base64"),
        (b'{"payloadType": "x", "payload": "", "signatures": []}', "signatures"),
        (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}', "dsseEnvelope"),
    ],
)
def test_malformed_baselines_are_bad_input_naming_file_and_field(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        load(path, policy=BaselinePolicy(), release_name="tiny", now=T0)
    assert str(path) in exc.value.message and expected in exc.value.message


def test_a_verdict_without_the_finding_list_is_bad_input(world: dict[str, Any]) -> None:
    env = json.loads(world["signed"].read_bytes())
    st = json.loads(base64.b64decode(env["payload"]))
    del st["predicate"][SUMMARY_FIELD]["findings"]["items"]
    from gate.signing.dsse import sign_envelope

    old = world["tmp"] / "old.json"
    old.write_bytes(sign_envelope(json.dumps(st).encode(), world["keys"].alice))
    with pytest.raises(InputError) as exc:
        _run(world["pr"], world["policy"], old)
    assert "findings.items" in exc.value.message and str(old) in exc.value.message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["release", "findings", "name", "id", "severity", "payload", "signatures"]),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_hostile_baselines_never_crash(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps(data))
    try:
        got = load(path, policy=BaselinePolicy(), release_name="tiny", now=T0)
    except InputError as exc:
        assert str(path) in exc.message
    else:
        assert not got.trusted


def test_a_child_policy_cannot_switch_to_new_unless_the_parent_delegates(tmp_path: Path) -> None:
    keys = make_keys()
    org = tmp_path / "org.yaml"
    org.write_text("version: 1\nname: org\ndefaults:\n  block_on: all\n")
    team = _policy(tmp_path / "team", keys, extends=str(org), signers=())
    assert {tp.block_on for tp in team.tiers.values()} == {"all"}
    org.write_text("version: 1\nname: org\ndelegate: [block_on]\ndefaults:\n  block_on: all\n")
    team = _policy(tmp_path / "team", keys, extends=str(org), signers=())
    assert {tp.block_on for tp in team.tiers.values()} == {"new"}
    # The packaged default delegates it: a policy extending it decides.
    assert _policy(tmp_path / "t2", keys).for_tier(next(iter(team.tiers))).block_on == "new"


def test_a_child_policy_cannot_add_a_baseline_signer(tmp_path: Path) -> None:
    keys = make_keys()
    org_dir = tmp_path / "org"
    org = _policy(org_dir, keys, signers=("alice",), extends="strict")
    assert org.tiers
    team = tmp_path / "team.yaml"
    (tmp_path / "mallory.pub").write_text(pem_public(keys.mallory))
    team.write_text(
        f"version: 1\nname: team\nextends: [{org_dir / 'policy.yaml'}]\ndefaults:\n  baseline:\n"
        "    signers:\n      - id: mallory@example.com\n        keys: [mallory.pub]\n"
    )
    with pytest.raises(PolicyError) as exc:
        load_policy(str(team))
    assert "baseline.signers" in exc.value.message and "does not trust" in exc.value.message
    # Benign twin: the same signer as the parent.
    team.write_text(
        f"version: 1\nname: team\nextends: [{org_dir / 'policy.yaml'}]\ndefaults:\n  baseline:\n"
        f"    signers:\n      - id: alice@example.com\n        keys: [{org_dir / 'alice.pub'}]\n"
        "    max_age_days: 7\n"
    )
    tp = next(iter(load_policy(str(team)).tiers.values()))
    assert tp.baseline.max_age_days == 7 and [s.id for s in tp.baseline.signers] == ["alice@example.com"]


def test_every_report_format_shows_the_labels_and_the_fixed_list(world: dict[str, Any]) -> None:
    from gate.reporters import get_reporter

    tmp = world["tmp"]
    # helper.py stays, tool.py is new, and the base's other.py is gone (fixed).
    base = code_release(tmp / "base3", files={**CODE_RELEASE, "model/other.py": b"x = 1\n"})
    signed = _attest(base, world["policy"], world["keys"].alice, tmp / "base3.json")
    report = _run(world["pr"], world["policy"], signed)
    assert report.baseline is not None and report.baseline.honoured
    fixed = [f for f in report.baseline.fixed if "other.py" in (f.title or "")]
    assert fixed

    sarif = json.loads(get_reporter("sarif").render(report))["runs"][0]
    states = {r["properties"]["findingId"]: r.get("baselineState") for r in sarif["results"]}
    by_path = _ri005(report)
    assert states[by_path["model/helper.py"].id] == "unchanged"
    assert states[by_path["model/tool.py"].id] == "new"
    assert fixed[0].id in sarif["properties"]["baseline"]["fixed"]
    assert sarif["properties"]["baseline"]["tracked"] == list(report.baseline.tracked)

    text = get_reporter("text").render(report)
    assert "unchanged since the baseline" in text and "(new)" in text
    assert f"fixed {fixed[0].id}" in text and "block_on: new" in text

    md = get_reporter("markdown").render(report)
    assert "### Baseline" in md and f"<code>{fixed[0].id}</code>" in md and "· unchanged" in md

    html = get_reporter("html").render(report)
    assert 'id="baseline"' in html and fixed[0].id in html and ">tracked · unchanged<" in html

    xml = get_reporter("junit").render(report)
    assert "blocking, new]" in xml

    data = json.loads(get_reporter("json").render(report))
    assert data["baseline"]["honoured"] is True
    assert {f["baseline"] for f in data["findings"] if f["rule"]["code"] == RI005} == {"new", "unchanged"}


def test_cli_end_to_end_base_branch_attests_pull_request_compares(world: dict[str, Any]) -> None:
    from tests.support import run_cli
    from tests.support.waiverkit import pem_private

    tmp = world["tmp"]
    key = tmp / "alice.key"
    key.write_bytes(pem_private(world["keys"].alice))
    policy = str(tmp / "policy" / "policy.yaml")
    att = tmp / "out" / "base.intoto.json"
    res = run_cli(
        "check", str(world["base"]), "--policy", policy, "--attest", str(att), "--attest-key", str(key)
    )
    assert res.exit_code == 1 and att.is_file()  # the base branch has a blocking finding
    same = code_release(tmp / "same")
    res = run_cli("check", str(same), "--policy", policy, "--baseline", str(att), "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["baseline"]["honoured"] is True
    res = run_cli("check", str(world["pr"]), "--policy", policy, "--baseline", str(att))
    assert res.exit_code == 1 and "Baseline" in res.stdout and "(new)" in res.stdout


@pytest.mark.parametrize(
    ("content", "field"),
    [(b"{", "not JSON"), (b'{"release": {"name": "tiny"}, "findings": [{"id": 5}]}', "findings.0.id")],
)
def test_cli_malformed_baseline_exits_2_naming_file_and_field(
    world: dict[str, Any], content: bytes, field: str
) -> None:
    from tests.support import run_cli

    bad = world["tmp"] / "bad-baseline.json"
    bad.write_bytes(content)
    res = run_cli("check", str(world["pr"]), "--baseline", str(bad))
    assert res.exit_code == 2
    assert str(bad) in res.output and field in res.output and "Traceback" not in res.output
