"""The evidence pack as NIST OSCAL assessment results (JSON), built with compliance-trestle.

One OSCAL result per pack: an observation per check as it ran, a finding per mapped
requirement targeting `<framework>.<requirement>` objectives. Honesty carries over: only a
requirement the mapping fully covers and the gate evidenced is `satisfied`; everything else is
`not-satisfied` with reason `fail` (a blocking finding) or `other` (accepted risk, partial
coverage, not assessed, human process), and the pack's own outcome in a property.
UUIDs derive from the release digest, so the same report gives the same document.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import quote

from gate.compliance.mapping import Coverage
from gate.compliance.pack import EvidencePack, Outcome, RequirementResult
from gate.extras import needs

NS = "https://model-gate.dev/ns/oscal"
_NAMESPACE = uuid.UUID("6f1c1d52-3a8e-5d0c-9a7e-2f0c7e9b4d11")
_TOKEN_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def _require_trestle() -> None:
    with needs("evidence", "OSCAL output"):
        import trestle.oscal.assessment_results  # noqa: F401


def token(*parts: str) -> str:
    """An OSCAL token (letters, digits, '_', '-', '.') from framework and requirement ids."""
    out = ".".join(_TOKEN_BAD.sub("-", p).strip("-") for p in parts)
    return out if out[:1].isalpha() or out[:1] == "_" else "_" + out


def _uuid(pack: EvidencePack, *parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x00".join((pack.release.digest, pack.report_generated_at, *parts))))


def _text(s: str | None) -> str:
    """Property values must not start or end with white space and must not be empty."""
    v = " ".join((s or "").split())
    return v or "-"


def _when(s: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime.now(dt.UTC)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _state(r: RequirementResult) -> tuple[str, str]:
    if r.outcome is Outcome.FAILED:
        return "not-satisfied", "fail"
    if r.outcome is Outcome.EVIDENCED and r.coverage is Coverage.COVERED:
        return "satisfied", "pass"
    return "not-satisfied", "other"


def _remarks(r: RequirementResult) -> str:
    bits = [f"outcome {r.outcome.value}; coverage {r.coverage.value}: {r.reason}"]
    bits += [f"blocking finding {f.id} ({f.rule} {f.name}) at {f.path or f.check}" for f in r.failed]
    bits += [
        f"accepted risk: finding {a.finding} waived by {', '.join(a.approvers)} until {a.expires} "
        f"(waiver {a.waiver})"
        for a in r.accepted
    ]
    bits += list(r.not_assessed)
    return "\n".join(bits)


def build(pack: EvidencePack) -> Any:
    """The trestle AssessmentResults model of a pack."""
    _require_trestle()
    from trestle.oscal import OSCAL_VERSION, common
    from trestle.oscal import assessment_results as ar

    def prop(name: str, value: str) -> common.Property:
        return common.Property(name=name, value=_text(value), ns=NS)

    release_props = [
        prop("release-name", pack.release.name),
        prop("release-version", pack.release.version),
        prop("release-digest", pack.release.digest),
        prop("verdict", pack.verdict),
        prop("risk-tier", pack.tier),
        prop("eu-ai-act-category", pack.eu_ai_act),
        prop("policy-sha256", pack.policy_sha256),
    ]
    when = _when(pack.report_generated_at)
    resources = []
    evidence_links = []
    for i, a in enumerate(pack.artifacts):
        rid = _uuid(pack, "artifact", str(i))
        hashes = None
        if a.sha256 and a.sha256.startswith("sha256:"):
            hashes = [common.Hash(algorithm="SHA-256", value=a.sha256.removeprefix("sha256:"))]
        resources.append(
            common.Resource(
                uuid=rid,
                title=_text(f"{a.kind}: {a.path}"),
                props=[prop("artifact-kind", a.kind)],
                # Waiver file names come from the pull request: percent-encoded into a URI reference.
                rlinks=[common.Rlink(href=quote(a.path, safe="/:@-._~") or "-", hashes=hashes)],
                remarks=a.note,
            )
        )
        evidence_links.append(common.Link(href=f"#{rid}", rel="evidence", text=_text(a.kind)))

    checks: dict[str, str] = {}
    for fw in pack.frameworks:
        for r in fw.requirements:
            for c in r.checks:
                checks.setdefault(c.id, c.status)
    observations = []
    obs_uuid: dict[str, str] = {}
    for cid, status in sorted(checks.items()):
        obs_uuid[cid] = _uuid(pack, "check", cid)
        observations.append(
            common.Observation(
                uuid=obs_uuid[cid],
                title=_text(f"model-gate check {cid}"),
                description=_text(f"The check {cid} of model-gate ended with status {status}."),
                props=[prop("check-id", cid), prop("check-status", status)],
                methods=["TEST"],
                links=evidence_links[:1] or None,
                collected=when,
            )
        )

    findings = []
    for fw in pack.frameworks:
        for r in fw.requirements:
            state, reason = _state(r)
            related = [common.RelatedObservation(observation_uuid=obs_uuid[c.id]) for c in r.checks]
            findings.append(
                common.Finding(
                    uuid=_uuid(pack, "finding", fw.framework, r.id),
                    title=_text(f"{fw.title} {r.id}: {r.title}"),
                    description=_text(r.reason),
                    props=[
                        prop("framework", fw.framework),
                        prop("requirement", r.id),
                        prop("coverage", r.coverage.value),
                        prop("outcome", r.outcome.value),
                    ],
                    target=common.FindingTarget(
                        type="objective-id",
                        target_id=token(fw.framework, r.id),
                        title=_text(r.title),
                        status=common.ObjectiveStatus(state=state, reason=reason),
                    ),
                    related_observations=related or None,
                    remarks=_remarks(r),
                )
            )

    result = ar.Result(
        uuid=_uuid(pack, "result"),
        title=_text(f"model-gate evidence for {pack.release.name} {pack.release.version}"),
        description=pack.statement,
        start=when,
        props=release_props,
        reviewed_controls=common.ReviewedControls(
            control_selections=[
                common.ControlSelectionsAll(
                    description="Requirements of the mapped frameworks, as targeted by the findings.",
                    include_all=common.IncludeAll(),
                )
            ]
        ),
        observations=observations or None,
        findings=findings,
        remarks=pack.statement,
    )
    return ar.AssessmentResults(
        uuid=_uuid(pack, "assessment-results"),
        metadata=common.Metadata(
            title=_text(f"model-gate evidence pack: {pack.release.name} {pack.release.version}"),
            last_modified=when,
            version=_text(pack.gate_version),
            oscal_version=OSCAL_VERSION,
            props=release_props,
        ),
        import_ap=ar.ImportAp(
            href=f"urn:model-gate:policy:{pack.policy_sha256.removeprefix('sha256:')}",
            remarks="No separate assessment plan: the model-gate policy with this digest defined it.",
        ),
        results=[result],
        back_matter=common.BackMatter(resources=resources) if resources else None,
    )


def render(pack: EvidencePack) -> str:
    """OSCAL assessment-results JSON (wrapped in its root key), as GRC tools import it."""
    model = build(pack)
    text: str = model.oscal_serialize_json(pretty=True, wrapped=True)
    return text + "\n"
