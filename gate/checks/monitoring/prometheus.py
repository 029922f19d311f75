"""Prometheus rule files (plain, or a Kubernetes PrometheusRule object) and promtool.

The structure is validated the way Prometheus' own loader does (unknown fields
are errors, `alert` xor `record`, durations parse), each rule keeps the line of
its keys, and rules that were commented out are remembered by name so that a
control whose alert was commented out is reported as such, not as "missing".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.checks.configfile import ConfigFileError, Problem, expect, load_one, problem_at
from gate.checks.monitoring.promql import ExprFacts, analyse, parse_duration
from gate.childenv import child_env
from gate.errors import CheckError, ToolMissingError
from gate.yamlsafe import YamlDoc, YamlPath

GROUP_KEYS = frozenset({"name", "interval", "limit", "query_offset", "labels", "rules"})
RULE_KEYS = frozenset({"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"})
CRD_API = "monitoring.coreos.com/"
_COMMENTED_ALERT = re.compile(r"^\s*#+\s*-?\s*alert\s*:\s*[\"']?([A-Za-z_][A-Za-z0-9_:]*)")
PROMTOOL_OUTPUT_MAX = 64 * 1024


@dataclass
class AlertRule:
    name: str
    expr: str
    path: str
    line: int | None
    group: str
    for_s: float | None
    labels: dict[str, str]
    annotations: dict[str, str]
    lines: dict[str, int | None] = field(default_factory=dict)  # key -> line
    _facts: dict[str | None, ExprFacts] = field(default_factory=dict)

    def facts(self, keep_label: str | None = None) -> ExprFacts:
        if keep_label not in self._facts:
            self._facts[keep_label] = analyse(self.expr, keep_label)
        return self._facts[keep_label]

    def line_of(self, key: str) -> int | None:
        return self.lines.get(key) or self.line

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


@dataclass
class RecordRule:
    name: str
    expr: str
    path: str
    line: int | None


@dataclass
class RuleFile:
    path: str
    alerts: list[AlertRule]
    records: list[RecordRule]
    commented: dict[str, int]  # alert name -> line of the commented-out `alert:`
    crd: bool = False
    groups: Any = None  # the `groups` value, for promtool when the file is a PrometheusRule


def _scalar_map(doc: YamlDoc, rel: str, path: YamlPath, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    expect(doc, rel, path, value, dict, "a mapping of names to values")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise ConfigFileError(problem_at(rel, doc, path, f"key {k!r} must be a string"))
        if isinstance(v, dict | list) or v is None:
            raise ConfigFileError(problem_at(rel, doc, (*path, k), "expected a string"))
        out[k] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _duration(doc: YamlDoc, rel: str, path: YamlPath, value: Any) -> float | None:
    if value is None:
        return None
    seconds = parse_duration(value) if isinstance(value, str) else None
    if seconds is None:
        raise ConfigFileError(problem_at(rel, doc, path, f"not a valid duration: {str(value)[:40]!r}"))
    return seconds


def parse_rule_file(root: Path, rel: str) -> RuleFile:
    """Parse one rule file; ConfigFileError names file, line and field on the first problem."""
    doc = load_one(root, rel, allow_aliases=True)
    data = doc.data
    prefix: YamlPath = ()
    crd = False
    if isinstance(data, dict) and "apiVersion" in data:
        api, kind = str(data.get("apiVersion", "")), data.get("kind")
        if not api.startswith(CRD_API) or kind != "PrometheusRule":
            raise ConfigFileError(
                Problem(rel, doc.line_of(("kind",)), f"a {kind} object is not a Prometheus rule file")
            )
        spec = data.get("spec")
        expect(doc, rel, ("spec",), spec, dict, "a mapping")
        data, prefix, crd = spec, ("spec",), True
    expect(doc, rel, prefix, data, dict, "a mapping with `groups`")
    for key in data:
        if key != "groups":
            raise ConfigFileError(problem_at(rel, doc, (*prefix, key), "unknown field"))
    groups = expect(doc, rel, (*prefix, "groups"), data.get("groups"), list, "a list of rule groups")
    alerts: list[AlertRule] = []
    records: list[RecordRule] = []
    names: set[str] = set()
    for gi, group in enumerate(groups):
        gp: YamlPath = (*prefix, "groups", gi)
        expect(doc, rel, gp, group, dict, "a rule group (a mapping)")
        for key in group:
            if key not in GROUP_KEYS:
                raise ConfigFileError(problem_at(rel, doc, (*gp, key), "unknown field"))
        gname = expect(doc, rel, (*gp, "name"), group.get("name"), str, "a group name")
        if not gname.strip():
            raise ConfigFileError(problem_at(rel, doc, (*gp, "name"), "group name is empty"))
        if gname in names:
            raise ConfigFileError(problem_at(rel, doc, (*gp, "name"), f"group '{gname}' is repeated"))
        names.add(gname)
        _duration(doc, rel, (*gp, "interval"), group.get("interval"))
        _duration(doc, rel, (*gp, "query_offset"), group.get("query_offset"))
        if "limit" in group and (not isinstance(group["limit"], int) or isinstance(group["limit"], bool)):
            raise ConfigFileError(problem_at(rel, doc, (*gp, "limit"), "expected an integer"))
        _scalar_map(doc, rel, (*gp, "labels"), group.get("labels"))
        rules = group.get("rules") or []
        expect(doc, rel, (*gp, "rules"), rules, list, "a list of rules")
        for ri, rule in enumerate(rules):
            rp: YamlPath = (*gp, "rules", ri)
            expect(doc, rel, rp, rule, dict, "a rule (a mapping)")
            for key in rule:
                if key not in RULE_KEYS:
                    raise ConfigFileError(problem_at(rel, doc, (*rp, key), "unknown field"))
            alert, record = rule.get("alert"), rule.get("record")
            if (alert is None) == (record is None):
                raise ConfigFileError(
                    problem_at(rel, doc, rp, "a rule needs exactly one of `alert` and `record`")
                )
            expr = rule.get("expr")
            if isinstance(expr, int | float) and not isinstance(expr, bool):
                expr = str(expr)
            if not isinstance(expr, str) or not expr.strip():
                raise ConfigFileError(
                    problem_at(rel, doc, (*rp, "expr"), "`expr` must be a non-empty string")
                )
            if record is not None:
                expect(doc, rel, (*rp, "record"), record, str, "a metric name")
                for key in ("for", "keep_firing_for", "annotations"):
                    if key in rule:
                        raise ConfigFileError(
                            problem_at(rel, doc, (*rp, key), f"a recording rule has no `{key}`")
                        )
                _scalar_map(doc, rel, (*rp, "labels"), rule.get("labels"))
                records.append(RecordRule(record, expr, rel, doc.line_of((*rp, "record"))))
                continue
            expect(doc, rel, (*rp, "alert"), alert, str, "an alert name")
            for_s = _duration(doc, rel, (*rp, "for"), rule.get("for"))
            _duration(doc, rel, (*rp, "keep_firing_for"), rule.get("keep_firing_for"))
            labels = _scalar_map(doc, rel, (*rp, "labels"), rule.get("labels"))
            annotations = _scalar_map(doc, rel, (*rp, "annotations"), rule.get("annotations"))
            lines = {k: doc.line_of((*rp, k)) for k in rule}
            for k in labels:
                lines[f"labels.{k}"] = doc.line_of((*rp, "labels", k))
            alerts.append(
                AlertRule(
                    name=alert,
                    expr=expr,
                    path=rel,
                    line=doc.line_of((*rp, "alert")),
                    group=gname,
                    for_s=for_s,
                    labels=labels,
                    annotations=annotations,
                    lines=lines,
                )
            )
    return RuleFile(rel, alerts, records, _commented_alerts(root / rel), crd, groups if crd else None)


def _commented_alerts(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return out
    for no, line in enumerate(text.splitlines(), 1):
        m = _COMMENTED_ALERT.match(line)
        if m:
            out.setdefault(m.group(1), no)
    return out


# promtool -------------------------------------------------------------------------------


@dataclass
class PromtoolMessage:
    line: int | None
    text: str


@dataclass
class PromtoolFileResult:
    path: str
    ok: bool
    messages: list[PromtoolMessage]
    lint_only: bool = False  # exit 0 but lint problems printed
    summary: str = ""


def promtool_executable() -> str | None:
    return shutil.which("promtool")


def promtool_version(exe: str) -> str:
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=30, check=False, env=child_env()
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolMissingError(f"promtool at {exe} cannot run: {exc}") from None
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else "promtool (version unknown)"


def run_promtool(exe: str, root: Path, rf: RuleFile, timeout_s: float) -> PromtoolFileResult:
    """`promtool check rules FILE`, its verdict and messages; CheckError when it cannot judge."""
    with tempfile.TemporaryDirectory(prefix="model-gate-promtool-") as tmp:
        if rf.crd:
            # promtool reads plain rule files only: give it the object's spec, lines are lost.
            arg = os.path.join(tmp, "rules.json")
            Path(arg).write_text(json.dumps({"groups": rf.groups}), "utf-8")
            cwd = tmp
        else:
            arg = rf.path if not rf.path.startswith("-") else f"./{rf.path}"
            cwd = str(root)
        try:
            proc = subprocess.run(
                [exe, "check", "rules", arg],
                cwd=cwd,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout_s,
                check=False,
                env=child_env(extra={"LC_ALL": "C"}),
            )
        except subprocess.TimeoutExpired:
            raise CheckError(f"promtool check rules {rf.path}: no answer within {timeout_s:g} s") from None
        except OSError as exc:
            raise CheckError(f"promtool check rules {rf.path}: cannot run: {exc}") from None
    out = (proc.stdout or "")[:PROMTOOL_OUTPUT_MAX]
    err = (proc.stderr or "")[:PROMTOOL_OUTPUT_MAX]
    if proc.returncode not in (0, 1):
        tail = err.strip().splitlines()[-1:] or ["(no output)"]
        raise CheckError(f"promtool check rules {rf.path}: exit {proc.returncode}: {tail[0][:300]}")
    messages = _messages(err, arg, rf)
    summary = next((ln.strip() for ln in out.splitlines() if "SUCCESS" in ln), "")
    if proc.returncode == 1:
        if not messages:
            messages = [
                PromtoolMessage(None, (err.strip() or out.strip() or "rejected without a message")[:500])
            ]
        return PromtoolFileResult(rf.path, False, messages, summary=summary)
    if not summary and not messages:
        raise CheckError(
            f"promtool check rules {rf.path}: exit 0 without a SUCCESS line; output: {out[:200]!r}"
        )
    return PromtoolFileResult(rf.path, True, messages, lint_only=bool(messages), summary=summary)


def _messages(err: str, arg: str, rf: RuleFile) -> list[PromtoolMessage]:
    msgs: list[PromtoolMessage] = []
    for raw in err.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.strip() == "FAILED:":
            continue
        if line.startswith(f"{arg}: "):
            body = line[len(arg) + 2 :]
            m = re.match(r"^(\d+):(\d+): (.*)$", body)
            if m and not rf.crd:
                msgs.append(PromtoolMessage(int(m.group(1)), m.group(3)))
            else:
                msgs.append(PromtoolMessage(None, body))
        elif msgs and raw.startswith((" ", "\t")):
            msgs[-1] = PromtoolMessage(msgs[-1].line, f"{msgs[-1].text} {line.strip()}")
        elif msgs and not line.startswith(("Checking ", "  SUCCESS")):
            msgs[-1] = PromtoolMessage(msgs[-1].line, f"{msgs[-1].text}; {line.strip()}")
        elif not line.startswith(("Checking ", "  SUCCESS")):
            msgs.append(PromtoolMessage(None, line.strip()))
    for msg in msgs:
        if msg.line is None:
            lm = re.search(r"\bline (\d+)\b", msg.text)
            if lm and not rf.crd:
                msg.line = int(lm.group(1))
    return [PromtoolMessage(msg.line, msg.text[:600]) for msg in msgs]
