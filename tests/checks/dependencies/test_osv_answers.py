"""OSV answers are validated, never read as "no vulnerabilities" (real pip-audit, real servers).

A server on 127.0.0.1 answers /v1/query with what a broken or hostile mirror might send.
pip-audit itself reads `[]`, `null`, records without `affected` or of another schema major
version as "nothing found"; the gate asks the same question, checks the documented shape
and that pip-audit reported every live record, and errors (exit 3 when required).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gate.checks.dependencies.audit import parse_query_answer
from gate.errors import CheckError
from tests.checks.dependencies.test_dependencies_check import check, make_release

# Tests here start a server on 127.0.0.1 (and stop it).
pytestmark = pytest.mark.server

RECORD = {
    "id": "GHSA-x84v-xcm2-53pg",
    "modified": "2024-01-01T00:00:00Z",
    "aliases": ["CVE-2018-18074"],
    "summary": "Insecure Temporary File in requests",
    "affected": [
        {
            "package": {"name": "requests", "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
        }
    ],
}


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in RECORD.items() if k != key}


ANSWERS: dict[str, Any] = {
    "empty-list": [],
    "null": None,
    "empty-string": "",
    "vulns-not-a-list": {"vulns": {"id": "x"}},
    "record-without-id": {"vulns": [_without("id")]},
    "record-without-modified": {"vulns": [_without("modified")]},
    "record-without-affected": {"vulns": [_without("affected")]},
    "schema-2": {"vulns": [{**RECORD, "schema_version": "2.0.0"}]},
    "paged": {"vulns": [RECORD], "next_page_token": "abc"},
}


class _Answer(BaseHTTPRequestHandler):
    answer: Any = None

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(self.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        body = json.dumps(RECORD).encode() if self.path.endswith(RECORD["id"]) else b"{}"
        self.send_response(200 if self.path.endswith(RECORD["id"]) else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def answering(answer: Any) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Answer,), {"answer": answer}))
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


@pytest.mark.parametrize("mode", sorted(ANSWERS))
def test_an_answer_off_the_osv_schema_is_an_error_never_a_clean_audit(tmp_path: Path, mode: str) -> None:
    root = make_release(tmp_path / "r", "requests==2.19.0\n")
    with answering(ANSWERS[mode]) as url, pytest.raises(CheckError) as info:
        check(root, osv_url=url, timeout_s=5)
    assert "OSV" in info.value.message or "fail closed" in info.value.message


def test_documented_answers_are_accepted(tmp_path: Path) -> None:
    """Benign twins: `{}` (no vulnerabilities) passes, a valid record is reported as a finding."""
    root = make_release(tmp_path / "r", "requests==2.19.0\n")
    with answering({}) as url:
        out = check(root, osv_url=url, timeout_s=5)
    assert "no known vulnerabilities" in out.summary
    with answering({"vulns": [RECORD]}) as url:
        out = check(root, osv_url=url, timeout_s=5)
    assert [f.evidence.get("id") or f.title for f in out.findings if f.rule.code == "GATE-DP001"]
    # A withdrawn record needs no other field to be ignored, by pip-audit and by the gate.
    assert parse_query_answer(json.dumps({"vulns": [{**RECORD, "withdrawn": "2024"}]}).encode(), "t")


def test_required_dependencies_check_with_a_lying_mirror_exits_3(tmp_path: Path) -> None:
    from tests.support import run_cli

    root = make_release(tmp_path / "r", "requests==2.19.0\n")
    with answering([]) as url:
        pol = tmp_path / "p.yaml"
        pol.write_text(
            "version: 1\nname: t\ndefaults:\n  required: [dependencies]\n"
            f"  checks:\n    dependencies:\n      osv_url: {url}\n",
            "utf-8",
        )
        res = run_cli("check", str(root), "--policy", str(pol), "--format", "json")
    assert res.exit_code == 3, res.output
    rep = json.loads(res.stdout)
    dep = next(c for c in rep["checks"] if c["id"] == "dependencies")
    assert dep["status"] == "error" and "not an object" in dep["summary"]
