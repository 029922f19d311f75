"""Live endpoint controls: what the release declares about its API, and the findings of the probes."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from gate.checks.adversarial.rules import finding
from gate.checks.interface import CheckContext
from gate.errors import CheckError
from gate.models.finding import Finding


def _declared_controls(ctx: CheckContext) -> Any:
    """What the release declares about its API: monitoring.yaml's extraction defence, endpoint.output."""
    from gate.checks.configfile import ConfigFileError, load_one
    from gate.checks.monitoring.spec import MonitoringSpec
    from gate.redteam.live import Declared

    m = ctx.manifest
    output = (m.endpoint.output if m.endpoint else None) or "text"
    rel = m.monitoring.config
    if rel is None:
        return Declared(output=output)
    try:
        doc = load_one(ctx.release.root, rel, allow_aliases=False)
        spec = MonitoringSpec.model_validate(doc.data)
    except (ConfigFileError, ValidationError) as exc:
        raise CheckError(
            f"live controls: {rel} cannot be read, so the declared controls are unknown: "
            f"{str(getattr(exc, 'problem', exc))[:200]}",
            hint="The monitoring check reports what is wrong with the file.",
        ) from None
    ext = spec.extraction_defence
    return Declared(
        authentication=ext.authentication if ext else None,
        rate_limit=ext.rate_limit if ext else None,
        output=output,
        source=rel,
    )


_LIVE_RULES = {
    "authentication": "endpoint-accepts-unauthenticated-requests",
    "rate-limit": "rate-limit-not-enforced",
    "exposure": "response-exposes-more-than-declared",
}


def judge_live(live: Any, *, line: int | None) -> list[Finding]:
    return [
        finding(
            _LIVE_RULES[p.name],
            f"{live.endpoint}: {p.detail}",
            path="release.yaml",
            line=line,
            detail=p.name,
            key=f"live:{p.name}",
            evidence={"requests": p.requests, "statuses": p.statuses, **p.evidence},
        )
        for p in live.probes
        if p.outcome == "failed"
    ]
