"""The reviewer workflow through the command line: waiver new → sign → verify → check --waivers."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, run_cli
from tests.support.waiverkit import CODE_RELEASE, code_release, make_keys, write_keys, write_policy


@pytest.fixture
def world(tmp_path: Path):
    keys = make_keys()
    policy = write_policy(tmp_path / "pol", keys)
    private = write_keys(keys, tmp_path / "private")
    rel = code_release(tmp_path / "rel")
    out = run_cli("check", str(rel), "--policy", str(policy), "--format", "json")
    assert out.exit_code == 1
    (fid,) = [f["id"] for f in json.loads(out.stdout)["findings"] if f["blocking"]]
    (tmp_path / "report.json").write_text(out.stdout)
    return tmp_path, policy, private, rel, fid


def _new(tmp_path: Path, rel: Path, fid: str, *extra: str) -> Path:
    out = tmp_path / "waivers" / "w.json"
    res = run_cli(
        "waiver", "new", "--finding", fid, "--release", str(rel), "--reason", "reviewed tooling",
        "--report", str(tmp_path / "report.json"), "--policy", str(tmp_path / "pol" / "policy.yaml"),
        "--justification", "vulnerable_code_not_in_execute_path", "--expires", "10d",
        "--requester", "erin@example.com", "--controls", "the server never imports helper.py",
        "--ticket", "https://tracker.example/SEC-1", "-o", str(out), *extra,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return out


def test_reviewer_workflow_end_to_end(world) -> None:
    tmp_path, policy, private, rel, fid = world
    w = _new(tmp_path, rel, fid)
    statement = json.loads(w.read_bytes())
    assert statement["predicateType"] == "https://model-gate.dev/waiver/v1"
    assert statement["predicate"]["controls"] == ["the server never imports helper.py"]
    # Unsigned: check rejects it and still blocks.
    res = run_cli("check", str(rel), "--policy", str(policy), "--waivers", str(w.parent), "--format", "json")
    assert res.exit_code == 1
    assert "unsigned" in json.loads(res.stdout)["waivers"][0]["reason"]

    res = run_cli("waiver", "sign", str(w), "--key", str(private["alice"]))
    assert res.exit_code == 0, res.output
    assert fid in res.output and "erin@example.com" in res.output  # the signer sees what they sign
    res = run_cli("waiver", "sign", str(w), "--key", str(private["alice"]))
    assert res.exit_code == 2 and "already signed with this key" in res.stderr

    res = run_cli("waiver", "verify", str(w), "--policy", str(policy), "--release", str(rel))
    assert res.exit_code == 0, res.output
    assert res.output.startswith("applied:")
    res = run_cli("waiver", "verify", str(w), "--policy", str(policy))
    assert res.exit_code == 0 and "tier low: valid" in res.output and "give --release" in res.output

    res = run_cli("check", str(rel), "--policy", str(policy), "--waivers", str(w.parent), "--format", "json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["verdict"] == "warn"
    (f,) = [f for f in report["findings"] if f["id"] == fid]
    assert f["waiver"]["approvers"] == ["alice@example.com"]

    # The next build of the release: the same waiver no longer applies.
    (rel / "model" / "weights.bin").write_bytes(b"\x02" * 64)
    res = run_cli("waiver", "verify", str(w), "--policy", str(policy), "--release", str(rel))
    assert res.exit_code == 1 and "for another release" in res.output


def test_n_of_m_by_signing_in_turn(world) -> None:
    tmp_path, policy, private, rel, fid = world
    text = policy.read_text() + "    approvals: 2\n"
    policy.write_text(text)
    w = _new(tmp_path, rel, fid)
    for who in ("alice", "bob"):
        assert run_cli("waiver", "sign", str(w), "--key", str(private[who])).exit_code == 0
    assert len(json.loads(w.read_bytes())["signatures"]) == 2
    res = run_cli("check", str(rel), "--policy", str(policy), "--waivers", str(w.parent))
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--finding", "nope"], "not a finding id"),
        (["--finding", "GATE-RT001-0123456789abcdef"], "cannot be waived"),
        (["--finding", "GATE-XX999-0123456789abcdef"], "unknown rule"),
        (
            ["--finding", "GATE-RI005-0123456789abcdef", "--finding", "GATE-RI006-0123456789abcdef"],
            "several rules",
        ),
        (["--finding", "GATE-RI005-0123456789abcdef", "--expires", "2001-01-01"], "in the past"),
        (["--finding", "GATE-RI005-0123456789abcdef", "--expires", "soon"], "not a date"),
        (["--finding", "GATE-RI005-0123456789abcdef", "--expires", "2030-01-01T00:00:00"], "no time zone"),
    ],
)
def test_waiver_new_refuses_bad_requests(tmp_path: Path, args: list[str], message: str) -> None:
    rel = code_release(tmp_path / "rel")
    report = _report(rel, tmp_path / "report.json")
    base = ["waiver", "new", "--release", str(rel), "--reason", "r", "--justification", "false_positive"]
    base += ["--report", str(report)]
    if "--expires" not in args:
        base += ["--expires", "5d"]
    res = run_cli(*base, "--requester", "e@x", "-o", str(tmp_path / "w.json"), *args)
    assert res.exit_code == 2, res.output
    assert message in res.stderr and "Traceback" not in res.output


def _report(rel: Path, path: Path, *policy: str) -> Path:
    out = run_cli("check", str(rel), *policy, "--format", "json")
    path.write_text(out.stdout)
    return path


def _ri005(report: Path) -> str:
    return next(
        f["id"] for f in json.loads(report.read_text())["findings"] if f["id"].startswith("GATE-RI005")
    )


def test_waiver_new_refuses_a_finding_not_in_the_report(tmp_path: Path) -> None:
    rel = code_release(tmp_path / "rel")
    report = _report(rel, tmp_path / "report.json")
    base = ["waiver", "new", "--release", str(rel), "--reason", "r", "--justification", "false_positive"]
    base += ["--expires", "5d", "--requester", "e@x", "--report", str(report), "-o", str(tmp_path / "w.json")]
    res = run_cli(*base, "--finding", "GATE-RI005-0123456789abcdef")
    assert res.exit_code == 2 and "not a finding of" in res.stderr and _ri005(report) in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 2  # one line, and at most a hint
    assert not (tmp_path / "w.json").exists()
    res = run_cli(*base, "--finding", _ri005(report))  # control: the id from the report
    assert res.exit_code == 0, res.output
    # A report of another release is refused too.
    other = code_release(
        tmp_path / "other", files={"model/weights.bin": b"\x01" * 64, "model/helper.py": b"x=1\n"}
    )
    other_report = str(_report(other, tmp_path / "other.json"))
    res = run_cli(*base[:-6], "--expires", "5d", "--requester", "e@x", "-o", str(tmp_path / "w2.json"),
                  "--report", other_report, "--finding", _ri005(report))  # fmt: skip
    assert res.exit_code == 2 and "is for release" in res.stderr


def test_waiver_new_refuses_a_rule_the_policy_makes_unwaivable(tmp_path: Path) -> None:
    rel = code_release(tmp_path / "rel")
    pol = tmp_path / "strict-team.yaml"
    pol.write_text("version: 1\nname: t\nextends: [default]\n")
    pol.write_text(pol.read_text() + "defaults:\n  waivers:\n    unwaivable_rules: [GATE-RI005]\n")
    report = _report(rel, tmp_path / "report.json", "--policy", str(pol))
    base = ["waiver", "new", "--release", str(rel), "--reason", "r", "--justification", "false_positive",
            "--expires", "5d", "--requester", "e@x", "--report", str(report), "--finding", _ri005(report),
            "-o", str(tmp_path / "w.json")]  # fmt: skip
    res = run_cli(*base, "--policy", str(pol))
    assert res.exit_code == 2 and "unwaivable" in res.stderr and "GATE-RI005" in res.stderr
    assert run_cli(*base).exit_code == 2  # by default, the policy the report names
    assert run_cli(*base, "--policy", "default").exit_code == 0  # control: default lets it be waived


def test_waiver_new_refuses_to_write_into_the_release(tmp_path: Path) -> None:
    rel = code_release(tmp_path / "rel")
    report = _report(rel, tmp_path / "report.json")
    res = run_cli(
        "waiver", "new", "--release", str(rel), "--reason", "r", "--justification", "false_positive",
        "--expires", "5d", "--requester", "e@x", "--finding", _ri005(report), "--report", str(report),
        "-o", str(rel / "w.json"),
    )  # fmt: skip
    assert res.exit_code == 2 and "inside the release" in res.stderr
    assert not (rel / "w.json").exists()


def test_sign_needs_exactly_one_method_and_refuses_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "w.json"
    bad.write_text("{}")
    assert run_cli("waiver", "sign", str(bad)).exit_code == 2
    keys = write_keys(make_keys(), tmp_path / "k")
    res = run_cli("waiver", "sign", str(bad), "--key", str(keys["alice"]))
    assert res.exit_code == 2 and "not a waiver" in res.stderr
    bad.write_text("[" * 100000)
    res = run_cli("waiver", "sign", str(bad), "--key", str(keys["alice"]))
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_check_with_missing_waivers_dir_is_exit_2(tmp_path: Path) -> None:
    rel = code_release(tmp_path / "rel", files=CODE_RELEASE)
    res = run_cli("check", str(rel), "--waivers", str(tmp_path / "none"))
    assert res.exit_code == 2 and "no such waivers directory" in res.stderr


def test_help_stays_fast_and_lazy() -> None:
    # Waiver and attestation support must not pull cryptography or sigstore into --help.
    code = (
        "import sys, gate.commands; "
        "from click.testing import CliRunner; CliRunner().invoke(gate.commands.main, ['--help']); "
        "print(','.join(m for m in ('cryptography', 'sigstore', 'gate.waivers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def test_waiver_new_records_the_requester_key_and_refuses_invisible_characters(world) -> None:
    tmp_path, _policy, _private, rel, fid = world
    pub = tmp_path / "pol" / "keys" / "carol.pub"
    w = _new(tmp_path, rel, fid, "--requester-key", str(pub))
    from gate.signing.keys import key_id, public_keys_from

    assert json.loads(w.read_bytes())["predicate"]["requester_key"] == key_id(public_keys_from([pub])[0])
    out = tmp_path / "w2.json"
    res = run_cli(
        "waiver", "new", "--finding", fid, "--release", str(rel), "--reason", "r",
        "--report", str(tmp_path / "report.json"), "--justification", "false_positive", "--expires", "5d",
        "--requester", "alice@example.com\u200b", "-o", str(out),
    )  # fmt: skip
    assert res.exit_code == 2 and "U+200B" in res.stderr and not out.exists()


def test_hostile_reports_are_bad_input_never_a_traceback(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from gate.errors import InputError
    from gate.release import load_release
    from gate.waivers import check_against_report
    from tests.support.waiverkit import unsigned_waiver

    rel_dir = code_release(tmp_path / "rel")
    release = load_release(rel_dir)
    statement = unsigned_waiver(release, ["GATE-RI005-0123456789abcdef"])
    leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    doc = st.recursive(
        leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4)
    )
    fid = st.just("GATE-RI005-0123456789abcdef")
    shaped = st.fixed_dictionaries(
        {
            "release": st.fixed_dictionaries({"digest": st.just(release.digest) | st.text(max_size=5)}),
            "tier": st.fixed_dictionaries({"level": st.sampled_from(["low", "high", "nope"])}),
            "findings": st.lists(st.fixed_dictionaries({"id": fid, "rule": doc})),
            "policy": st.fixed_dictionaries(
                {"source": st.sampled_from(["default", "package:gate/policies/x.yaml"])}
            ),
        }
    )
    path = tmp_path / "r.json"

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(doc | shaped)
    def run(data: object) -> None:
        path.write_text(json.dumps(data))
        with contextlib.suppress(InputError):  # anything else (a traceback) fails the test
            check_against_report(statement, path, release)

    run()
