"""SARIF 2.1.0, for GitHub code scanning and any other SARIF consumer.

Shaped by what GitHub does with an upload:
- result locations are paths in the repository, so the release directory's path relative to
  the repository root is put in front of each finding's path (the root is
  `MODEL_GATE_SARIF_ROOT`, else `GITHUB_WORKSPACE`, else the working directory);
- results without a line get no `region`, so the uploader never reads a model file to
  fingerprint a "line" of it;
- `automationDetails.id` names one category per release, so several releases analysed in one
  repository do not overwrite each other's alerts;
- at most 25,000 results per run (GitHub drops the rest): the worst are kept and a
  notification says how many were cut;
- the driver describes only the rules its results name (each descriptor carries the rule's
  whole documentation, so the full catalogue would outweigh a small run many times over);
  `all_rules=True` (`--sarif-all-rules`) keeps the catalogue, for consumers that list rules.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from gate.docs import rule_doc
from gate.escape import text as printable
from gate.escape import text_block
from gate.models.finding import Finding, Rule, Severity
from gate.models.report import CheckStatus, Report
from gate.reporters.interface import Reporter

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
MAX_RESULTS = 25_000
ROOT_ENV = "MODEL_GATE_SARIF_ROOT"
FINGERPRINT_KEY = "modelGateFindingId/v1"
EVIDENCE_MAX_CHARS = 4096

# GitHub maps security-severity to its levels: > 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium,
# 0.1-3.9 low. `info` findings are not security problems in themselves: 0.0.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
# Where a rule's documentation lives (the README's rule table, generated from the rules).
RULES_HELP_URI = "https://github.com/model-gate/model-gate/blob/main/README.md#checks-and-rules"


def _own_score(f: Finding) -> str | None:
    """The finding's own CVSS base score (e.g. of the advisory it reports), as security-severity.

    The evidence is data the check recorded from a tool or advisory: only a real number in
    CVSS's range counts; anything else falls back to the rule's severity.
    """
    v = f.evidence.get("cvss_score")
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if not 0.0 <= float(v) <= 10.0:  # also rejects NaN
        return None
    return f"{float(v):.1f}"


LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def repository_root() -> Path:
    """Where result paths are relative to: the repository checkout in CI."""
    for var in (ROOT_ENV, "GITHUB_WORKSPACE"):
        value = os.environ.get(var)
        if value:
            return Path(value)
    return Path.cwd()


def release_prefix(release_path: str, root: Path) -> str | None:
    """The release directory relative to the repository root ('' for the root itself).

    None when the release lies outside the repository: results then carry paths relative to
    the release and the run says so.
    """
    p = Path(release_path)
    if not p.is_absolute():
        given = PurePosixPath(p.as_posix())
        return "" if str(given) == "." else given.as_posix()
    candidates = [(p, root)]
    with contextlib.suppress(OSError):  # resolving can fail on a vanished path: the plain one stays
        candidates.append((p.resolve(), root.resolve()))
    for path, base in candidates:
        try:
            rel = path.relative_to(base)
        except ValueError:
            continue
        return "" if str(rel) == "." else rel.as_posix()
    return None


def _join(prefix: str | None, path: str) -> str:
    return f"{prefix}/{path}" if prefix else path


def _uri(path: str) -> str:
    return quote(path, safe="/")


def _help_markdown(rule: Rule) -> str:
    parts = [
        f"**{rule.code} {rule.name}** (check `{rule.check}`, default severity {rule.severity.value})",
        "",
        "#### What it does",
        rule.summary,
        "",
        "#### Why it matters",
        rule.why,
        "",
        "#### Example",
        rule.example,
        "",
        "#### How to fix",
        rule.fix,
    ]
    if rule.technique:
        parts += ["", "#### Techniques", ", ".join(rule.technique)]
    if not rule.waivable:
        parts += ["", "This rule cannot be waived."]
    return "\n".join(parts)


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {"text": rule_doc(rule), "markdown": _help_markdown(rule)},
        "helpUri": RULES_HELP_URI,
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": "high",
            "tags": ["security", "model-gate", rule.check, *rule.technique],
            "check": rule.check,
            "waivable": rule.waivable,
        },
    }


def _unknown_rule(f: Finding) -> Rule:
    """A rule a report mentions but this build does not know (a report from a newer gate)."""
    return Rule(
        code=f.rule.code,
        name=f.rule.name,
        check=f.check,
        severity=f.severity,
        summary=f"{f.rule.name} (reported by check {f.check})",
        why="This rule is not documented in this version of model-gate.",
        example="-",
        fix=f.mitigation or "See the report.",
    )


def _evidence(f: Finding) -> dict[str, Any] | None:
    if not f.evidence:
        return None
    text = json.dumps(f.evidence, default=str)
    return f.evidence if len(text) <= EVIDENCE_MAX_CHARS else None


def _result(f: Finding, rule_index: int, prefix: str | None) -> dict[str, Any]:
    loc = f.location
    message = printable(f.title)
    if loc.detail:
        message += f" ({printable(loc.detail)})"
    if f.mitigation:
        message += f"\nFix: {printable(f.mitigation)}"
    path = loc.path or "release.yaml"  # findings about the release as a whole point at its manifest
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": _uri(_join(prefix, path)), "uriBaseId": "%SRCROOT%"}
    }
    if loc.path and loc.line:
        physical["region"] = {"startLine": loc.line}
    props: dict[str, Any] = {
        "severity": f.severity.value,
        "blocking": f.effective_blocking,
        "check": f.check,
        "findingId": f.id,
        # GitHub orders and colours alerts by this; a CVSS 9.8 and a 7.5 must not both say 8.0
        "security-severity": _own_score(f) or SECURITY_SEVERITY[f.severity],
    }
    if f.technique:
        props["technique"] = list(f.technique)
    if f.reproduction:
        props["reproduction"] = text_block(f.reproduction)
    evidence = _evidence(f)
    if evidence is not None:
        props["evidence"] = evidence
    result: dict[str, Any] = {
        "ruleId": f.rule.code,
        "ruleIndex": rule_index,
        "level": "error" if f.blocking else LEVEL[f.severity],
        "message": {"text": message},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT_KEY: f.id},
        "properties": props,
    }
    if f.baseline is not None:
        result["baselineState"] = f.baseline  # SARIF's names: new, unchanged
    if loc.detail:
        result["locations"][0]["logicalLocations"] = [
            {"name": printable(loc.detail)[:200], "kind": "element"}
        ]
    if f.waiver is not None:
        w = f.waiver
        justification = f"{w.justification}: {w.reason}" if w.justification else w.reason
        sup_props: dict[str, Any] = {
            "waiverId": w.id,
            "approvers": list(w.approvers),
            "expires": w.expires,
        }
        if w.ticket:
            sup_props["ticket"] = w.ticket
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": justification,
                "properties": sup_props,
            }
        ]
    return result


class SarifReporter(Reporter):
    name = "sarif"
    suffix = ".sarif"

    uses_rules = True

    def __init__(
        self, root: Path | None = None, *, rules: Sequence[Rule] = (), all_rules: bool = False
    ) -> None:
        super().__init__(rules=rules)
        self.root = root
        self.all_rules = all_rules

    def render(self, report: Report, *, color: bool = False) -> str:
        return json.dumps(self.document(report), indent=2, ensure_ascii=False) + "\n"

    def _rules(self, results: Sequence[Finding]) -> list[Rule]:
        """The descriptors of the run, in catalogue order: the rules `results` name (all of the
        catalogue with `all_rules`), then rules this build does not know, in order of appearance.
        Every result's `ruleIndex` points into this list."""
        used = {f.rule.code for f in results}
        rules = [r for r in self.rules if self.all_rules or r.code in used]
        known = {r.code for r in rules}
        for f in results:
            if f.rule.code not in known:
                known.add(f.rule.code)
                rules.append(_unknown_rule(f))
        return rules

    def document(self, report: Report) -> dict[str, Any]:
        root = self.root if self.root is not None else repository_root()
        prefix = release_prefix(report.release.path, root)

        # Worst first, so that a cut at GitHub's limit drops the least important results.
        ordered = sorted(report.findings, key=lambda f: (not f.effective_blocking, -f.severity.rank))
        kept = ordered[:MAX_RESULTS]
        cut = ordered[MAX_RESULTS:]
        rules = self._rules(kept)
        index = {r.code: i for i, r in enumerate(rules)}

        notifications: list[dict[str, Any]] = []
        for c in report.checks:
            if c.status is CheckStatus.ERROR:
                notifications.append(
                    {
                        "level": "error",
                        "message": {"text": f"check {c.id} could not complete: {printable(c.summary)}"},
                        "descriptor": {"id": c.id},
                    }
                )
        if cut:
            worst = max(f.severity.rank for f in cut)
            notifications.append(
                {
                    "level": "warning",
                    "message": {
                        "text": f"{len(cut)} of {len(ordered)} results were left out to stay within "
                        f"{MAX_RESULTS:,} results per run (the least severe; the worst left out is "
                        f"{list(Severity)[worst].value}); the JSON report has them all"
                    },
                }
            )
        if prefix is None:
            notifications.append(
                {
                    "level": "note",
                    "message": {
                        "text": f"the release directory {report.release.path} is outside the repository "
                        f"root {root}: result paths are relative to the release"
                    },
                }
            )

        category = prefix if prefix else report.release.name
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": "model-gate",
                    "version": report.gate_version,
                    "semanticVersion": report.gate_version,
                    "rules": [rule_descriptor(r) for r in rules],
                }
            },
            "automationDetails": {"id": f"model-gate/{category}/"},
            "invocations": [
                {
                    "executionSuccessful": not any(c.status is CheckStatus.ERROR for c in report.checks),
                    "exitCode": report.exit_code,
                    "endTimeUtc": _utc(report.generated_at),
                    "toolExecutionNotifications": notifications,
                }
            ],
            "results": [_result(f, index[f.rule.code], prefix) for f in kept],
            "properties": {
                "verdict": report.verdict.value,
                "tier": report.tier.level.value,
                "release": {
                    "name": report.release.name,
                    "version": report.release.version,
                    "digest": report.release.digest,
                    "path": prefix if prefix is not None else report.release.path,
                },
                "policy": {"name": report.policy.name, "sha256": report.policy.sha256},
                "resultsOmitted": len(cut),
            },
        }
        if report.baseline is not None:
            b = report.baseline
            # Fixed findings are listed here, not as `absent` results: code scanning would open
            # alerts for them.
            run["properties"]["baseline"] = {
                "source": b.source,
                "trusted": b.trusted,
                "blockOn": b.block_on,
                "honoured": b.honoured,
                "tracked": list(b.tracked),
                "fixed": [f.id for f in b.fixed],
                "reasons": [printable(x) for x in b.reasons],
            }
        return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _utc(stamp: str) -> str:
    """SARIF wants UTC with a Z; the report stamps times as ISO 8601 with an offset."""
    import datetime as dt

    try:
        t = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
