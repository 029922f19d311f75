"""The `dependencies` check: the real pip-audit against a real OSV-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.checks.dependencies import DependenciesCheck, DependenciesConfig
from gate.checks.dependencies.audit import (
    AuditDetails,
    PipAuditOutput,
    Source,
    _read_output,
    explain_failure,
)
from gate.checks.interface import CheckContext, CheckOutcome, RunOptions
from gate.errors import CheckError
from gate.models.finding import Severity, fingerprint
from gate.osv_mirror import MirrorHandler, MirrorServer, RecordStore, running
from gate.release import load_release
from gate.risk import score
from tests.support import OSV_RECORDS, run_cli, run_json

# Tests here start a server on 127.0.0.1 (and stop it).
pytestmark = pytest.mark.server

MANIFEST = """\
schema_version: 1
name: svc
version: 1.0.0
model:
  path: model/
  format: safetensors
  task: text-classification
deployment:
  exposure: internal
  data_sensitivity: none
  autonomy: advisory
serving:
  requirements: requirements.txt
"""


def make_release(
    root: Path, requirements: str | None, files: dict[str, str] | None = None, manifest: str = MANIFEST
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "release.yaml").write_text(manifest, "utf-8")
    (root / "model").mkdir(exist_ok=True)
    (root / "model" / "weights.bin").write_bytes(b"\x00" * 32)
    if requirements is not None:
        (root / "requirements.txt").write_text(textwrap.dedent(requirements), "utf-8")
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text), "utf-8")
    return root


def check(root: Path, *, offline: bool = False, **cfg: Any) -> CheckOutcome:
    release = load_release(root)
    ctx = CheckContext(
        release=release,
        tier=score(release.manifest),
        config=DependenciesConfig(**cfg),
        options=RunOptions(offline=offline, workdir=root.parent),
    )
    return DependenciesCheck().run(ctx)


def by_vuln(outcome: CheckOutcome) -> dict[str, Any]:
    return {f.evidence["vulnerability"]: f for f in outcome.findings if "vulnerability" in f.evidence}


# --- real audits against the recorded advisories ----------------------------------------------


def test_requests_2_19_0_is_found_with_ids_aliases_fixes_and_cvss(tmp_path: Path, osv_mirror: str) -> None:
    # --offline: the self-hosted mirror is the whole vulnerability source (the air-gapped mode).
    out = check(make_release(tmp_path / "r", "requests==2.19.0\n"), offline=True, osv_url=osv_mirror)
    found = by_vuln(out)
    assert set(found) == {"PYSEC-2018-28", "PYSEC-2023-74"}

    high = found["PYSEC-2018-28"]
    assert high.rule.code == "GATE-DP001" and high.rule.name == "vulnerable-dependency"
    assert high.severity is Severity.HIGH
    assert high.evidence["aliases"] == ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"]
    assert high.evidence["fixed_versions"] == ["2.20.0"]
    assert high.evidence["cvss_score"] == 7.5
    assert high.evidence["cvss_vector"] == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
    assert high.evidence["severity_source"] == "CVSS_V3 of GHSA-x84v-xcm2-53pg"
    assert "Authorization header" in high.evidence["description"]
    assert "Upgrade requests from 2.19.0 to 2.20.0" in (high.mitigation or "")
    assert (high.location.path, high.location.line) == ("requirements.txt", 1)
    assert high.id == fingerprint("GATE-DP001", None, "PYSEC-2018-28|requests|2.19.0")
    assert "pip_audit" in (high.reproduction or "") and osv_mirror in (high.reproduction or "")

    # CVSS 6.1 is within the default max_cvss 6.9: reported, tolerated, not blocking-grade.
    medium = found["PYSEC-2023-74"]
    assert medium.rule.name == "vulnerable-dependency-tolerated"
    assert medium.severity is Severity.LOW
    assert medium.evidence["cvss_score"] == 6.1
    assert medium.evidence["aliases"] == ["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"]
    assert medium.evidence["fixed_versions"] == ["2.31.0"]

    details = AuditDetails.model_validate(out.details)
    assert details.service == f"osv ({osv_mirror})"
    (dep,) = details.dependencies
    assert (dep.name, dep.version, dep.purl) == ("requests", "2.19.0", "pkg:pypi/requests@2.19.0")
    assert {v.id for v in dep.vulns} == {"PYSEC-2018-28", "PYSEC-2023-74"}
    assert "2 known vulnerabilities in 1 package (1 over the policy, 1 tolerated)" in out.summary


def test_clean_pins_pass_and_withdrawn_records_are_ignored(tmp_path: Path, osv_mirror: str) -> None:
    sha = "0" * 64
    root = make_release(
        tmp_path / "r",
        f"""\
        safetensors==0.8.0 --hash=sha256:{sha}
        tokenizers==0.23.3 --hash=sha256:{sha}
        requests==2.32.3 --hash=sha256:{sha}
        aiohttp==3.8.1 --hash=sha256:{sha}
        """,
    )
    out = check(root, osv_url=osv_mirror, require_hashes=True)
    assert out.findings == []
    details = AuditDetails.model_validate(out.details)
    assert sorted(d.name for d in details.dependencies) == [
        "aiohttp",
        "requests",
        "safetensors",
        "tokenizers",
    ]
    assert all(d.vulns == () for d in details.dependencies)
    assert "no known vulnerabilities" in out.summary


def test_policy_max_cvss_and_only_fixable(tmp_path: Path, osv_mirror: str) -> None:
    root = make_release(tmp_path / "r", "py==1.11.0\ntorch==1.13.0\n")
    strict = by_vuln(check(root, osv_url=osv_mirror, max_cvss=3.9))
    assert strict["PYSEC-2022-42969"].rule.name == "vulnerable-dependency"  # 5.3 > 3.9, no fix
    assert strict["PYSEC-2022-42969"].severity is Severity.MEDIUM
    assert "No fixed release of py" in (strict["PYSEC-2022-42969"].mitigation or "")
    assert strict["PYSEC-2022-43015"].severity is Severity.CRITICAL  # torch, 9.8
    assert strict["PYSEC-2022-43015"].evidence["cvss_score"] == 9.8

    lenient = by_vuln(check(root, osv_url=osv_mirror, max_cvss=3.9, only_fixable=True))
    tolerated = lenient["PYSEC-2022-42969"]
    assert tolerated.rule.name == "vulnerable-dependency-tolerated"
    assert "only_fixable" in tolerated.evidence["tolerated_because"]
    assert lenient["PYSEC-2022-43015"].rule.name == "vulnerable-dependency"  # has a fix: still blocks
    # Same vulnerability, package and version: the id a waiver binds to does not depend on the policy
    # within one rule, nor on where the pin is written.
    assert strict["PYSEC-2022-43015"].id == lenient["PYSEC-2022-43015"].id


def test_lock_file_pins_and_two_versions_of_one_package(tmp_path: Path, osv_mirror: str) -> None:
    uv_lock = """\
    version = 1

    [[package]]
    name = "svc"
    version = "1.0.0"
    source = { virtual = "." }

    [[package]]
    name = "requests"
    version = "2.31.0"
    source = { registry = "https://pypi.org/simple" }

    [[package]]
    name = "torch"
    version = "1.13.0"
    source = { registry = "https://pypi.org/simple" }
    """
    manifest = MANIFEST + "  lockfile: uv.lock\n"
    root = make_release(tmp_path / "r", "requests==2.19.0\nnumpy>=1.24\n", {"uv.lock": uv_lock}, manifest)
    out = check(root, osv_url=osv_mirror)
    details = AuditDetails.model_validate(out.details)
    assert sorted((d.name, d.version) for d in details.dependencies) == [
        ("requests", "2.19.0"),
        ("requests", "2.31.0"),
        ("torch", "1.13.0"),
    ]
    found = by_vuln(out)
    assert found["PYSEC-2022-43015"].location.path == "uv.lock"
    assert found["PYSEC-2022-43015"].location.line == 14
    # The id of a vulnerability finding ignores the file: moving torch from uv.lock keeps it.
    assert found["PYSEC-2022-43015"].id == fingerprint("GATE-DP001", None, "PYSEC-2022-43015|torch|1.13.0")
    unpinned = [f for f in out.findings if f.rule.name == "unpinned-requirement"]
    assert [(f.location.path, f.location.line) for f in unpinned] == [("requirements.txt", 2)]
    assert [(n.name, n.reason) for n in details.not_audited] == [
        ("numpy", "not pinned: '>=1.24' allows more than one version")
    ]


def test_a_vulnerability_without_any_severity_is_scored_by_policy(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    shutil.copy(OSV_RECORDS / "PYSEC-2018-28.json", records)  # no GHSA alias record, so no CVSS
    root = make_release(tmp_path / "r", "requests==2.19.0\n")
    with running(records) as server:
        unscored = by_vuln(check(root, osv_url=server.url))["PYSEC-2018-28"]
        assert unscored.rule.name == "vulnerable-dependency"
        assert unscored.severity is Severity.CRITICAL  # unscored_cvss 10: fail closed
        assert unscored.evidence["cvss_score"] is None
        assert unscored.evidence["severity_source"] == "none"
        assert "no severity in its records" in unscored.title
        relaxed = by_vuln(check(root, osv_url=server.url, unscored_cvss=5.0))["PYSEC-2018-28"]
        assert relaxed.rule.name == "vulnerable-dependency-tolerated"


# --- failing vulnerability services: each a clear check error, never a pass -----------------------


class _Bad(BaseHTTPRequestHandler):
    mode = "garbage"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "slow":
            time.sleep(3)
        body = {
            "garbage": b"<html>maintenance</html>",
            "shape": b'{"vulns": "none"}',
            "slow": b"{}",
            "500": b'{"code": 13}',
        }[self.mode]
        self.send_response(500 if self.mode == "500" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def bad_server(mode: str) -> Iterator[str]:
    handler = type("H", (_Bad,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def _closed_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("down", "cannot connect to the vulnerability service at http://127.0.0.1:"),
        ("slow", "did not answer within 1 s"),
        ("garbage", "answered with something that is not JSON"),
        ("shape", "answered with JSON that is not an OSV response"),
        ("500", "answered with an HTTP error"),
    ],
)
def test_unusable_service_is_a_check_error(tmp_path: Path, mode: str, message: str) -> None:
    root = make_release(tmp_path / "r", "requests==2.19.0\n")
    if mode == "down":
        with pytest.raises(CheckError, match=message) as info:
            check(root, osv_url=_closed_port(), timeout_s=1)
    else:
        with bad_server(mode) as url, pytest.raises(CheckError, match=message) as info:
            check(root, osv_url=url, timeout_s=1)
    assert "fail closed" in (info.value.hint or "")


class _NoSeverities(MirrorHandler):
    """Answers queries from the real records but garbage for /v1/vulns/ID."""

    def _get(self) -> None:
        body = b"not json"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_unreadable_severity_records_are_a_check_error(tmp_path: Path) -> None:
    store = RecordStore.load(OSV_RECORDS)
    server = MirrorServer(store, 0)
    server.RequestHandlerClass = _NoSeverities
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        with pytest.raises(CheckError, match=r"/v1/vulns/.*: the answer is not an OSV record"):
            check(make_release(tmp_path / "r", "requests==2.19.0\n"), osv_url=server.url)
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def test_offline_without_a_mirror_is_an_error_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_GATE_OSV_URL")
    with pytest.raises(CheckError, match="--offline and no vulnerability source"):
        check(make_release(tmp_path / "r", "requests==2.19.0\n"), offline=True)


def test_nothing_pinned_needs_no_source_and_no_files_is_a_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_GATE_OSV_URL")
    out = check(make_release(tmp_path / "a", "torch\n-e ./lib\n"), offline=True)
    assert sorted(f.rule.name for f in out.findings) == ["dependency-not-audited", "unpinned-requirement"]
    none = check(
        make_release(
            tmp_path / "b",
            None,
            manifest=MANIFEST.replace("serving:\n  requirements: requirements.txt\n", ""),
        )
    )
    assert none.skipped and "no serving dependencies" in none.summary
    missing = check(make_release(tmp_path / "c", None))
    assert [f.rule.name for f in missing.findings] == ["unreadable-dependency-file"]


# --- the CLI, the policies and the examples ------------------------------------------------------


def test_bad_release_fails_visibly_for_dependencies(demo_policy: Path) -> None:
    from tests.support import BAD

    code, report = run_json("check", str(BAD), "--policy", str(demo_policy))
    assert code == 1
    dep = [f for f in report["findings"] if f["check"] == "dependencies"]
    blocking = {(f["rule"]["code"], f["evidence"].get("vulnerability")) for f in dep if f["blocking"]}
    assert ("GATE-DP001", "PYSEC-2018-28") in blocking
    assert ("GATE-DP001", "PYSEC-2023-74") in blocking  # tier high: max_cvss 3.9, so 6.1 blocks too
    assert ("GATE-DP003", None) in blocking  # numpy>=1.24
    result = next(c for c in report["checks"] if c["id"] == "dependencies")
    assert result["status"] == "failed" and result["required"] is True


def test_offline_without_a_source_warns_where_optional_and_fails_closed_where_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import DEMO

    monkeypatch.delenv("MODEL_GATE_OSV_URL")
    # Tier low, default policy: the audit is optional, so its network error is a warning.
    result = run_cli("check", str(DEMO), "--offline", "--skip", "adversarial")
    assert result.exit_code == 0, result.stdout
    assert "--offline and no vulnerability source" in result.stdout
    assert "GATE-GA002 optional-check-incomplete" in result.stdout and "--skip dependencies" in result.stdout
    # A policy that needs the answer says so: then it fails closed, as a required check does.
    p = tmp_path / "p.yaml"
    p.write_text("version: 1\nname: p\nextends: [default]\ndefaults:\n  fail_closed: [dependencies]\n")
    result = run_cli("check", str(DEMO), "--offline", "--skip", "adversarial", "--policy", str(p))
    assert result.exit_code == 3
    assert "--offline and no vulnerability source" in result.stdout


def test_policy_keys_are_validated(tmp_path: Path) -> None:
    for bad in ("ftp://mirror", "http://user:pw@mirror", "http://m/?q=1", "not a url"):
        with pytest.raises(ValueError):
            DependenciesConfig(osv_url=bad)
    with pytest.raises(ValueError):
        DependenciesConfig(max_cvss=11)
    p = tmp_path / "p.yaml"
    p.write_text(
        "version: 1\nname: p\nextends: [default]\ndefaults:\n  checks:\n    dependencies:\n"
        "      max_cvss: 12\n"
    )
    result = run_cli("policy", "lint", str(p))
    assert result.exit_code == 2 and "max_cvss" in result.stdout


def test_extending_a_policy_cannot_loosen_the_cvss_limit(tmp_path: Path) -> None:
    from gate.policy import config_for, load_policy
    from gate.risk import Tier

    p = tmp_path / "loose.yaml"
    p.write_text(
        "version: 1\nname: loose\nextends: [default]\ndefaults:\n  checks:\n    dependencies:\n"
        "      max_cvss: 10\n      only_fixable: true\n"
    )
    tp = load_policy(str(p)).for_tier(Tier.HIGH)
    cfg = config_for(tp, "dependencies")
    assert cfg.max_cvss == 3.9 and cfg.only_fixable is False


# --- pip-audit's output and failures, parsed -------------------------------------------------------

SOURCE = Source(service="osv", osv_base="http://127.0.0.1:1", custom=True)


def _proc(rc: int, stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["pip-audit"], rc, "", stderr)


def test_pip_audit_output_with_skips_parses(tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    out.write_text(
        json.dumps(
            {
                "dependencies": [
                    {
                        "name": "x",
                        "skip_reason": "Dependency not found on PyPI and could not be audited: x (1.0)",
                    },
                    {
                        "name": "requests",
                        "version": "2.19.0",
                        "vulns": [
                            {"id": "PYSEC-2018-28", "fix_versions": ["2.20.0"], "aliases": ["CVE-2018-18074"]}
                        ],
                    },
                ],
                "fixes": [],
            }
        )
    )
    deps = _read_output(out, _proc(1), SOURCE, 15)
    assert deps[0].skip_reason and deps[1].vulns[0].fix_versions == ("2.20.0",)


@pytest.mark.parametrize(
    ("content", "rc", "message"),
    [
        (None, 1, "pip-audit failed"),
        (b"", 0, "exited 0 but wrote no result"),
        (b"   \n", 1, "pip-audit failed"),
        (b"[1, 2]", 1, "not in the expected shape"),
        (b'{"dependencies": [{"name": ""}]}', 1, "not in the expected shape"),
        (b'{"dependencies": "x"}', 0, "not in the expected shape"),
        (b"\xff\xfe", 0, "not in the expected shape"),
        (b"[" * 100_000, 0, "not in the expected shape"),
    ],
)
def test_unusable_pip_audit_output_is_a_check_error(
    tmp_path: Path, content: bytes | None, rc: int, message: str
) -> None:
    out = tmp_path / "o.json"
    if content is not None:
        out.write_bytes(content)
    with pytest.raises(CheckError, match=message):
        _read_output(out, _proc(rc, "Traceback...\nSomethingError: boom"), SOURCE, 15)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(
                st.sampled_from(
                    [
                        "dependencies",
                        "name",
                        "version",
                        "vulns",
                        "id",
                        "fix_versions",
                        "aliases",
                        "skip_reason",
                        "fixes",
                    ]
                ),
                inner,
                max_size=4,
            ),
        ),
        max_leaves=15,
    )
)
def test_pip_audit_output_parser_only_accepts_or_rejects(data: Any) -> None:
    from pydantic import ValidationError

    with suppress(ValidationError):
        PipAuditOutput.model_validate(data)


def test_failure_explanations_name_the_cause() -> None:
    assert "(connection refused)" in explain_failure(
        "requests.exceptions.ConnectionError: ... Connection refused", SOURCE, 5
    )
    assert "within 5 s" in explain_failure("requests.exceptions.ReadTimeout: Read timed out.", SOURCE, 5)
    assert "cannot resolve" in explain_failure("NameResolutionError: Failed to resolve", SOURCE, 5)
    assert explain_failure("", SOURCE, 5) == "pip-audit failed"


def test_the_runners_mirror_applies_unless_the_policy_names_one(
    tmp_path: Path, osv_mirror: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gate.checks.dependencies.check import vulnerability_source

    monkeypatch.setenv("MODEL_GATE_OSV_URL", osv_mirror + "/v1/query")
    src = vulnerability_source(DependenciesConfig(), offline=True)
    assert (src.service, src.osv_base, src.custom) == ("osv", osv_mirror, True)
    own = vulnerability_source(DependenciesConfig(osv_url="http://127.0.0.1:9"), offline=True)
    assert own.osv_base == "http://127.0.0.1:9"  # the policy's own source wins
    monkeypatch.setenv("MODEL_GATE_OSV_URL", "http://user:secret@mirror")
    with pytest.raises(CheckError, match=r"MODEL_GATE_OSV_URL: .*credentials"):
        vulnerability_source(DependenciesConfig(), offline=False)
    monkeypatch.delenv("MODEL_GATE_OSV_URL")
    online = vulnerability_source(DependenciesConfig(service="pypi"), offline=False)
    assert (online.service, online.custom) == ("pypi", False)


def test_a_signed_waiver_accepts_one_vulnerability_by_its_stable_id(tmp_path: Path) -> None:
    """A signed waiver accepts one advisory in one package version, by the finding's stable id."""
    from gate.models.report import Verdict
    from tests.support.waiverkit import loaded, make_keys, policy_from, run, signed, unsigned_waiver

    keys = make_keys()
    policy = policy_from(tmp_path / "policy", keys)
    root = make_release(tmp_path / "r", "requests==2.19.0\n")
    release, report = loaded(root, policy)
    fid = fingerprint("GATE-DP001", None, "PYSEC-2018-28|requests|2.19.0")
    assert fid in [f.id for f in report.findings if f.effective_blocking]
    assert report.verdict is Verdict.FAIL
    waiver = signed(unsigned_waiver(release, [fid], reason="redirects to http are disabled"), keys.alice)
    (tmp_path / "waivers").mkdir()
    (tmp_path / "waivers" / "w.json").write_bytes(waiver)
    waived = run(root, policy, tmp_path / "waivers")
    assert waived.verdict is Verdict.WARN and waived.exit_code == 0
    (f,) = [f for f in waived.findings if f.id == fid]
    assert f.waiver is not None and not f.effective_blocking
    assert not [x for x in waived.findings if x.effective_blocking]  # PYSEC-2023-74 is tolerated here
