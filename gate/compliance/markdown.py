"""The evidence pack for people: one coverage matrix per framework, then what failed, what was
accepted as risk (by whom, until when), what could not be judged and what remains for people."""

from __future__ import annotations

from gate.compliance.pack import EvidencePack, Outcome, RequirementResult
from gate.reporters.markdown import cell

OUTCOME_ICON = {
    Outcome.EVIDENCED: "✅ evidenced",
    Outcome.FAILED: "❌ failed",
    Outcome.ACCEPTED_RISK: "⚠️ accepted-risk",
    Outcome.NOT_ASSESSED: "❔ not-assessed",
    Outcome.HUMAN: "👤 human-process",
}


def _evidence(r: RequirementResult) -> str:
    parts = [f"{c.id} ({c.status})" for c in r.checks]
    parts += list(r.rules)
    parts += list(r.techniques)
    parts += [f"{k}={v}" if v != "present" else k for k, v in r.fields.items()]
    return cell(", ".join(parts)) or "—"


def _detail(r: RequirementResult) -> str:
    groups: dict[str, list[str]] = {}
    for f in r.failed:
        groups.setdefault(f"{f.rule} {f.name}", []).append(f.path or f.check)
    bits = [
        f"blocks: {rule}"
        + (f" ×{len(where)}" if len(where) > 1 else "")
        + f" ({', '.join(sorted(set(where)))})"
        for rule, where in groups.items()
    ]
    bits += [f"check {c} failed" for c in r.failed_checks]
    bits += [
        f"waived {a.finding} by {', '.join(a.approvers)} until {a.expires} (waiver {a.waiver})"
        for a in r.accepted
    ]
    bits += list(r.not_assessed)
    if r.warnings:
        bits.append(f"{len(r.warnings)} non-blocking finding(s)")
    return cell("; ".join(bits)) or "—"


def matrix(pack: EvidencePack, framework: str, *, limit: int | None = None) -> str:
    """The coverage matrix of one framework as a Markdown table (the first `limit` rows, failed
    first, when a limit is given)."""
    fw = next(f for f in pack.frameworks if f.framework == framework)
    lines = [
        "| Requirement | Coverage | Outcome | Evidence | Findings / gaps | Remains for people |",
        "|---|---|---|---|---|---|",
    ]
    reqs = list(fw.requirements)
    if limit is not None:
        reqs.sort(key=lambda r: r.outcome is not Outcome.FAILED)  # stable: failed first
    for r in reqs[:limit]:
        lines.append(
            f"| {cell(r.id)} {cell(r.title)} | {r.coverage.value} | {OUTCOME_ICON[r.outcome]} | "
            f"{_evidence(r)} | {_detail(r)} | {cell(r.remains_for_people) or '—'} |"
        )
    return "\n".join(lines)


def render(pack: EvidencePack) -> str:
    rel = pack.release
    out = [
        f"# Evidence pack: {cell(rel.name)} {cell(rel.version)}",
        "",
        f"- Release digest: `{cell(rel.digest)}`",
        f"- Verdict: **{pack.verdict}** · tier {pack.tier} · EU AI Act: {cell(pack.eu_ai_act)}",
        f"- Policy: `{cell(pack.policy_sha256)}` · report generated {cell(pack.report_generated_at)} "
        f"by model-gate {cell(pack.gate_version)}",
        "",
        f"> {pack.statement}",
        "",
        "## Artifacts",
        "",
        "| Kind | Path | sha256 | Note |",
        "|---|---|---|---|",
    ]
    for a in pack.artifacts:
        out.append(f"| {a.kind} | {cell(a.path)} | {cell(a.sha256) or '—'} | {cell(a.note) or '—'} |")
    if pack.decisions:
        out += ["", f"Decision-log entries for this digest: {len(pack.decisions)}."]
    for fw in pack.frameworks:
        counts = ", ".join(f"{v} {k}" for k, v in fw.counts.items() if v)
        out += [
            "",
            f"## {cell(fw.title)}",
            "",
            f"{counts}. Source: {fw.source}",
            "",
            matrix(pack, fw.framework),
        ]
    return "\n".join(out) + "\n"


def release_excerpt(pack: EvidencePack, framework: str, limit: int) -> str:
    """A few rows of one release's matrix, with its counts (generated into the README)."""
    fw = next(f for f in pack.frameworks if f.framework == framework)
    counts = ", ".join(f"{v} {k}" for k, v in fw.counts.items() if v)
    more = len(fw.requirements) - limit
    tail = f"\n\n… and {more} more rows in the pack." if more > 0 else ""
    return (
        f"{cell(pack.release.name)} {cell(pack.release.version)}, verdict **{pack.verdict}**, "
        f"{cell(fw.title)}: {counts}.\n\n" + matrix(pack, framework, limit=limit) + tail
    )


def coverage_summary() -> str:
    """How many requirements of each mapped framework the gate covers, partly covers, or leaves to
    process (from the mapping data; generated into the README)."""
    from gate.compliance.mapping import Coverage, frameworks

    lines = [
        "| Framework | Ids listed | Mapped | covered | partial | out-of-scope (process) |",
        "|---|---|---|---|---|---|",
    ]
    for fw in frameworks():
        n = {c: sum(r.status is c for r in fw.requirements) for c in Coverage}
        lines.append(
            f"| {fw.title} | {len(fw.ids)} | {len(fw.requirements)} | {n[Coverage.COVERED]} | "
            f"{n[Coverage.PARTIAL]} | {n[Coverage.PROCESS]} |"
        )
    return "\n".join(lines)


def mapping_table(framework: str) -> str:
    """One framework's mapping: requirement, coverage, the evidence it names, and why."""
    from gate.compliance.mapping import frameworks

    fw = next(f for f in frameworks() if f.framework == framework)
    lines = ["| Requirement | Coverage | Evidence | Why |", "|---|---|---|---|"]
    for r in fw.requirements:
        ev = ", ".join([*(f"`{c}`" for c in r.checks), *r.rules, *r.fields]) or "—"
        lines.append(f"| {cell(r.id)} {cell(r.title)} | {r.status.value} | {ev} | {cell(r.reason)} |")
    return "\n".join(lines)
