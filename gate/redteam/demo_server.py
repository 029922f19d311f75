"""A small OpenAI-compatible server for the demo release's tiny model, on loopback only.

    python -m gate.redteam.demo_server --model examples/demo-release/model --port 18765
    python -m gate.redteam.demo_server --wait 127.0.0.1:18765   # until it answers (60 s)

It serves POST /v1/chat/completions (and /v1/completions) with a local Hugging
Face causal LM loaded from safetensors only (no remote code), answers GET /v1
and /v1/models, and is bounded: it binds 127.0.0.1, stops after --max-requests
requests or --max-seconds seconds, caps request bodies and generated tokens.
It exists so that `make demo` can show the adversarial check without network.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gate.redteam.demo_guard import ApiControls, JsonHandler, serve_bounded

MAX_BODY = 256 * 1024
MAX_NEW_TOKENS = 32


class TinyModel:
    def __init__(self, folder: Path, seed: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.manual_seed(seed)
        # A tiny model gains nothing from threads; on a busy machine they only contend.
        torch.set_num_threads(1)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, use_safetensors=True, trust_remote_code=False
        )
        self.model: Any = model.train(False)  # inference mode: no dropout
        self.context = int(getattr(self.model.config, "n_positions", 128))
        self.lock = threading.Lock()

    def complete(self, prompt: str, max_tokens: int) -> str:
        new = max(1, min(max_tokens, MAX_NEW_TOKENS, self.context // 2))
        ids = self.tok(prompt, return_tensors="pt").input_ids[:, -(self.context - new) :]
        with self.lock, self.torch.no_grad():
            out = self.model.generate(
                ids,
                attention_mask=self.torch.ones_like(ids),
                max_new_tokens=new,
                do_sample=True,
                top_k=50,
                pad_token_id=self.tok.eos_token_id,
            )
        return str(self.tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


class _Handler(JsonHandler):
    server: DemoServer

    def do_GET(self) -> None:
        if not self.server.count():
            self._send(503, {"error": {"message": "request budget spent"}})
            return
        self._send(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model"}]})

    def do_POST(self) -> None:
        if not self.server.count():
            self._send(503, {"error": {"message": "request budget spent"}})
            return
        refused = self.server.controls.refuse(self.headers.get("Authorization"))
        if refused is not None:
            self._send(refused, {"error": {"message": "unauthorized" if refused == 401 else "rate limited"}})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {"error": {"message": "request too large"}})
                return
            body = json.loads(self.rfile.read(length) or b"{}")
            max_tokens = int(body.get("max_tokens") or MAX_NEW_TOKENS)
            if self.path.rstrip("/").endswith("/chat/completions"):
                prompt = str(body["messages"][-1]["content"])
                text = self.server.model.complete(prompt, max_tokens)
                choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}}
                kind = "chat.completion"
            elif self.path.rstrip("/").endswith("/completions"):
                text = self.server.model.complete(str(body["prompt"]), max_tokens)
                choice = {"index": 0, "text": text}
                kind = "text_completion"
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            self._send(400, {"error": {"message": f"bad request: {exc}"}})
            return
        choice["finish_reason"] = "length"
        self._send(
            200,
            {
                "id": f"demo-{self.server.requests}",
                "object": kind,
                "created": int(time.time()),
                "model": self.server.model_name,
                "choices": [choice],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            },
        )


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model: TinyModel, host: str, port: int, max_requests: int, model_name: str) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise SystemExit(f"demo server: refusing to listen on {host}: loopback addresses only")
        super().__init__((host, port), _Handler)
        self.model = model
        self.model_name = model_name
        self.max_requests = max_requests
        self.requests = 0
        self.controls = ApiControls()  # none unless --api-key-env / --rate-limit
        self._lock = threading.Lock()

    def count(self) -> bool:
        with self._lock:
            self.requests += 1
            over = self.requests > self.max_requests
        if over:
            threading.Thread(target=self.shutdown, daemon=True).start()
        return not over


def serve(
    model_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_requests: int = 5000,
    model_name: str = "demo-tiny-gpt2",
) -> DemoServer:
    """Build a server (not yet serving); `serve_forever()` runs it."""
    return DemoServer(TinyModel(model_dir), host, port, max_requests, model_name)


def wait_ready(address: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{address}/v1/models", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m gate.redteam.demo_server", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--model", type=Path, help="Hugging Face model folder (safetensors)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18765)
    ap.add_argument("--max-requests", type=int, default=5000)
    ap.add_argument("--max-seconds", type=float, default=900.0)
    ap.add_argument("--api-key-env", help="Require this variable's value as a bearer token (as a gateway).")
    ap.add_argument("--rate-limit", metavar="N/SECONDS", help="Answer 429 beyond N requests per window.")
    ap.add_argument(
        "--wait", metavar="HOST:PORT", help="Only wait until a server answers there; exit 1 if not."
    )
    args = ap.parse_args(argv)
    if args.wait:
        return 0 if wait_ready(args.wait) else 1
    if args.model is None:
        ap.error("--model is required")
    srv = serve(args.model, host=args.host, port=args.port, max_requests=args.max_requests)
    limit = None
    if args.rate_limit:
        n, _, window = args.rate_limit.partition("/")
        limit = (int(n), float(window or 60))
    key = os.environ.get(args.api_key_env) if args.api_key_env else None
    srv.controls = ApiControls(key, limit)
    banner = f"demo model server on http://{args.host}:{srv.server_address[1]}/v1"
    return serve_bounded(srv, args.max_seconds, banner)


if __name__ == "__main__":
    sys.exit(main())
