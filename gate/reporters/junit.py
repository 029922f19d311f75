"""JUnit XML, for CI systems that show test results (Jenkins, GitLab, Azure Pipelines...).

One suite, one test case per check, as test viewers expect a handful of cases rather than one
per rule: a failure lists the check's blocking findings, an error says why the check could not
complete, `skipped` marks a check that did not run. Waived and non-blocking findings are listed
in the case's system-out, so nothing accepted is hidden. The engine's own findings about a
check (a required check that did not run) belong to that check's case; any other engine
finding goes to a `model-gate` case when it blocks and to the suite's system-out when not.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence

from gate.escape import text as printable
from gate.escape import xml
from gate.models.finding import Finding
from gate.models.report import CheckResult, CheckStatus, Report
from gate.reporters.interface import Reporter
from gate.reporters.text import location_text

# Characters XML 1.0 cannot carry at all, even escaped: a report must not become unparseable
# because a finding quotes bytes from a hostile file.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_TEXT = 64 * 1024


def xml_text(text: str | None) -> str:
    clean = _NOT_XML.sub("\ufffd", xml(text))
    if len(clean) > MAX_TEXT:
        clean = clean[:MAX_TEXT] + f"\n… ({len(clean) - MAX_TEXT} more characters in the JSON report)"
    return clean


def xml_attr(text: str | None, limit: int = 1000) -> str:
    """A short attribute value (CI systems show it as the one-line reason)."""
    clean = xml_text(printable(text))
    return clean if len(clean) <= limit else clean[:limit] + "…"


def _finding_line(f: Finding) -> str:
    # Each field on its own line, printable: a title cannot add lines to the CI's view.
    loc = printable(location_text(f))
    state = "waived" if f.waiver else ("blocking" if f.effective_blocking else "not blocking")
    if f.baseline:
        state += f", {f.baseline}"
    line = f"[{f.severity.value}, {state}] {f.rule.code} {f.rule.name}: {printable(f.title)}"
    if loc:
        line += f"\n    at {loc}"
    if f.mitigation:
        line += f"\n    fix: {printable(f.mitigation)}"
    if f.waiver:
        w = f.waiver
        line += f"\n    waiver {printable(w.id)}: {printable(w.reason)} (until {printable(w.expires)})"
    line += f"\n    id {f.id}"
    return line


def _suite(parent: ET.Element, name: str, timestamp: str) -> ET.Element:
    return ET.SubElement(parent, "testsuite", {"name": name, "timestamp": timestamp})


def _count(suite: ET.Element) -> dict[str, str]:
    cases = suite.findall("testcase")
    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(1 for c in cases if c.find("failure") is not None)),
        "errors": str(sum(1 for c in cases if c.find("error") is not None)),
        "skipped": str(sum(1 for c in cases if c.find("skipped") is not None)),
    }
    for key, value in counts.items():
        suite.set(key, value)
    return counts


ENGINE_CASE = "model-gate"  # blocking engine findings that name no check of the run


def _owner(f: Finding, checks: set[str]) -> str | None:
    """The check a finding belongs to in the run: its own, or for the engine's findings about
    a check (GATE-GA001/GA002 record it in their evidence) that check; None for neither."""
    if f.check in checks:
        return f.check
    about = f.evidence.get("check")
    return about if isinstance(about, str) and about in checks else None


class JunitReporter(Reporter):
    name = "junit"
    suffix = ".xml"

    def render(self, report: Report, *, color: bool = False) -> str:
        r = report
        root = ET.Element("testsuites", {"name": f"model-gate {xml_text(r.release.name)}"})
        suite = _suite(root, "model-gate.checks", r.generated_at)
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("verdict", r.verdict.value),
            ("exit_code", str(r.exit_code)),
            ("tier", r.tier.level.value),
            ("release", f"{r.release.name} {r.release.version}"),
            ("release_digest", r.release.digest),
            ("policy", r.policy.name),
            ("policy_sha256", r.policy.sha256),
        ):
            ET.SubElement(props, "property", {"name": key, "value": xml_text(value)})

        ids = {c.id for c in r.checks}
        by_check: dict[str, list[Finding]] = defaultdict(list)
        loose: list[Finding] = []
        for f in r.findings:
            owner = _owner(f, ids)
            if owner is None:
                loose.append(f)
            else:
                by_check[owner].append(f)
        total_time = 0.0
        for c in r.checks:
            total_time += c.duration_s
            self._check_case(suite, c, by_check.get(c.id, []))
        if any(f.effective_blocking for f in loose):
            self._engine_case(suite, loose)
        elif loose:
            ET.SubElement(suite, "system-out").text = xml_text("\n".join(_finding_line(f) for f in loose))
        suite.set("time", f"{total_time:.3f}")

        counts = _count(suite)
        for key in ("tests", "failures", "errors"):
            root.set(key, counts[key])
        root.set("time", f"{total_time:.3f}")
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

    @staticmethod
    def _check_case(suite: ET.Element, c: CheckResult, findings: list[Finding]) -> None:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "model-gate.check", "name": c.id, "time": f"{c.duration_s:.3f}"},
        )
        blocking = [f for f in findings if f.effective_blocking]
        if c.status is CheckStatus.ERROR:
            el = ET.SubElement(case, "error", {"type": "check-error", "message": xml_attr(c.summary)})
            el.text = xml_text(f"check {c.id} could not complete: {printable(c.summary)}")
        elif c.status is CheckStatus.FAILED or blocking:
            # A skipped check with a blocking finding (a required check that did not run) fails:
            # it blocks the release, which a test viewer must not show as merely skipped.
            _failure(case, blocking, c.summary)
        elif c.status is CheckStatus.SKIPPED:
            ET.SubElement(case, "skipped", {"message": xml_attr(c.summary)})
        others = [f for f in findings if not f.effective_blocking]
        out = [f"{c.title}: {c.status.value}{'' if c.required else ' (optional)'}: {printable(c.summary)}"]
        out += [_finding_line(f) for f in others]
        ET.SubElement(case, "system-out").text = xml_text("\n".join(out))

    @staticmethod
    def _engine_case(suite: ET.Element, findings: Sequence[Finding]) -> None:
        case = ET.SubElement(
            suite, "testcase", {"classname": "model-gate.gate", "name": ENGINE_CASE, "time": "0.000"}
        )
        blocking = [f for f in findings if f.effective_blocking]
        _failure(case, blocking, "the gate's own rules")
        others = [f for f in findings if not f.effective_blocking]
        if others:
            ET.SubElement(case, "system-out").text = xml_text("\n".join(_finding_line(f) for f in others))


def _failure(case: ET.Element, blocking: Sequence[Finding], summary: str) -> None:
    el = ET.SubElement(
        case,
        "failure",
        {"type": "blocking-findings", "message": xml_attr(f"{len(blocking)} blocking: {summary}")},
    )
    el.text = xml_text("\n".join(_finding_line(f) for f in blocking))
