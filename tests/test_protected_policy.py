"""A pull request that weakens the policy in its own tree is still judged by the protected policy.

Each test builds a real git repository: a base branch with the team's policy
and reviewer keys, and a pull-request branch (checked out, as in CI) that
loosens them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gate.errors import InputError
from gate.protected_policy import _ref_tree, materialise, protected_policy
from tests.support import run_cli
from tests.support.waiverkit import (
    Keys,
    code_release,
    make_keys,
    pem_public,
    put,
    signed,
    unsigned_waiver,
    write_keys,
)

TEAM_POLICY = """\
version: 1
name: team
extends: [base/base.yaml]
defaults:
  waivers:
    reviewers:
      - id: alice@example.com
        keys: [../keys/alice.pub]
"""
# What a pull request that wants its release through writes: no `extends:` to compose against.
LOOSE_POLICY = """\
version: 1
name: team
defaults:
  required: [release-integrity, risk-tier]
  block_at: critical
"""
BASE_POLICY = """\
version: 1
name: base
extends: [default]
defaults:
  block_at: high
"""


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


@pytest.fixture
def repo(tmp_path: Path, keys: Keys) -> Path:
    """main: the protected policy; pr (checked out): the same, until a test weakens it."""
    r = tmp_path / "repo"
    (r / "policies" / "base").mkdir(parents=True)
    (r / "keys").mkdir()
    (r / "policies" / "gate.yaml").write_text(TEAM_POLICY)
    (r / "policies" / "base" / "base.yaml").write_text(BASE_POLICY)
    (r / "keys" / "alice.pub").write_text(pem_public(keys.alice))
    git(r, "init", "-q", "-b", "main")
    git(r, "add", "-A")
    git(r, "commit", "-qm", "protected policy")
    git(r, "checkout", "-qb", "pr")
    return r


def _commit(repo: Path, msg: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", msg)


def _check(repo: Path, rel: Path, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    res = run_cli(
        "check", str(rel), "--policy", str(repo / "policies" / "gate.yaml"), "--format", "json", *extra
    )
    assert "Traceback" not in res.output
    return res.exit_code, (json.loads(res.stdout) if res.stdout.strip() else {"stderr": res.stderr})


def test_weakened_policy_in_the_pr_is_ignored(tmp_path: Path, repo: Path) -> None:
    rel = code_release(tmp_path / "rel")  # executable code: a high finding
    # The pull request raises the blocking threshold so that high findings pass.
    (repo / "policies" / "base" / "base.yaml").write_text(
        BASE_POLICY.replace("block_at: high", "block_at: critical")
    )
    (repo / "policies" / "gate.yaml").write_text(LOOSE_POLICY)
    _commit(repo, "pr: loosen the policy")
    code, report = _check(repo, rel)
    assert code == 0, "control: the pull request's own policy would pass the release"
    code, report = _check(repo, rel, "--policy-ref", "main")
    assert code == 1 and report["verdict"] == "fail"
    notes = " ".join(report["policy"]["notes"])
    assert "protected ref main" in notes
    assert "policies/gate.yaml" in notes and "policies/base/base.yaml" in notes and "ignored" in notes
    assert report["policy"]["source"] == "main:policies/gate.yaml"
    assert report["policy"]["sources"][-2] == "main:policies/base/base.yaml"


def test_uncommitted_changes_are_ignored_too(tmp_path: Path, repo: Path) -> None:
    rel = code_release(tmp_path / "rel")
    (repo / "policies" / "gate.yaml").write_text(LOOSE_POLICY)
    assert _check(repo, rel)[0] == 0
    code, report = _check(repo, rel, "--policy-ref", "main")
    assert code == 1 and "policies/gate.yaml" in " ".join(report["policy"]["notes"])


def test_unchanged_policy_is_noted_without_warning(tmp_path: Path, repo: Path) -> None:
    rel = code_release(tmp_path / "rel")
    code, report = _check(repo, rel, "--policy-ref", "main")
    assert code == 1
    (note,) = report["policy"]["notes"]
    assert note.startswith("policy and trust files read from the protected ref main (commit ")


def test_swapped_reviewer_key_in_the_pr_does_not_approve(tmp_path: Path, repo: Path, keys: Keys) -> None:
    rel = code_release(tmp_path / "rel")
    from gate.release import load_release

    code, report = _check(repo, rel)
    (fid,) = [f["id"] for f in report["findings"] if f["blocking"]]
    # The pull request replaces alice's key with mallory's, and mallory signs a waiver.
    (repo / "keys" / "alice.pub").write_text(pem_public(keys.mallory))
    _commit(repo, "pr: rotate a key")
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    forged = signed(unsigned_waiver(load_release(rel), [fid], created=now), keys.mallory, now=now)
    wdir = put(tmp_path / "waivers", "w.json", forged).parent
    code, report = _check(repo, rel, "--waivers", str(wdir))
    assert code == 0, "control: with the pull request's keys the forged waiver applies"
    code, report = _check(repo, rel, "--waivers", str(wdir), "--policy-ref", "main")
    assert code == 1
    assert "untrusted signer" in report["waivers"][0]["reason"]
    assert "keys/alice.pub" in " ".join(report["policy"]["notes"])


def test_deleted_policy_in_the_pr_still_judges_with_the_protected_one(tmp_path: Path, repo: Path) -> None:
    rel = code_release(tmp_path / "rel")
    git(repo, "rm", "-rq", "policies")
    _commit(repo, "pr: remove the policy")
    code, report = _check(repo, rel, "--policy-ref", "main")
    assert code == 1
    assert "policies/gate.yaml (missing)" in " ".join(report["policy"]["notes"])


def test_policy_digest_pin(tmp_path: Path, repo: Path) -> None:
    rel = code_release(tmp_path / "rel")
    res = run_cli("policy", "show", str(repo / "policies" / "gate.yaml"))
    digest = json.loads(res.stdout)["sha256"]
    code, report = _check(repo, rel, "--policy-ref", "main", "--policy-sha256", f"sha256:{digest}")
    assert code == 1 and report["policy"]["sha256"] == digest
    code, _ = _check(repo, rel, "--policy-sha256", digest)
    assert code == 1
    # A changed reviewer key changes the digest, even though no policy text changed.
    (repo / "keys" / "alice.pub").write_text(pem_public(make_keys().alice))
    code, out = _check(repo, rel, "--policy-sha256", digest)
    assert code == 2 and "policy digest mismatch" in out["stderr"] and digest in out["stderr"]
    code, out = _check(repo, rel, "--policy-sha256", "abc")
    assert code == 2 and "not a sha256 digest" in out["stderr"]


def test_policy_pin_mismatch_is_exit_2_with_both_digests(tmp_path: Path) -> None:
    rel = code_release(tmp_path / "rel")
    res = run_cli("check", str(rel), "--policy-sha256", "0" * 64)
    assert res.exit_code == 2
    assert "policy digest mismatch" in res.stderr and "0" * 64 in res.stderr


@pytest.mark.parametrize(
    ("ref", "message"),
    [("nope", "no such commit"), ("--output=x", "not a git ref"), ("main\nx", "not a git ref")],
)
def test_bad_refs_are_exit_2(tmp_path: Path, repo: Path, ref: str, message: str) -> None:
    rel = code_release(tmp_path / "rel")
    code, out = _check(repo, rel, "--policy-ref", ref)
    assert code == 2 and message in out["stderr"]


def test_packaged_policy_with_a_ref_is_exit_2(tmp_path: Path, repo: Path) -> None:
    rel = code_release(tmp_path / "rel")
    res = run_cli("check", str(rel), "--policy", "default", "--policy-ref", "main")
    assert res.exit_code == 2 and "needs a policy file in the repository" in res.stderr


def test_policy_outside_a_repository_is_exit_2(tmp_path: Path) -> None:
    rel = code_release(tmp_path / "rel")
    pol = put(tmp_path / "plain", "p.yaml", b"version: 1\nname: p\n")
    res = run_cli("check", str(rel), "--policy", str(pol), "--policy-ref", "main")
    assert res.exit_code == 2 and "git repository" in res.stderr


def test_references_outside_the_repository_are_refused(tmp_path: Path, repo: Path) -> None:
    rel = code_release(tmp_path / "rel")
    (repo / "policies" / "gate.yaml").write_text(TEAM_POLICY.replace("base/base.yaml", "../../outside.yaml"))
    _commit(repo, "reach out")
    code, out = _check(repo, rel, "--policy-ref", "pr")
    assert code == 2 and "points outside the repository" in out["stderr"]
    (repo / "policies" / "gate.yaml").write_text(
        TEAM_POLICY.replace("base/base.yaml", "/etc/model-gate.yaml")
    )
    _commit(repo, "absolute")
    code, out = _check(repo, rel, "--policy-ref", "pr")
    assert code == 2 and "absolute path" in out["stderr"]


def test_symlinked_policy_in_the_ref_is_refused(tmp_path: Path, repo: Path) -> None:
    rel = code_release(tmp_path / "rel")
    (repo / "policies" / "base" / "base.yaml").unlink()
    (repo / "policies" / "base" / "base.yaml").symlink_to("/etc/passwd")
    _commit(repo, "link")
    code, out = _check(repo, rel, "--policy-ref", "pr")
    assert code == 2 and "symbolic link" in out["stderr"]


def test_trust_files_of_other_checks_come_from_the_ref(tmp_path: Path, repo: Path, keys: Keys) -> None:
    """A check's trust root named in its settings is copied from the ref, whatever the field is called."""
    (repo / "policies" / "trust").mkdir()
    (repo / "policies" / "trust" / "ca.pem").write_text("protected CA\n")
    (repo / "policies" / "signers").mkdir()
    (repo / "policies" / "signers" / "a.pub").write_text("protected signer\n")
    (repo / "policies" / "other.yaml").write_text(
        "version: 1\nname: o\ndefaults:\n  checks:\n    model-signature:\n"
        "      ca: trust/ca.pem\n      keys_dir: signers\n      mode: strict\n"
    )
    _commit(repo, "trust roots")
    (repo / "policies" / "trust" / "ca.pem").write_text("the pull request's CA\n")
    tree = _ref_tree(repo, "pr")
    dest = tmp_path / "m"
    files = materialise(tree, "policies/other.yaml", dest)
    assert set(files) == {"policies/other.yaml", "policies/trust/ca.pem", "policies/signers/a.pub"}
    assert (dest / "policies" / "trust" / "ca.pem").read_text() == "protected CA\n"


def test_temporary_copy_is_removed(tmp_path: Path, repo: Path) -> None:
    with protected_policy(str(repo / "policies" / "gate.yaml"), git_ref="main") as pol:
        assert pol.directory is not None and pol.directory.exists()
        where = pol.directory
    assert not where.exists()


# ---------------------------------------------------------------------------------------------
# Signed policy files (--policy-key)


def test_signed_policy_verifies_and_detects_changes(tmp_path: Path, repo: Path, keys: Keys) -> None:
    rel = code_release(tmp_path / "rel")
    private = write_keys(keys, tmp_path / "k")
    for p in ("policies/gate.yaml", "policies/base/base.yaml"):
        res = run_cli("policy", "sign", str(repo / p), "--key", str(private["carol"]))
        assert res.exit_code == 0, res.output
    pub = str(tmp_path / "k" / "carol.pub")
    code, _ = _check(repo, rel, "--policy-key", pub)
    assert code == 1  # judged (the release blocks), not refused
    # The signed statement covers the reviewer key the policy names.
    st = json.loads(
        __import__("base64").b64decode(
            json.loads((repo / "policies" / "gate.yaml.sig").read_bytes())["payload"]
        )
    )
    assert {s["name"] for s in st["subject"]} == {"gate.yaml", "../keys/alice.pub"}
    _commit(repo, "signed")
    code, _ = _check(repo, rel, "--policy-key", pub, "--policy-ref", "pr")
    assert code == 1

    code, out = _check(repo, rel, "--policy-key", str(tmp_path / "k" / "alice.pub"))
    assert code == 2 and "not signed by the --policy-key key" in out["stderr"]

    (repo / "keys" / "alice.pub").write_text(pem_public(keys.mallory))
    code, out = _check(repo, rel, "--policy-key", pub)
    assert code == 2 and "trust file ../keys/alice.pub changed" in out["stderr"]
    git(repo, "checkout", "-q", "--", "keys")

    with (repo / "policies" / "base" / "base.yaml").open("a") as fh:
        fh.write("  warn_at: critical\n")
    code, out = _check(repo, rel, "--policy-key", pub)
    assert code == 2 and "changed since it was signed" in out["stderr"]

    (repo / "policies" / "base" / "base.yaml.sig").unlink()
    code, out = _check(repo, rel, "--policy-key", pub)
    assert code == 2 and "unsigned policy file" in out["stderr"]


def test_policy_signature_forged_statement(tmp_path: Path, repo: Path, keys: Keys) -> None:
    from gate.policy import load_policy
    from gate.protected_policy import verify_policy_signatures
    from gate.signing.dsse import sign_envelope

    pol = load_policy(str(repo / "policies" / "base" / "base.yaml"))
    (repo / "policies" / "base" / "base.yaml.sig").write_bytes(sign_envelope(b'{"_type": 1}', keys.carol))
    with pytest.raises(InputError, match="invalid in-toto Statement"):
        verify_policy_signatures(pol, keys.carol.public_key())
    (repo / "policies" / "base" / "base.yaml.sig").write_bytes(b"{" * 10)
    with pytest.raises(InputError, match="not a JSON DSSE envelope"):
        verify_policy_signatures(pol, keys.carol.public_key())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"a: [1, 2\n", "invalid YAML"),
        (b"- just\n- a list\n", "pr:policies/gate.yaml: expected a mapping"),
        (b"version: 1\nname: p\nbogus: 1\n", "pr:policies/gate.yaml:3: bogus: unknown key"),
        (b"x: " + b"[" * 200 + b"]" * 200 + b"\n", "pr:policies/gate.yaml"),
        (b"version: 1\nname: p\n" + b"#" * (2 * 1024 * 1024) + b"\n", "larger than"),
    ],
)
def test_hostile_policy_in_the_ref_is_exit_2(
    tmp_path: Path, repo: Path, content: bytes, message: str
) -> None:
    rel = code_release(tmp_path / "rel")
    (repo / "policies" / "gate.yaml").write_bytes(content)
    _commit(repo, "hostile")
    code, out = _check(repo, rel, "--policy-ref", "pr")
    assert code == 2 and message in out["stderr"], out
