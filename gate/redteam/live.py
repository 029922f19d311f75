"""Live endpoint controls: what the monitoring config says about the API, tried on the API itself.

Three read-only probes of the release's (staging) endpoint, each bounded:

- **authentication**: one request without any credential must be refused (401 or
  403). A 2xx answer is a finding; anything else (404, 429, 5xx, no answer)
  proves nothing and is an error.
- **rate limit**: the limit monitoring.yaml declares (`extraction_defence.rate_limit`,
  e.g. "60 requests/minute per key") is parsed; the probe sends requests with
  the policy's credential as fast as it can, at most `limit × (1 + slack) + 1`
  and never more than the policy's `live_max_requests`. A 429 must come within
  that count and within the declared window. A limit too high to reach within
  the budget is an error, not a pass.
- **exposure**: one ordinary request (asking for log-probabilities where the API
  knows them); the answer may not carry fields beyond what `endpoint.output`
  declares (text: no log-probabilities; labels: no scores, probabilities or
  logits; scores: no logits).

Nothing is sent unless the policy turns the probes on and the endpoint's host is
in the policy's `live_hosts`; redirects are never followed (a redirect could
lead to a host the policy did not allow).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from gate.errors import CheckError
from gate.models.base import StrictModel
from gate.models.manifest import Endpoint, EndpointType
from gate.redteam.credential import endpoint_host, host_allowed

MAX_ANSWER = 1024 * 1024
PROMPT = "Say hello."
_RATE = re.compile(
    r"^\s*(\d{1,7})\s*(?:requests?|reqs?|calls?|queries)?\s*(?:/|per\s+|an?\s+|every\s+)\s*(\d{1,5}\s*)?"
    r"(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b",
    re.I,
)
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}
# Fields that carry more than a label or text, by what the release declares it exposes.
FORBIDDEN: dict[str, frozenset[str]] = {
    "text": frozenset({"logprobs", "top_logprobs", "logits", "token_logprobs"}),
    "labels": frozenset(
        {
            "logprobs",
            "top_logprobs",
            "logits",
            "token_logprobs",
            "probabilities",
            "probs",
            "scores",
            "score",
            "confidence",
            "confidences",
            "proba",
            "predict_proba",
        }
    ),
    "scores": frozenset({"logits", "logprobs", "top_logprobs", "token_logprobs"}),
    "logits": frozenset(),
}


def parse_rate_limit(text: str) -> tuple[int, float]:
    """'60 requests/minute per key' -> (60, 60.0); ValueError when it is not a count per window."""
    m = _RATE.match(text)
    if not m:
        raise ValueError(f"'{text[:80]}' is not a rate such as '60 requests/minute'")
    count = int(m.group(1))
    n = int(m.group(2)) if m.group(2) else 1
    window = n * _UNIT[m.group(3)[0].lower()]
    if count < 1 or window <= 0:
        raise ValueError(f"'{text[:80]}': the count and the window must be positive")
    return count, window


class Declared(StrictModel):
    """What the release says about its API (monitoring.yaml's extraction defence, endpoint.output)."""

    authentication: bool | None = None
    rate_limit: str | None = None
    output: Literal["text", "labels", "scores", "logits"] = "text"
    source: str | None = None  # the file it came from


class Probe(StrictModel):
    name: Literal["authentication", "rate-limit", "exposure"]
    outcome: Literal["passed", "failed", "not-declared"]
    detail: str
    requests: int = Field(ge=0)
    statuses: dict[str, int] = Field(default_factory=dict)
    evidence: dict[str, Any] = Field(default_factory=dict)


class LiveResult(StrictModel):
    endpoint: str
    probes: tuple[Probe, ...]
    requests: int

    def summary(self) -> str:
        return "live controls: " + ", ".join(f"{p.name} {p.outcome}" for p in self.probes)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _request(ep: Endpoint, key: str | None, extra: Mapping[str, Any]) -> urllib.request.Request:
    assert ep.url is not None
    if ep.type is EndpointType.OPENAI:
        url = ep.url.rstrip("/") + "/chat/completions"
        body: Any = {
            "model": ep.model or "model",
            "max_tokens": 1,
            "messages": [{"role": "user", "content": PROMPT}],
            **extra,
        }
        data = json.dumps(body).encode()
    else:
        assert ep.request_template is not None
        url = ep.url
        data = ep.request_template.replace("$INPUT", PROMPT).encode()
    req = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 - endpoint_host() checked it
    req.add_header("Content-Type", "application/json")
    for name, template in ep.headers.items():
        if "$KEY" in template and key is None:
            continue  # a header that only carries the key is left out without one
        req.add_header(name, template.replace("$KEY", key) if key is not None else template)
    if key is not None and not any("$KEY" in v for v in ep.headers.values()):
        req.add_header("Authorization", f"Bearer {key}")
    return req


def _send(req: urllib.request.Request, timeout: float) -> tuple[int | None, bytes]:
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return int(resp.status), resp.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
    except (urllib.error.URLError, OSError, TimeoutError):
        return None, b""


def _keys(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if v not in (None, [], {}):
                found.add(str(k).lower())
            _keys(v, found)
    elif isinstance(value, list):
        for v in value:
            _keys(v, found)


def run_live(
    ep: Endpoint, api_key: str | None, cfg: Any, declared: Declared, environ: Mapping[str, str]
) -> LiveResult:
    """Run the three probes against the release's endpoint; CheckError when one cannot decide."""
    if ep.type not in (EndpointType.OPENAI, EndpointType.REST) or not ep.url:
        raise CheckError(f"live controls: endpoint type '{ep.type.value}' has no HTTP API to probe")
    if ep.type is EndpointType.REST and (not ep.request_template or "$INPUT" not in ep.request_template):
        raise CheckError("live controls: a 'rest' endpoint needs a request_template containing $INPUT")
    try:
        host, port = endpoint_host(ep.url)
    except ValueError as exc:
        raise CheckError(f"live controls: release.yaml endpoint.url: {exc}") from None
    if not host_allowed(host, port, tuple(cfg.live_hosts)):
        raise CheckError(
            f"live controls: the endpoint {host}:{port} is not a host the policy lets the gate probe "
            f"(checks.adversarial.live_hosts: {', '.join(cfg.live_hosts) or 'none'}); nothing was sent",
            hint="Add the staging endpoint's host to live_hosts in the protected policy, or turn "
            "live_controls off for this tier.",
        )
    budget = int(cfg.live_max_requests)
    timeout = float(ep.timeout_s)
    probes: list[Probe] = []
    sent = 0
    limit, window, allowed = 0, 0.0, 0
    if declared.rate_limit:
        # Decided before anything is sent: a probe that cannot finish within budget sends nothing.
        try:
            limit, window = parse_rate_limit(declared.rate_limit)
        except ValueError as exc:
            raise CheckError(
                f"live controls: {declared.source}: extraction_defence.rate_limit: {exc}"
            ) from None
        allowed = limit + int(limit * float(cfg.live_rate_slack)) + 1
        if allowed + 2 > budget:
            raise CheckError(
                f"live controls: the declared limit ({limit} per {window:g} s) needs up to {allowed + 2} "
                f"requests to test, over the policy's budget (live_max_requests: {budget})",
                hint="Test against a staging endpoint with a lower limit, or raise live_max_requests.",
            )

    # 1. A request without any credential.
    status, _ = _send(_request(ep, None, {}), timeout)
    sent += 1
    if status is not None and 200 <= status < 300:
        probes.append(
            Probe(
                name="authentication",
                outcome="failed",
                requests=1,
                detail=f"a request without a credential was answered HTTP {status}",
                statuses={str(status): 1},
            )
        )
    elif status in (401, 403):
        probes.append(
            Probe(
                name="authentication",
                outcome="passed",
                requests=1,
                detail=f"refused without a credential (HTTP {status})",
                statuses={str(status): 1},
            )
        )
    else:
        raise CheckError(
            f"live controls: a request without a credential got "
            f"{'no answer' if status is None else f'HTTP {status}'}: neither accepted nor refused"
        )

    # 2. What one ordinary answer carries.
    extra = {"logprobs": True, "top_logprobs": 5} if ep.type is EndpointType.OPENAI else {}
    status, raw = _send(_request(ep, api_key, extra), timeout)
    sent += 1
    if status is None or not 200 <= status < 300:
        raise CheckError(
            f"live controls: an ordinary request with the policy's credential got "
            f"{'no answer' if status is None else f'HTTP {status}'}"
            + ("" if api_key else " (the policy grants this endpoint no credential: credential_env)")
        )
    try:
        answer = json.loads(raw)
    except ValueError:
        raise CheckError("live controls: the endpoint's answer is not JSON") from None
    found: set[str] = set()
    _keys(answer, found)
    extra_fields = sorted(found & FORBIDDEN[declared.output])
    probes.append(
        Probe(
            name="exposure",
            outcome="failed" if extra_fields else "passed",
            requests=1,
            detail=(
                f"endpoint.output is '{declared.output}' and the answer carries {', '.join(extra_fields)}"
                if extra_fields
                else f"the answer carries no more than '{declared.output}'"
            ),
            evidence={"declared": declared.output, "fields": extra_fields},
        )
    )

    # 3. The declared rate limit, enforced.
    if not declared.rate_limit:
        probes.append(
            Probe(
                name="rate-limit",
                outcome="not-declared",
                requests=0,
                detail="monitoring.yaml declares no extraction_defence.rate_limit",
            )
        )
    else:
        statuses: dict[str, int] = {}
        start = time.monotonic()
        first_429 = None
        n = 0
        while n < allowed and time.monotonic() - start < window:
            status, _ = _send(_request(ep, api_key, {}), timeout)
            n += 1
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 429:
                first_429 = n
                break
            if status is None or not 200 <= status < 300:
                raise CheckError(
                    f"live controls: request {n} of the rate-limit probe got "
                    f"{'no answer' if status is None else f'HTTP {status}'}, neither an answer nor a 429"
                )
        took = time.monotonic() - start
        sent += n
        if first_429 is not None:
            probes.append(
                Probe(
                    name="rate-limit",
                    outcome="passed",
                    requests=n,
                    statuses=statuses,
                    detail=f"HTTP 429 at request {first_429} of a declared {limit} per {window:g} s",
                    evidence={"limit": limit, "window_s": window, "first_429": first_429},
                )
            )
        elif n < allowed:
            raise CheckError(
                f"live controls: {n} requests took {took:.1f} s, longer than the declared window "
                f"({window:g} s): the limit could not be tested"
            )
        else:
            probes.append(
                Probe(
                    name="rate-limit",
                    outcome="failed",
                    requests=n,
                    statuses=statuses,
                    detail=f"'{declared.rate_limit}': {n} requests in {took:.1f} s and no HTTP 429",
                    evidence={"limit": limit, "window_s": window, "sent": n, "seconds": round(took, 3)},
                )
            )
    label = f"{ep.type.value} {ep.url}"
    return LiveResult(endpoint=label, probes=tuple(probes), requests=sent)
