"""The OSV-compatible mirror: the API pip-audit and the gate use, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.osv_mirror import (
    MAX_BATCH,
    MAX_BODY_BYTES,
    QueryError,
    RecordError,
    RecordStore,
    main,
    parse_query,
    parse_record,
    running,
)
from tests.support import OSV_RECORDS, ROOT

# Tests here start a server on 127.0.0.1 (and stop it).
pytestmark = pytest.mark.server


def post(url: str, body: Any, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def ids(answer: dict[str, Any]) -> list[str]:
    return [v["id"] for v in answer.get("vulns", [])]


def q(name: str, version: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"package": {"name": name, "ecosystem": "PyPI"}}
    if version is not None:
        out["version"] = version
    return out


def test_query_matches_ranges_versions_and_names(osv_mirror: str) -> None:
    url = osv_mirror + "/v1/query"
    assert post(url, q("requests", "2.19.0")) == (
        200,
        {"vulns": post(url, q("requests", "2.19.0"))[1]["vulns"]},
    )
    assert ids(post(url, q("requests", "2.19.0"))[1]) == [
        "GHSA-j8r2-6x86-q33q",
        "GHSA-x84v-xcm2-53pg",
        "PYSEC-2018-28",
        "PYSEC-2023-74",
    ]
    # 2.20.0 fixes CVE-2018-18074 but is still inside CVE-2023-32681's range (2.3.0 <= v < 2.31.0).
    assert ids(post(url, q("requests", "2.20.0"))[1]) == ["GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"]
    assert ids(post(url, q("requests", "2.2.1"))[1]) == ["GHSA-x84v-xcm2-53pg", "PYSEC-2018-28"]
    assert post(url, q("requests", "2.31.0")) == (200, {})
    # last_affected is inclusive: 1.11.0 is affected, nothing after it is.
    assert ids(post(url, q("py", "1.11.0"))[1]) == ["GHSA-w596-4wvx-j9j6", "PYSEC-2022-42969"]
    assert post(url, q("py", "1.11.1")) == (200, {})
    # PEP 503 names: "Requests" and "REQUESTS" are requests.
    assert len(ids(post(url, q("REQUESTS", "2.19.0"))[1])) == 4
    # Without a version: every record of the package.
    assert len(ids(post(url, q("torch"))[1])) == 2
    # A purl instead of name + ecosystem.
    assert ids(post(url, {"package": {"purl": "pkg:pypi/torch@1.13.0"}})[1]) == [
        "GHSA-47fc-vmwq-366v",
        "PYSEC-2022-43015",
    ]
    assert post(url, q("safetensors", "0.8.0")) == (200, {})
    assert post(url, {"package": {"name": "requests", "ecosystem": "npm"}, "version": "2.19.0"}) == (200, {})


def test_full_records_are_served_unchanged(osv_mirror: str) -> None:
    status, record = get(osv_mirror + "/v1/vulns/PYSEC-2018-28")
    assert status == 200
    assert record == json.loads((OSV_RECORDS / "PYSEC-2018-28.json").read_text())
    assert get(osv_mirror + "/v1/vulns/GHSA-0000-0000-0000") == (
        404,
        {"code": 5, "message": "Bug not found."},
    )
    assert get(osv_mirror + "/v1/vulns/../../etc/passwd")[0] == 404
    assert get(osv_mirror + "/nothing")[0] == 404


def test_querybatch(osv_mirror: str) -> None:
    status, body = post(osv_mirror + "/v1/querybatch", {"queries": [q("requests", "2.19.0"), q("x", "1")]})
    assert status == 200
    first, second = body["results"]
    assert sorted(v["id"] for v in first["vulns"]) == [
        "GHSA-j8r2-6x86-q33q",
        "GHSA-x84v-xcm2-53pg",
        "PYSEC-2018-28",
        "PYSEC-2023-74",
    ]
    assert set(first["vulns"][0]) == {"id", "modified"}
    assert second == {}
    status, body = post(osv_mirror + "/v1/querybatch", {"queries": [q("x", "1")] * (MAX_BATCH + 1)})
    assert status == 400 and "at most" in body["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"version": "1"}, "'package' must be an object"),
        ({"package": {"name": "x"}, "version": "1"}, "'name' and 'ecosystem'"),
        ({"package": {"name": "x", "ecosystem": "PyPI"}, "version": 3}, "'version'"),
        ({"commit": "abc"}, "commit queries are not supported"),
        ({"package": {"purl": "pkg:unknown/x@1"}}, "unsupported purl"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_queries_are_400_with_a_reason(osv_mirror: str, body: Any, message: str) -> None:
    status, answer = post(osv_mirror + "/v1/query", body)
    assert status == 400
    assert message in answer["message"]


def test_garbage_oversized_and_unframed_bodies(osv_mirror: str) -> None:
    assert post(osv_mirror + "/v1/query", None, raw=b"{not json")[0] == 400
    assert post(osv_mirror + "/v1/query", None, raw=b"[" * 100_000 + b"]" * 100_000)[0] == 400
    host, port = osv_mirror.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        # Refused from the headers alone: the body is never read.
        s.sendall(f"POST /v1/query HTTP/1.1\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode())
        assert b" 413 " in s.recv(4096).split(b"\r\n")[0] + b" "
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"POST /v1/query HTTP/1.1\r\n\r\n")
        assert b" 400 " in s.recv(4096).split(b"\r\n")[0] + b" "  # no Content-Length
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(
            b"POST /v1/query HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        assert b" 400 " in s.recv(4096).split(b"\r\n")[0] + b" "


def test_a_silent_client_is_dropped_after_the_request_timeout() -> None:
    with running(OSV_RECORDS, request_timeout=0.5) as server:
        host, port = server.server_address[:2]
        with socket.create_connection((str(host), port), timeout=5) as s:
            s.sendall(b"POST /v1/query HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")  # never finishes
            start = time.monotonic()
            data = s.recv(4096)  # the server gives up and closes
            assert time.monotonic() - start < 4
            assert b"200" not in data
        # The server still answers others.
        assert post(server.url + "/v1/query", q("py", "1.11.0"))[0] == 200


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    import gate.osv_mirror as mirror

    with running(OSV_RECORDS, max_concurrent=1, request_timeout=5) as server:
        server.slots.acquire()  # a request in flight holds the only slot
        orig = mirror._SLOT_WAIT_S
        mirror._SLOT_WAIT_S = 0.2
        try:
            status, answer = post(server.url + "/v1/query", q("py", "1.11.0"))
        finally:
            mirror._SLOT_WAIT_S = orig
            server.slots.release()
        assert status == 503 and "too many requests" in answer["message"]
        assert post(server.url + "/v1/query", q("py", "1.11.0"))[0] == 200


def test_only_loopback() -> None:
    with running(OSV_RECORDS) as server:
        assert server.server_address[0] == "127.0.0.1"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"id": 3}', "'id' must be a string"),
        (b'{"id": "X-1", "affected": {}}', "'affected' must be a list"),
        (b'{"id": "X-1", "affected": [{"package": {"name": "x"}}]}', "'ecosystem' and 'name'"),
        (
            b'{"id": "X-1", "affected": [{"package": {"name": "x", "ecosystem": "PyPI"},'
            b' "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": 1}]}]}]}',
            "each event",
        ),
        (
            b'{"id": "X-1", "affected": [{"package": {"name": "x", "ecosystem": "PyPI"}, "versions": [1]}]}',
            "versions",
        ),
    ],
)
def test_bad_records_stop_the_mirror_from_starting(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "r.json").write_bytes(content)
    with pytest.raises(RecordError, match=reason):
        RecordStore.load(tmp_path)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    shutil.copy(OSV_RECORDS / "PYSEC-2018-28.json", tmp_path / "a.json")
    shutil.copy(OSV_RECORDS / "PYSEC-2018-28.json", tmp_path / "b.json")
    with pytest.raises(RecordError, match="duplicate record id PYSEC-2018-28"):
        RecordStore.load(tmp_path)


def test_every_shipped_record_loads_and_is_real_osv() -> None:
    store = RecordStore.load(OSV_RECORDS)
    assert set(store.by_id) == {
        "PYSEC-2018-28",
        "GHSA-x84v-xcm2-53pg",
        "PYSEC-2023-74",
        "GHSA-j8r2-6x86-q33q",
        "PYSEC-2022-43015",
        "GHSA-47fc-vmwq-366v",
        "PYSEC-2022-42969",
        "GHSA-w596-4wvx-j9j6",
        "PYSEC-2022-43059",
    }
    sources = (OSV_RECORDS / "SOURCES.md").read_text()
    for rid in store.by_id:
        assert rid in sources, f"{rid} has no provenance line in SOURCES.md"


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(
                st.sampled_from(["package", "name", "ecosystem", "version", "purl", "commit", "x"]),
                inner,
                max_size=4,
            ),
        ),
        max_leaves=12,
    )
)
def test_parse_query_only_raises_query_error(body: Any) -> None:
    with contextlib.suppress(QueryError):
        parse_query(body)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(
                st.sampled_from(
                    [
                        "id",
                        "affected",
                        "package",
                        "name",
                        "ecosystem",
                        "ranges",
                        "events",
                        "type",
                        "versions",
                        "introduced",
                        "fixed",
                        "modified",
                    ]
                ),
                inner,
                max_size=5,
            ),
        ),
        max_leaves=15,
    )
)
def test_parse_record_only_raises_record_error(data: Any) -> None:
    try:
        rec = parse_record(Path("x.json"), data)
    except RecordError:
        return
    for a in rec.affected:
        a.matches("1.0")  # evaluating any accepted record never crashes either


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_command_line_prints_the_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gate.osv_mirror", "--records", str(OSV_RECORDS), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert url == f"http://127.0.0.1:{port}"
        assert post(url + "/v1/query", q("torch", "1.13.0"))[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_background_and_stop_for_make_demo(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pidfile = tmp_path / "mirror.pid"
    port = _free_port()
    cmd = [sys.executable, "-m", "gate.osv_mirror", "--records", str(OSV_RECORDS), "--port", str(port)]
    started = subprocess.run(
        [*cmd, "--background", "--pidfile", str(pidfile)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    pid = int(pidfile.read_text())
    try:
        assert post(url + "/v1/query", q("requests", "2.19.0"))[0] == 200
        # A second start on the same pidfile replaces the first (an interrupted demo left it running).
        again = subprocess.run(
            [*cmd, "--background", "--pidfile", str(pidfile)],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        new_pid = int(pidfile.read_text())
        assert new_pid != pid
        pid = new_pid
    finally:
        stopped = subprocess.run(
            [*cmd[:3], "--stop", "--pidfile", str(pidfile)], env=env, timeout=30, check=False
        )
    assert stopped.returncode == 0
    assert not pidfile.exists()
    assert _gone(pid)


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody reaped yet (the mirror was detached)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return any(line.startswith("State:") and "Z" in line for line in status.splitlines())


def test_background_reports_a_start_failure(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "bad.json").write_text("{")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gate.osv_mirror",
            "--records",
            str(tmp_path / "records"),
            "--background",
            "--pidfile",
            str(tmp_path / "m.pid"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "bad.json: not valid JSON" in result.stderr
    assert not (tmp_path / "m.pid").exists()


def test_main_rejects_missing_records_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--records", str(tmp_path / "nope"), "--port", "0"]) == 2
    assert "not a directory of OSV records" in capsys.readouterr().err
