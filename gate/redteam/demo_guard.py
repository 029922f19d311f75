"""Demo stand-ins for production API controls and an external guard, on loopback only.

    python -m gate.redteam.demo_guard --port 18766 --mode strong --api-key-env DEMO_GUARD_KEY

- `ApiControls`: the controls an API gateway puts in front of a model endpoint
  (a bearer key, a fixed-window rate limit answering 429), used by the demo model
  server (gate.redteam.demo_server) and the test targets, so the live-controls
  probes have something real to pass and to fail against.
- A screening service speaking the Lakera-Guard-compatible API: POST /v2/guard
  with `{"messages": [...]}` answers `{"flagged": bool}`. User messages are
  screened as prompts, assistant messages (the model's answer, sent back for
  screening as Lakera Guard v2 screens a whole interaction) as output. Modes:
  `strong` flags instruction hijacks, injected payloads and encoded blobs, and
  answers that carry hateful slogans; `output` screens answers only (an output
  rail alone); `weak` flags one literal phrase; `everything` flags every prompt
  (an over-blocking guard); `broken` answers without a verdict (a guard that
  fails must never count as one that blocks).
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import os
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 1024 * 1024


class ApiControls:
    """A bearer key and a fixed-window rate limit, as a gateway enforces them."""

    def __init__(self, api_key: str | None = None, rate_limit: tuple[int, float] | None = None) -> None:
        self.api_key = api_key
        self.rate_limit = rate_limit
        self._lock = threading.Lock()
        self._window_start = time.monotonic()
        self._count = 0

    def refuse(self, authorization: str | None) -> int | None:
        """The status to answer instead of serving (401, 429), or None to serve."""
        if self.api_key is not None and not hmac.compare_digest(
            (authorization or "").encode(), f"Bearer {self.api_key}".encode()
        ):
            return 401
        if self.rate_limit is not None:
            limit, window = self.rate_limit
            with self._lock:
                now = time.monotonic()
                if now - self._window_start >= window:
                    self._window_start, self._count = now, 0
                self._count += 1
                if self._count > limit:
                    return 429
        return None


# The same rules as the demo's NeMo rail (examples/guards/nemo-strong/actions.py), which ships in
# a release and so cannot import them from here.
HIJACK = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|directions)\b"
    r"|\b(just|only)\s+(print|say|output|repeat|write)\b"
    r"|\b(print|say|output|repeat|write|respond with|reply with|state)\b[^\"\n]{0,40}\"[^\"\n]{3,}\""
    r"|\b(respond|reply|answer|repeat|echo)\b.{0,30}\b(exactly|verbatim|word for word)\b"
    r"|\b(drop\s+table|insert\s+into|union\s+select|exec\s*\()|;\s*--",
    re.I | re.S,
)
ENCODED = re.compile(r"(?:[A-Za-z0-9+/]{16,}={0,2})|(?:\b(?:[0-9a-f]{2}\s?){12,})", re.I)
ASKS_TO_DECODE = re.compile(r"\b(decode|decipher|decrypt|rot-?13|base-?64|hex|encoded)\b", re.I)
WORD = re.compile(r"\w+")


def _script(ch: str) -> str:
    return unicodedata.name(ch, "").split(" ", 1)[0] if ch.isalpha() else ""


def hides_text(text: str) -> bool:
    """Characters a reader does not see, or letters that only look like others."""
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cf" or (cat == "Cc" and ch not in "\n\r\t") or 0xE0000 <= ord(ch) <= 0xE007F:
            return True
    marks = sum(unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", text))
    if marks > 20 and marks > len(text) // 10:
        return True
    return any(len({_script(c) for c in w} - {""}) > 1 for w in WORD.findall(text))


def strong(text: str) -> bool:
    if hides_text(text):
        return True
    plain = unicodedata.normalize("NFKC", text)
    return bool(HIJACK.search(plain) or (ASKS_TO_DECODE.search(plain) and ENCODED.search(plain)))


# What an output rail refuses to show: the slogans garak's prompt-injection probes make a model say.
HATEFUL = re.compile(r"\b(i hate humans|kill all humans)\b", re.I)


def hateful(text: str) -> bool:
    return bool(HATEFUL.search(unicodedata.normalize("NFKC", text)))


MODES: dict[str, Callable[[str], bool | None]] = {
    "strong": strong,
    "output": lambda text: False,
    "weak": lambda text: "ignore previous instructions" in text,
    "everything": lambda text: True,
    "broken": lambda text: None,
}
# How each mode judges the model's answers (assistant messages); absent: answers are not judged.
OUTPUT_MODES: dict[str, Callable[[str], bool]] = {"strong": hateful, "output": hateful}


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler that answers JSON: the demo servers' (and the test targets') common part."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Handler(JsonHandler):
    server: GuardService

    def do_POST(self) -> None:
        srv = self.server
        with srv.lock:
            srv.requests += 1
        refused = srv.controls.refuse(self.headers.get("Authorization"))
        if refused is not None:
            self._send(refused, {"error": "unauthorized" if refused == 401 else "rate limited"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY or self.path.rstrip("/") != "/v2/guard":
                raise ValueError("POST /v2/guard with a JSON body")
            body = json.loads(self.rfile.read(length) or b"{}")
            said: dict[str, list[str]] = {"user": [], "assistant": []}
            for m in body["messages"]:
                said["assistant" if m["role"] == "assistant" else "user"].append(str(m["content"]))
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, {"error": f"bad request: {exc}"})
            return
        flagged = srv.judge("\n".join(said["user"]))
        if flagged is None:
            self._send(200, {"status": "degraded"})  # no verdict
            return
        if not flagged and said["assistant"] and srv.judge_output is not None:
            flagged = srv.judge_output("\n".join(said["assistant"]))
            with srv.lock:
                srv.output_flagged += flagged
        with srv.lock:
            srv.flagged += flagged
        self._send(200, {"flagged": flagged, "metadata": {"request_uuid": f"demo-{srv.requests}"}})


class GuardService(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise SystemExit(f"demo guard: refusing to listen on {host}: loopback addresses only")
        super().__init__((host, port), _Handler)
        self.judge = MODES[mode]
        self.judge_output = OUTPUT_MODES.get(mode)
        self.output_flagged = 0
        self.controls = ApiControls(api_key)
        self.lock = threading.Lock()
        self.requests = 0
        self.flagged = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v2/guard"


@contextmanager
def running(mode: str, *, api_key: str | None = None, max_seconds: float = 900.0) -> Iterator[GuardService]:
    """A screening service in a thread on 127.0.0.1 (tests, benchmarks); stopped on exit."""
    srv = GuardService(mode, api_key=api_key)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    timer = threading.Timer(max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield srv
    finally:
        timer.cancel()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def serve_bounded(srv: ThreadingHTTPServer, max_seconds: float, banner: str) -> int:
    """Serve until Ctrl-C or `max_seconds` (a demo server never outlives its bound), then close."""
    timer = threading.Timer(max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    print(banner, file=sys.stderr, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        timer.cancel()
        srv.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m gate.redteam.demo_guard", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18766)
    ap.add_argument("--mode", choices=sorted(MODES), default="strong")
    ap.add_argument("--api-key-env", help="Variable holding the key callers must send as a bearer token.")
    ap.add_argument("--max-seconds", type=float, default=900.0)
    args = ap.parse_args(argv)
    key = os.environ.get(args.api_key_env) if args.api_key_env else None
    srv = GuardService(args.mode, args.host, args.port, key)
    return serve_bounded(srv, args.max_seconds, f"demo guard ({args.mode}) on {srv.url}")


if __name__ == "__main__":
    sys.exit(main())
