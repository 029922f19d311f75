"""JUnit XML, for CI systems that show test results (Jenkins, GitLab, Azure Pipelines...).

Two suites: one test case per check (failure when it found blocking problems, error when it
could not complete, skipped when it did not run) and one per rule (failure when a finding of
that rule blocks; waived and non-blocking findings are listed in system-out).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from gate.escape import text as printable
from gate.escape import xml
from gate.models.finding import Finding, Rule
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


def _count(suite: ET.Element) -> tuple[int, int, int, int]:
    cases = suite.findall("testcase")
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    return len(cases), failures, errors, skipped


class JunitReporter(Reporter):
    name = "junit"
    suffix = ".xml"
    uses_rules = True

    def render(self, report: Report, *, color: bool = False) -> str:
        r = report
        root = ET.Element("testsuites", {"name": f"model-gate {xml_text(r.release.name)}"})
        stamp = r.generated_at
        by_check: dict[str, list[Finding]] = defaultdict(list)
        by_rule: dict[str, list[Finding]] = defaultdict(list)
        for f in r.findings:
            by_check[f.check].append(f)
            by_rule[f.rule.code].append(f)
        results = {c.id: c for c in r.checks}

        checks = _suite(root, "model-gate.checks", stamp)
        props = ET.SubElement(checks, "properties")
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
        total_time = 0.0
        for c in r.checks:
            total_time += c.duration_s
            self._check_case(checks, c, by_check.get(c.id, []))
        checks.set("time", f"{total_time:.3f}")

        rules_suite = _suite(root, "model-gate.rules", stamp)
        rules: list[Rule | tuple[str, str, str]] = list(self.rules)
        known = {x.code for x in self.rules}
        for code, fs in by_rule.items():
            if code not in known:  # a report from a newer gate
                rules.append((code, fs[0].rule.name, fs[0].check))
        for rule in rules:
            code, name, check = (rule.code, rule.name, rule.check) if isinstance(rule, Rule) else rule
            self._rule_case(rules_suite, code, name, check, by_rule.get(code, []), results)
        rules_suite.set("time", "0.000")

        tests = failures = errors = skipped = 0
        for suite in (checks, rules_suite):
            t, f_, e, s = _count(suite)
            tests, failures, errors, skipped = tests + t, failures + f_, errors + e, skipped + s
        root.set("tests", str(tests))
        root.set("failures", str(failures))
        root.set("errors", str(errors))
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
            el = ET.SubElement(
                case,
                "failure",
                {"type": "blocking-findings", "message": xml_attr(f"{len(blocking)} blocking: {c.summary}")},
            )
            el.text = xml_text("\n".join(_finding_line(f) for f in blocking))
        elif c.status is CheckStatus.SKIPPED:
            ET.SubElement(case, "skipped", {"message": xml_attr(c.summary)})
        others = [f for f in findings if not f.effective_blocking]
        out = [f"{c.title}: {c.status.value}{'' if c.required else ' (optional)'}: {printable(c.summary)}"]
        out += [_finding_line(f) for f in others]
        ET.SubElement(case, "system-out").text = xml_text("\n".join(out))

    @staticmethod
    def _rule_case(
        suite: ET.Element,
        code: str,
        name: str,
        check: str,
        findings: list[Finding],
        results: dict[str, CheckResult],
    ) -> None:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"model-gate.rule.{check}", "name": f"{code} {name}", "time": "0.000"},
        )
        blocking = [f for f in findings if f.effective_blocking]
        result = results.get(check)
        if blocking:
            el = ET.SubElement(
                case,
                "failure",
                {
                    "type": "blocking-finding",
                    "message": xml_attr(f"{len(blocking)} blocking: {blocking[0].title}"),
                },
            )
            el.text = xml_text("\n".join(_finding_line(f) for f in blocking))
        elif result is not None and result.status is CheckStatus.ERROR:
            el = ET.SubElement(
                case,
                "error",
                {"type": "check-error", "message": xml_attr(f"check {check} could not complete")},
            )
            el.text = xml_text(printable(result.summary))
        elif not findings and check != "gate" and (result is None or result.status is CheckStatus.SKIPPED):
            # The engine's own rules have no check result; any other rule whose check did not
            # run was not tested, which is not a pass.
            ET.SubElement(case, "skipped", {"message": xml_attr(f"check {check} did not run")})
        others = [f for f in findings if not f.effective_blocking]
        if others:
            ET.SubElement(case, "system-out").text = xml_text("\n".join(_finding_line(f) for f in others))
