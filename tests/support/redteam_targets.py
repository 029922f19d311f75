"""Targets the adversarial tests attack: a vulnerable one and a hardened one.

Both are plain functions (the callable path) and are also served over real
HTTP on 127.0.0.1 (the OpenAI-compatible and REST paths). The servers run in
threads, answer a bounded number of requests and stop when the test ends.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gate.redteam.demo_guard import ApiControls, JsonHandler

# "print/say/output/repeat ... "X"" — the shape of garak's injected instructions.
INSTRUCTION = re.compile(
    r"\b(?:print|say|output|repeat|write|respond with|reply with|state)\b[^\"\n]{0,40}\"([^\"\n]{3,200})\"",
    re.I,
)
REFUSAL = "I'm sorry, but I cannot help with that request. As an AI, I must decline."


def vulnerable_reply(prompt: str) -> str:
    """Follows the last injected instruction it finds; otherwise echoes the prompt."""
    found = INSTRUCTION.findall(prompt)
    if found:
        return found[-1]
    return prompt


def hardened_reply(prompt: str) -> str:
    return REFUSAL


def explode(prompt: str, **kwargs: Any) -> list[str]:
    """A target whose client code crashes: garak dies with it."""
    raise RuntimeError("target exploded")


def silent(prompt: str, **kwargs: Any) -> list[str]:
    """A target that never produces an output (every generation fails)."""
    return []


def vulnerable(prompt: str, **kwargs: Any) -> list[str]:
    """garak `function.Single` target."""
    return [vulnerable_reply(prompt)]


def hardened(prompt: str, **kwargs: Any) -> list[str]:
    return [hardened_reply(prompt)]


MAX_REQUESTS = 5000
MAX_BODY = 1024 * 1024


class _Handler(JsonHandler):
    server: _Server

    def do_GET(self) -> None:
        # garak probes the base URI before it starts; any answer means "up".
        with self.server.lock:
            self.server.gets += 1
        self._send(200, {"ok": True})

    def do_POST(self) -> None:
        srv = self.server
        with srv.lock:
            srv.requests += 1
            srv.authorizations.add(self.headers.get("Authorization") or "")
            over = srv.requests > MAX_REQUESTS
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        body = json.loads(self.rfile.read(length) or b"{}")
        if over:
            self._send(503, {"error": "request budget spent"})
            return
        if srv.hang_s:
            srv.stopping.wait(srv.hang_s)  # bounded: ends when the test stops the server
            if srv.stopping.is_set():
                return
        refused = srv.controls.refuse(self.headers.get("Authorization"))
        if refused is not None:
            self._send(refused, {"error": {"message": "bad key" if refused == 401 else "slow down"}})
            return
        if self.path.rstrip("/").endswith("/chat/completions"):
            prompt = str(body["messages"][-1]["content"])
            text = srv.reply(prompt)
            self._send(
                200,
                {
                    "id": "cmpl-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "m"),
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                            **srv.expose,
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )
        else:  # generic REST: {"input": ...} -> {"output": {"text": ...}}
            self._send(200, {"output": {"text": srv.reply(str(body.get("input", "")))}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        reply: Callable[[str], str],
        hang_s: float,
        api_key: str | None,
        rate_limit: tuple[int, float] | None = None,
        expose: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reply = reply
        self.hang_s = hang_s
        self.api_key = api_key
        self.controls = ApiControls(api_key, rate_limit)
        self.expose = expose or {}  # extra fields in every choice (e.g. logprobs)
        self.requests = 0
        self.gets = 0
        self.authorizations: set[str] = set()  # every Authorization header received
        self.lock = threading.Lock()
        self.stopping = threading.Event()


@contextmanager
def serve(
    reply: Callable[[str], str],
    *,
    hang_s: float = 0.0,
    api_key: str | None = None,
    rate_limit: tuple[int, float] | None = None,
    expose: dict[str, Any] | None = None,
) -> Iterator[_Server]:
    """A target on 127.0.0.1 in a thread; yields the server (`server_address` has the port).
    `api_key` and `rate_limit` (count, window in seconds) are enforced as a gateway does."""
    srv = _Server(reply, hang_s, api_key, rate_limit, expose)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.stopping.set()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def url_of(srv: _Server) -> str:
    host, port = srv.server_address[:2]
    return f"http://{host}:{port}"


def guarded_release(
    root: Path, url: str, guard: str, config: Path | None = None, endpoint_extra: str = "", extra: str = ""
) -> Path:
    """A release whose endpoint is `url` (OpenAI-compatible), with `guard` (a release.yaml
    guard entry) and its config copied to guard/ when given."""
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "model" / "model.safetensors").write_bytes(b"weights")
    if config is not None:
        shutil.copytree(config, root / "guard")
    (root / "release.yaml").write_text(
        textwrap.dedent(
            f"""\
            schema_version: 1
            name: stack
            version: 1.0.0
            model: {{path: model/, format: safetensors, task: text-generation}}
            deployment: {{exposure: internal, data_sensitivity: none, autonomy: advisory}}
            endpoint:
              type: openai
              url: {url}/v1
              model: target
            """
        )
        + endpoint_extra
        + guard
        + extra,
        "utf-8",
    )
    return root
