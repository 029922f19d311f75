"""The guard in front of the endpoint, as the gate runs it: an OpenAI-compatible server on loopback.

    python -m gate.redteam.guard_server SPEC.json

The gate starts this module as a child process (gate.redteam.guard) and attacks
it instead of the bare endpoint. Every answer says what the guard decided in the
`X-Guard-Decision` header (`blocked`, `passed` or `error`) and in one line of a
decision log, so block rates are counted from the guard's own decisions, never
guessed from refusal wording.

- `nemo-guardrails`: the release's NeMo Guardrails config (already copied and
  rewritten by the gate) is loaded through the Python API (`LLMRails`); its main
  model is the release's endpoint. A rail that stops the conversation is a block.
  Any exception, and the "internal error" answer NeMo gives when a rail cannot
  run (an embedding model missing offline), is an `error` with HTTP 422: never a
  block.
- `lakera-compatible`: each prompt is screened by POSTing `{"messages": [...]}`
  to the policy's guard URL; `"flagged": true` is a block, `false` forwards the
  request to the release's endpoint. The model's answer is then screened too,
  as Lakera Guard v2 screens a whole interaction (the prompt and the answer as
  an `assistant` message): flagged, the answer is withheld and the request is
  a block. Any other answer from the guard is an `error`.

The server binds 127.0.0.1 only, caps request bodies, and stops after
`max_requests` requests or `max_seconds` seconds. Its output goes to a file the
gate reads only on failure; nothing is printed per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from gate.models.base import StrictModel

MAX_BODY = 1024 * 1024
MAX_REPLY = 4 * 1024 * 1024
IDLE_SECONDS = 120.0
REFUSAL = "I'm sorry, I can't respond to that."
# What NeMo Guardrails answers (HTTP 200 from its own server) when a rail fails to run.
NEMO_INTERNAL_ERROR = "internal error"
Decision = Literal["blocked", "passed", "error"]


class ServerSpec(StrictModel):
    """What the gate asks the child to run; written to a file, never holding a secret."""

    kind: Literal["nemo-guardrails", "lakera-compatible"]
    ready_file: str
    decision_log: str
    max_requests: int = Field(ge=1)
    max_seconds: float = Field(gt=0)
    config_dir: str | None = None  # nemo: the gate's copy of the release's config
    guard_url: str | None = None  # lakera: the screening API
    guard_key_env: str | None = None  # lakera: the variable (in this child's env) holding its key
    target_url: str | None = None  # lakera: the release's OpenAI-compatible base URL
    target_model: str | None = None
    target_key_env: str | None = None
    timeout_s: float = 30.0


class GuardError(Exception):
    """The guard could not decide: counted as an error, never as a block."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer to report, not a hop to follow elsewhere


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_json(url: str, body: dict[str, Any], key: str | None, timeout: float) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 - policy URLs, http(s) only
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            raw = resp.read(MAX_REPLY + 1)
            status = resp.status
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise GuardError(f"{url}: {getattr(exc, 'reason', exc)}") from None
    if len(raw) > MAX_REPLY:
        raise GuardError(f"{url}: answer over {MAX_REPLY} bytes")
    try:
        return status, json.loads(raw)
    except ValueError:
        raise GuardError(f"{url}: answer is not JSON") from None


class LakeraScreen:
    def __init__(self, spec: ServerSpec) -> None:
        assert spec.guard_url and spec.target_url
        self.spec = spec
        self.guard_key = os.environ.get(spec.guard_key_env or "", "") or None
        self.target_key = os.environ.get(spec.target_key_env or "", "") or None

    def _flagged(self, messages: list[dict[str, Any]]) -> bool:
        assert self.spec.guard_url
        status, verdict = post_json(
            self.spec.guard_url, {"messages": messages}, self.guard_key, self.spec.timeout_s
        )
        if status != 200 or not isinstance(verdict, dict) or not isinstance(verdict.get("flagged"), bool):
            raise GuardError(f"guard answered HTTP {status} without a boolean 'flagged'")
        return bool(verdict["flagged"])

    def answer(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> tuple[Decision, str]:
        spec = self.spec
        assert spec.guard_url and spec.target_url
        if self._flagged(messages):
            return "blocked", REFUSAL
        fwd = {k: v for k, v in body.items() if k in ("messages", "max_tokens", "temperature", "n")}
        fwd["model"] = spec.target_model or body.get("model") or "model"
        url = spec.target_url.rstrip("/") + "/chat/completions"
        status, reply = post_json(url, fwd, self.target_key, spec.timeout_s)
        try:
            assert status == 200
            text = reply["choices"][0]["message"]["content"]
            assert isinstance(text, str)
        except (AssertionError, KeyError, IndexError, TypeError):
            raise GuardError(
                f"endpoint behind the guard answered HTTP {status} without a completion"
            ) from None
        # The answer is screened with the prompt it answers: an output rail.
        if self._flagged([*messages, {"role": "assistant", "content": text}]):
            return "blocked", REFUSAL
        return "passed", text


class NemoScreen:
    def __init__(self, spec: ServerSpec) -> None:
        assert spec.config_dir
        os.environ["NEMO_GUARDRAILS_NO_USAGE_STATS"] = "1"
        from nemoguardrails import LLMRails, RailsConfig

        self.rails = LLMRails(RailsConfig.from_path(spec.config_dir), verbose=False)
        # One event loop for every request: NeMo's clients are bound to the loop they start on.
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.timeout = spec.timeout_s

    def answer(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> tuple[Decision, str]:
        coro = self.rails.generate_async(messages=messages, options={"log": {"activated_rails": True}})
        try:
            res = asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=self.timeout * 4)
        except Exception as exc:  # a rail or the model failed: an error, never a block
            raise GuardError(f"{type(exc).__name__}: {str(exc)[:300]}") from None
        reply = res.response
        if isinstance(reply, list):
            reply = reply[-1].get("content", "") if reply and isinstance(reply[-1], dict) else ""
        text = str(reply or "")
        if NEMO_INTERNAL_ERROR in text.lower():
            raise GuardError(f"NeMo Guardrails answered with an internal error: {text[:200]}")
        activated = res.log.activated_rails if res.log is not None else []
        stopped = any(r.stop and r.type in ("input", "output") for r in activated)
        return ("blocked" if stopped else "passed"), text


class _Handler(BaseHTTPRequestHandler):
    """One connection: kept alive across requests, each answer sent in one write.

    A client like garak's (the OpenAI library) reuses one connection for every attempt: an
    HTTP/1.0 server makes it open a new one (and this server start a new thread) per request.
    Headers and body are buffered and leave in one segment with Nagle off, so a kept-alive
    connection never waits for a delayed ACK between them.
    """

    server: GuardServer
    protocol_version = "HTTP/1.1"
    wbufsize = 64 * 1024  # flushed by BaseHTTPRequestHandler after each request
    disable_nagle_algorithm = True
    timeout = IDLE_SECONDS  # an idle kept-alive connection is closed, never held for ever

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any], decision: str | None = None) -> None:
        data = json.dumps(body).encode()
        if code >= 400 and code != 422:
            # The request may not have been read whole (too large, malformed): the rest of the
            # stream cannot be trusted to start a request.
            self.close_connection = True
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if decision:
            self.send_header("X-Guard-Decision", decision)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if not self.server.count():
            self._send(503, {"error": {"message": "request budget spent"}})
            return
        self._send(200, {"object": "list", "data": [{"id": "guarded", "object": "model"}]})

    def do_POST(self) -> None:
        srv = self.server
        if not srv.count():
            self._send(503, {"error": {"message": "request budget spent"}})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {"error": {"message": "request too large"}})
                return
            body = json.loads(self.rfile.read(length) or b"{}")
            messages = body["messages"]
            prompt = messages[-1]["content"]
            if not isinstance(prompt, str) or not self.path.rstrip("/").endswith("/chat/completions"):
                raise ValueError("expected an OpenAI chat completion request")
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            self._send(400, {"error": {"message": f"bad request: {exc}"}})
            return
        start = time.perf_counter()
        try:
            decision, text = srv.screen.answer([{"role": "user", "content": prompt}], body)
            why = ""
        except GuardError as exc:
            decision, text, why = "error", "", str(exc)
        srv.record(prompt, decision, time.perf_counter() - start, why)
        if decision == "error":
            # 422, not 500: garak retries a 500 without end; a 422 is a failed generation it counts.
            self._send(422, {"error": {"message": f"guard error: {why}"}}, decision)
            return
        self._send(
            200,
            {
                "id": f"guard-{srv.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": str(body.get("model") or "guarded"),
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            },
            decision,
        )


class GuardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, screen: Any, spec: ServerSpec, host: str = "127.0.0.1") -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise SystemExit(f"guard server: refusing to listen on {host}: loopback only")
        super().__init__((host, 0), _Handler)
        self.screen = screen
        self.max_requests = spec.max_requests
        self.requests = 0
        self._lock = threading.Lock()
        self._log = Path(spec.decision_log).open("a", encoding="utf-8")  # noqa: SIM115 - lives as the server

    def count(self) -> bool:
        with self._lock:
            self.requests += 1
            over = self.requests > self.max_requests
        if over:
            threading.Thread(target=self.shutdown, daemon=True).start()
        return not over

    def record(self, prompt: str, decision: str, seconds: float, why: str) -> None:
        line = json.dumps(
            {
                "prompt_sha256": hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest(),
                "decision": decision,
                "seconds": round(seconds, 4),
                "error": why[:300] or None,
            }
        )
        with self._lock:
            self._log.write(line + "\n")
            self._log.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m gate.redteam.guard_server SPEC.json", file=sys.stderr)
        return 2
    spec = ServerSpec.model_validate_json(Path(args[0]).read_bytes())
    screen: Any = NemoScreen(spec) if spec.kind == "nemo-guardrails" else LakeraScreen(spec)
    srv = GuardServer(screen, spec)
    timer = threading.Timer(spec.max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    # The port, written atomically: the gate polls for this file.
    ready = Path(spec.ready_file)
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(str(srv.server_address[1]), "utf-8")
    os.replace(tmp, ready)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        timer.cancel()
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
