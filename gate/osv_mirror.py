"""A small OSV-compatible vulnerability API over a directory of OSV records.

What an air-gapped organisation runs next to its CI runners so that
`pip-audit --osv-url` (and the gate's `dependencies` check) work without the
internet: it answers the three OSV endpoints the audit needs from recorded
records (https://google.github.io/osv.dev/api/):

- POST /v1/query        {"package": {"name", "ecosystem"} | {"purl"}, "version"}
- POST /v1/querybatch   {"queries": [query, ...]}  (ids and modification times only)
- GET  /v1/vulns/{id}   one full record

Usage: python -m gate.osv_mirror --records DIR [--port N]
It prints the base URL on standard output once it accepts connections and
stops cleanly on SIGTERM or SIGINT.

The module does not import the rest of the gate, so it can be copied and run on
its own; it needs only the standard library and `packaging` (for PEP 440
version ordering). It listens on 127.0.0.1 only. Every request is bounded: the
body size, the number of queries in a batch, the time a client may take to send
its request, and the number of requests handled at once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from gate.extras import MissingExtraError, need_installed, needs

HOST = "127.0.0.1"
MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH = 1000  # the public OSV API's own limit
MAX_RECORD_BYTES = 4 * 1024 * 1024
MAX_RECORDS = 200_000
REQUEST_TIMEOUT_S = 10.0  # a client that sends its request slower than this is dropped
MAX_CONCURRENT = 16
_SLOT_WAIT_S = 5.0
_VULN_PATH = re.compile(r"^/v1/vulns/([A-Za-z0-9][A-Za-z0-9._:-]{0,127})$")
_PURL = re.compile(r"^pkg:(?P<type>[a-z][a-z0-9.+-]*)/(?P<name>[^@?#]+)(?:@(?P<version>[^?#]+))?")
_PURL_ECOSYSTEMS = {"pypi": "PyPI", "npm": "npm", "cargo": "crates.io", "gem": "RubyGems", "golang": "Go"}


class RecordError(Exception):
    """The records directory holds something that is not a usable OSV record."""


def normalize_name(ecosystem: str, name: str) -> str:
    """Package names as the ecosystem compares them (PEP 503 for PyPI)."""
    if ecosystem == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def _version_key(text: str) -> Any:
    with needs("sbom", "the OSV mirror"):
        from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return None


def _in_range(version: str, events: list[dict[str, str]]) -> bool:
    """OSV's range evaluation for one ECOSYSTEM range (PEP 440 ordering)."""
    v = _version_key(version)
    if v is None:
        return False
    keyed = []
    for ev in events:
        kind, value = next(iter(ev.items()))
        if kind == "introduced" and value == "0":
            keyed.append((0, None, kind))
            continue
        key = _version_key(value)
        if key is None:
            continue  # an unparsable bound cannot be ordered; the explicit versions list still applies
        keyed.append((1, key, kind))
    keyed.sort(key=lambda t: (t[0], t[1]) if t[1] is not None else (t[0],))
    affected = False
    for _, bound, kind in keyed:
        if kind == "introduced" and (bound is None or v >= bound):
            affected = True
        elif bound is not None and (
            (kind in ("fixed", "limit") and v >= bound) or (kind == "last_affected" and v > bound)
        ):
            affected = False
    return affected


@dataclass(frozen=True)
class Affected:
    ecosystem: str
    name: str  # normalised
    versions: frozenset[str]
    ranges: tuple[tuple[dict[str, str], ...], ...]  # ECOSYSTEM ranges' events

    def matches(self, version: str | None) -> bool:
        if version is None:
            return True
        if version in self.versions:
            return True
        return any(_in_range(version, list(events)) for events in self.ranges)


@dataclass(frozen=True)
class Record:
    id: str
    modified: str
    data: dict[str, Any]
    affected: tuple[Affected, ...]


def _fail(path: Path, reason: str) -> RecordError:
    return RecordError(f"{path}: {reason}")


def parse_record(path: Path, data: Any) -> Record:
    """Validate the parts of an OSV record that queries depend on."""
    if not isinstance(data, dict):
        raise _fail(path, "an OSV record must be a JSON object")
    rid = data.get("id")
    if not isinstance(rid, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", rid):
        raise _fail(path, "'id' must be a string such as PYSEC-2018-28")
    modified = data.get("modified", "")
    if not isinstance(modified, str):
        raise _fail(path, "'modified' must be a string")
    affected_raw = data.get("affected", [])
    if not isinstance(affected_raw, list):
        raise _fail(path, "'affected' must be a list")
    affected: list[Affected] = []
    for i, entry in enumerate(affected_raw):
        where = f"affected[{i}]"
        if not isinstance(entry, dict):
            raise _fail(path, f"{where} must be an object")
        pkg = entry.get("package")
        if not isinstance(pkg, dict):
            raise _fail(path, f"{where}.package must be an object")
        eco, name = pkg.get("ecosystem"), pkg.get("name")
        if not isinstance(eco, str) or not isinstance(name, str) or not eco or not name:
            raise _fail(path, f"{where}.package needs 'ecosystem' and 'name' strings")
        versions = entry.get("versions", [])
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            raise _fail(path, f"{where}.versions must be a list of strings")
        ranges: list[tuple[dict[str, str], ...]] = []
        ranges_raw = entry.get("ranges", [])
        if not isinstance(ranges_raw, list):
            raise _fail(path, f"{where}.ranges must be a list")
        for j, rng in enumerate(ranges_raw):
            if not isinstance(rng, dict) or not isinstance(rng.get("events"), list):
                raise _fail(path, f"{where}.ranges[{j}] needs an 'events' list")
            events = rng["events"]
            for ev in events:
                if not (
                    isinstance(ev, dict)
                    and len(ev) == 1
                    and next(iter(ev)) in ("introduced", "fixed", "last_affected", "limit")
                    and isinstance(next(iter(ev.values())), str)
                ):
                    raise _fail(
                        path,
                        f"{where}.ranges[{j}].events: each event is one of "
                        "introduced/fixed/last_affected/limit with a string value",
                    )
            if rng.get("type") == "ECOSYSTEM":
                ranges.append(tuple(events))
        affected.append(
            Affected(
                ecosystem=eco,
                name=normalize_name(eco, name),
                versions=frozenset(versions),
                ranges=tuple(ranges),
            )
        )
    return Record(id=rid, modified=modified, data=data, affected=tuple(affected))


@dataclass
class RecordStore:
    """Every record of a directory, indexed by id and by (ecosystem, package)."""

    by_id: dict[str, Record] = field(default_factory=dict)
    by_package: dict[tuple[str, str], list[Record]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> RecordStore:
        if not directory.is_dir():
            raise RecordError(f"{directory}: not a directory of OSV records")
        need_installed("packaging", "the OSV mirror (PEP 440 ordering of ECOSYSTEM ranges)")
        store = cls()
        files = sorted(p for p in directory.rglob("*.json") if p.is_file())
        if len(files) > MAX_RECORDS:
            raise RecordError(f"{directory}: more than {MAX_RECORDS} records")
        for path in files:
            size = path.stat().st_size
            if size > MAX_RECORD_BYTES:
                raise _fail(path, f"{size} bytes is over the {MAX_RECORD_BYTES}-byte limit for a record")
            try:
                data = json.loads(path.read_bytes())
            except (ValueError, RecursionError) as exc:
                raise _fail(path, f"not valid JSON ({exc})") from None
            store.add(parse_record(path, data), path)
        return store

    def add(self, record: Record, source: Path | None = None) -> None:
        if record.id in self.by_id:
            raise RecordError(f"{source or record.id}: duplicate record id {record.id}")
        self.by_id[record.id] = record
        for key in {(a.ecosystem, a.name) for a in record.affected}:
            self.by_package.setdefault(key, []).append(record)

    def query(self, ecosystem: str, name: str, version: str | None) -> list[Record]:
        norm = normalize_name(ecosystem, name)
        hits = [
            r
            for r in self.by_package.get((ecosystem, norm), [])
            if any(a.ecosystem == ecosystem and a.name == norm and a.matches(version) for a in r.affected)
        ]
        return sorted(hits, key=lambda r: r.id)


class QueryError(ValueError):
    """A request the API cannot answer; its message goes back to the client."""


def parse_query(q: Any) -> tuple[str, str, str | None]:
    if not isinstance(q, dict):
        raise QueryError("a query must be a JSON object")
    if "commit" in q:
        raise QueryError("commit queries are not supported by this mirror")
    version = q.get("version")
    if version is not None and (not isinstance(version, str) or not version or len(version) > 200):
        raise QueryError("'version' must be a non-empty string")
    pkg = q.get("package")
    if not isinstance(pkg, dict):
        raise QueryError("'package' must be an object with 'name' and 'ecosystem', or 'purl'")
    purl = pkg.get("purl")
    if purl is not None:
        if not isinstance(purl, str) or len(purl) > 500:
            raise QueryError("'package.purl' must be a string")
        m = _PURL.match(purl)
        if not m or m.group("type") not in _PURL_ECOSYSTEMS:
            raise QueryError(f"unsupported purl '{purl[:100]}'")
        if m.group("version") and version:
            raise QueryError("give the version in the purl or in 'version', not both")
        return _PURL_ECOSYSTEMS[m.group("type")], unquote(m.group("name")), version or m.group("version")
    name, eco = pkg.get("name"), pkg.get("ecosystem")
    if not isinstance(name, str) or not isinstance(eco, str) or not name or not eco:
        raise QueryError("'package' needs 'name' and 'ecosystem' strings")
    if len(name) > 300 or len(eco) > 100:
        raise QueryError("package name or ecosystem too long")
    return eco, name, version


class MirrorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        store: RecordStore,
        port: int = 0,
        *,
        quiet: bool = True,
        request_timeout: float = REQUEST_TIMEOUT_S,
        max_concurrent: int = MAX_CONCURRENT,
    ) -> None:
        self.store = store
        self.quiet = quiet
        self.request_timeout = request_timeout
        self.slots = threading.BoundedSemaphore(max_concurrent)
        super().__init__((HOST, port), MirrorHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class MirrorHandler(BaseHTTPRequestHandler):
    server: MirrorServer
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT_S  # socket timeout: a slow or silent client cannot hold a thread
    server_version = "osv-mirror/1"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.request_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"osv-mirror: {self.address_string()} {format % args}\n")

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        # The public API's error shape (gRPC status code + message).
        grpc = {400: 3, 404: 5, 411: 3, 413: 8, 503: 14}.get(int(status), 2)
        self._send(int(status), {"code": grpc, "message": message})

    def _guarded(self, handler: Any) -> None:
        if not self.server.slots.acquire(timeout=_SLOT_WAIT_S):
            self.close_connection = True
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "too many requests at once; retry")
            return
        try:
            handler()
        finally:
            self.server.slots.release()

    def do_GET(self) -> None:
        self._guarded(self._get)

    def do_POST(self) -> None:
        self._guarded(self._post)

    def _get(self) -> None:
        path = self.path.split("?", 1)[0]
        m = _VULN_PATH.match(path)
        if not m:
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        record = self.server.store.by_id.get(m.group(1))
        if record is None:
            self._error(HTTPStatus.NOT_FOUND, "Bug not found.")
            return
        self._send(200, record.data)

    def _read_json(self) -> Any:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise QueryError("chunked request bodies are not accepted; send Content-Length")
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self.close_connection = True
            raise QueryError("Content-Length is required")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise _TooLarge(f"request body over {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(length)
        if len(raw) != length:
            self.close_connection = True
            raise QueryError("request body shorter than its Content-Length")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise QueryError("request body is not valid JSON") from None

    def _post(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in ("/v1/query", "/v1/querybatch"):
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        try:
            body = self._read_json()
            if path == "/v1/query":
                eco, name, version = parse_query(body)
                hits = self.server.store.query(eco, name, version)
                self._send(200, {"vulns": [r.data for r in hits]} if hits else {})
                return
            queries = body.get("queries") if isinstance(body, dict) else None
            if not isinstance(queries, list):
                raise QueryError("'queries' must be a list")
            if len(queries) > MAX_BATCH:
                raise QueryError(f"at most {MAX_BATCH} queries per batch")
            results = []
            for q in queries:
                eco, name, version = parse_query(q)
                hits = self.server.store.query(eco, name, version)
                results.append(
                    {"vulns": [{"id": r.id, "modified": r.modified} for r in hits]} if hits else {}
                )
            self._send(200, {"results": results})
        except _TooLarge as exc:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc))
        except QueryError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))


class _TooLarge(QueryError):
    pass


@contextmanager
def running(records: Path | RecordStore, port: int = 0, **kw: Any) -> Iterator[MirrorServer]:
    """Serve in a background thread for the duration of a `with` block (tests, demos)."""
    store = records if isinstance(records, RecordStore) else RecordStore.load(records)
    server = MirrorServer(store, port, **kw)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- command line ----------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    try:
        store = RecordStore.load(Path(args.records))
        server = MirrorServer(store, args.port, quiet=args.quiet)
    except RecordError as exc:
        print(f"osv-mirror: error: {exc}", file=sys.stderr)
        return 2
    except MissingExtraError as exc:
        print(f"osv-mirror: error: {exc}\n  hint: {exc.hint}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"osv-mirror: error: cannot listen on {HOST}:{args.port}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    print(server.url, flush=True)
    print(f"osv-mirror: {len(store.by_id)} records from {args.records} at {server.url}", file=sys.stderr)
    deadline = time.monotonic() + args.max_lifetime if args.max_lifetime else None
    while not stop.wait(0.2):
        if deadline is not None and time.monotonic() > deadline:
            print("osv-mirror: --max-lifetime reached, stopping", file=sys.stderr)
            break
    server.shutdown()
    server.server_close()
    return 0


def _is_mirror(pid: int) -> bool:
    """Whether pid is (still) a mirror process, so a stale pidfile never kills a stranger."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return b"gate.osv_mirror" in cmdline.read_bytes()
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _stop(pidfile: Path, wait_s: float = 10.0) -> int:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return 0  # nothing running
    if _is_mirror(pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + wait_s
        while time.monotonic() < end and _is_mirror(pid):
            time.sleep(0.05)
    pidfile.unlink(missing_ok=True)
    return 0


def _background(args: argparse.Namespace) -> int:
    """Start a detached mirror, wait until it accepts connections, record its pid."""
    from gate.childenv import child_env

    pidfile = Path(args.pidfile)
    _stop(pidfile)  # a mirror left over from an interrupted run holds the port
    cmd = [sys.executable, "-m", "gate.osv_mirror", "--records", args.records, "--port", str(args.port)]
    if args.max_lifetime:
        cmd += ["--max-lifetime", str(args.max_lifetime)]
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    log = pidfile.with_suffix(".log")
    # The detached mirror outlives this process: its stderr goes to a file, not to a pipe nobody reads.
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log_fh, start_new_session=True, env=child_env()
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode(errors="replace").strip()
    proc.stdout.close()
    if not line.startswith("http://"):
        proc.wait(timeout=5)
        err = log.read_text(errors="replace").strip()
        print(err or "osv-mirror: error: the mirror did not start", file=sys.stderr)
        return 2
    pidfile.write_text(f"{proc.pid}\n")
    print(line, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m gate.osv_mirror",
        description="Serve a directory of OSV records as an OSV-compatible API on 127.0.0.1.",
    )
    p.add_argument("--records", help="directory of OSV JSON records (searched recursively)")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    p.add_argument("--quiet", action="store_true", default=True, help=argparse.SUPPRESS)
    p.add_argument("--verbose", dest="quiet", action="store_false", help="log every request to stderr")
    p.add_argument("--max-lifetime", type=float, default=0, help="stop after this many seconds (0: never)")
    p.add_argument("--background", action="store_true", help="detach; return once it accepts connections")
    p.add_argument("--pidfile", help="with --background or --stop: where the mirror's pid is kept")
    p.add_argument("--stop", action="store_true", help="stop the mirror recorded in --pidfile")
    args = p.parse_args(argv)
    if args.stop or args.background:
        if not args.pidfile:
            p.error("--background and --stop need --pidfile")
        if args.stop:
            return _stop(Path(args.pidfile))
    if not args.records:
        p.error("--records is required")
    if not 0 <= args.port <= 65535:
        p.error("--port must be 0..65535")
    if args.background:
        return _background(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
