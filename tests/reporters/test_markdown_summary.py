"""The Markdown summary: the order a reviewer reads it in, and the cut that keeps it under 1 MiB."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from gate.checks import all_rules, find_rule
from gate.checks.release_integrity import RULES
from gate.commands import main
from gate.models.finding import AppliedWaiver, Severity, new_finding
from gate.models.report import CheckStatus, Report, WaiverOutcome, WaiverStatus
from gate.reporters.markdown import GITHUB_SUMMARY_LIMIT, MarkdownReporter, cell, trim_text
from gate.reporters.views import SEVERITIES
from gate.reporters.waiving import offers_waiver
from tests.reporters.test_reporters import stable_report
from tests.support import BAD, GOLDEN

MD = MarkdownReporter(rules=all_rules())
GFM = MarkdownIt("commonmark").enable("table")  # raw HTML passes through, as on GitHub before sanitising


def with_waiver(r: Report) -> Report:
    w = AppliedWaiver(
        id="W-1",
        reason="reviewed | safe",
        justification="code_not_reachable",
        approvers=("a",),
        expires="2026-12-31",
    )
    fs = list(r.findings)
    fs[2] = fs[2].model_copy(update={"waiver": w})
    outcome = WaiverOutcome(
        path="waivers/w1.json",
        id="W-1",
        status=WaiverStatus.APPLIED,
        reason="reviewed",
        findings=(fs[2].id,),
        expires="2026-12-31",
        expiring_soon=True,
    )
    return r.model_copy(update={"findings": tuple(fs), "waivers": (outcome,)})


def test_reading_order(tmp_path: Path) -> None:
    r = with_waiver(stable_report(BAD, tmp_path))
    broken = r.checks[1].model_copy(update={"status": CheckStatus.ERROR, "summary": "could not read"})
    r = r.model_copy(update={"checks": (r.checks[0], broken)})
    text = MD.render(r)
    blocking = sum(1 for f in r.findings if f.effective_blocking)
    order = [
        "## ❌ model-gate: **FAIL**",
        "**Tier:** `high`",
        "### Findings by check and severity",
        "### ⛔ Checks that could not complete (1)",
        f"### Blocking findings ({blocking})",
        "### Waive a blocking finding",
        "### Risk tier: <code>high</code>",
        "### Waivers",
        "### Checks",
        "<details><summary>❌ <code>release-integrity</code>",
    ]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert "**Waived:** 1" in text
    assert "reviewed \\| safe" in text  # a pipe in a waiver reason cannot split the table
    assert "⏳ expiring soon" in text
    groups = {c.id for c in r.checks} | {f.check for f in r.findings}  # one block per check
    assert text.count("<details>") == text.count("</details>") == len(groups)


def test_small_reports_are_not_cut(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    assert MD.render_limited(r) == MD.render(r)


def _huge(r: Report, n: int, title_len: int) -> Report:
    sev = [Severity.HIGH, Severity.CRITICAL]
    fs = [
        new_finding(
            RULES[4], f"{i:05d} " + "x" * title_len, path=f"m/{i}.py", severity=sev[i % 2]
        ).model_copy(update={"blocking": True})
        for i in range(n)
    ]
    fs.sort(key=lambda f: -f.severity.rank)  # as the engine orders them
    return r.model_copy(update={"findings": tuple(fs)})


def test_a_huge_report_is_cut_to_fit_and_says_what_was_cut(tmp_path: Path) -> None:
    r = _huge(stable_report(BAD, tmp_path), 4000, 500)
    md = MarkdownReporter(rules=all_rules(), row_limit=10_000)  # the byte budget alone decides
    full = md.render(r)
    assert len(full.encode()) > GITHUB_SUMMARY_LIMIT  # the case worth testing
    cut = md.render_limited(r)
    assert len(cut.encode()) <= GITHUB_SUMMARY_LIMIT - 16 * 1024
    assert cut.startswith("## ❌ model-gate: **FAIL**")
    assert "This summary was cut to fit GitHub's 1024 KiB limit" in cut
    assert f"the per-check details ({len(r.checks)} checks, 0 non-blocking findings)" in cut
    assert "the waiver new lines" in cut  # thousands of them: left out before blocking rows
    shown = cut.count("| <code>GATE-RI005</code> ")
    assert 0 < shown < 4000
    assert f"{4000 - shown} of 4000 blocking findings (the least severe)" in cut
    # The worst are the ones kept: every critical row comes before any high row.
    rows = [ln for ln in cut.splitlines() if ln.startswith("| critical |")]
    assert len(rows) == min(shown, 2000)
    assert cut.count("<details>") == cut.count("</details>")
    assert f"… and {4000 - shown} more blocking findings in the HTML report." in cut
    assert cut.index("### Findings by check and severity") < cut.index("### Blocking findings")


def test_long_tables_stop_at_the_row_limit(tmp_path: Path) -> None:
    r = _huge(stable_report(BAD, tmp_path), 120, 10)
    text = MarkdownReporter(rules=all_rules(), row_limit=50).render(r)
    assert text.count("| <code>GATE-RI005</code> ") == 50 + 50  # blocking table + the check's table
    assert "\n\n… and 70 more blocking findings in the HTML report." in text
    assert "\n\n… and 70 more findings in the HTML report." in text  # the per-check table
    block = _waiver_block(text)
    assert len([ln for ln in block if ln.startswith("model-gate waiver new")]) == 50
    assert "… and 70 more waivable findings in the HTML report." in text
    assert len(text.encode()) < GITHUB_SUMMARY_LIMIT // 4  # no byte cut was needed
    assert "This summary was cut" not in MarkdownReporter(rules=all_rules()).render_limited(r)


def test_cells_are_capped(tmp_path: Path) -> None:
    assert len(cell("y" * 10_000)) == 601
    r = _huge(stable_report(BAD, tmp_path), 1, 50_000)
    assert len(MD.render(r).encode()) < 20_000


def test_tiny_budget_still_yields_a_bounded_summary(tmp_path: Path) -> None:
    r = _huge(stable_report(BAD, tmp_path), 50, 200)
    out = MD.render_limited(r, max_bytes=2048)
    assert len(out.encode()) <= 2048
    assert out.startswith("## ❌ model-gate: **FAIL**")


def test_trim_text_closes_details_and_notes_the_cut() -> None:
    text = "# t\n<details><summary>s</summary>\n\n" + "line\n" * 1000
    out = trim_text(text, max_bytes=1024)
    assert len(out.encode()) <= 1024
    assert out.count("<details>") == out.count("</details>")
    assert "bytes were left out" in out


@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=0, max_size=4000), limit=st.integers(min_value=600, max_value=3000))
def test_trim_text_never_exceeds_the_budget(text: str, limit: int) -> None:
    out = trim_text(text, max_bytes=limit)
    assert len(out.encode("utf-8")) <= limit
    if len(text.encode("utf-8")) <= limit:
        assert out == text


# waiver lines ---------------------------------------------------------------------------------


def _waiver_block(text: str) -> list[str]:
    m = re.search(r"^(`{3,})sh\n(.*?)\n\1$", text, re.S | re.M)
    assert m is not None, "no waiver block"
    return m.group(2).split("\n")


def _commands(text: str) -> dict[str, str]:
    """finding id -> its `waiver new` line."""
    lines = [ln for ln in _waiver_block(text) if ln.startswith("model-gate waiver new ")]
    out = {}
    for ln in lines:
        argv = shlex.split(ln)
        out[argv[argv.index("--finding") + 1]] = ln
    return out


def test_a_waiver_line_per_blocking_finding_a_waiver_can_cover(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    text = MD.render(r)
    cmds = _commands(text)
    blocking = [f for f in r.findings if f.effective_blocking]
    waivable = {f.id for f in blocking if offers_waiver(r, f, find_rule(f.rule.code))}
    assert cmds and set(cmds) == waivable
    for f in r.findings:
        if not f.effective_blocking:
            assert f.id not in cmds  # none for what does not block
    # the others are listed with the reason, so every blocking finding is accounted for
    refused = [f for f in blocking if f.id not in waivable]
    assert refused and f"Cannot be waived ({len(refused)}):" in text
    for f in refused:
        assert f"- <code>{f.id}</code> <code>{f.rule.code}</code>: " in text
    assert "GATE-GA001" in {f.rule.code for f in refused}  # the catalogue: never waivable
    assert "GATE-SG004" in {f.rule.code for f in refused}  # the policy: unwaivable_rules GATE-SG*
    # every finding's id is in the summary
    for f in r.findings:
        assert f"<code>{f.id}</code>" in text


def test_the_waiver_line_runs_as_written(tmp_path: Path) -> None:
    """Copied from the summary, the line is the CLI's real syntax and writes a waiver."""
    rel = tmp_path / "bad release's dir"  # a quote and a space: the line must be shell-quoted
    shutil.copytree(BAD, rel, symlinks=True)
    r = stable_report(BAD, tmp_path)
    r = r.model_copy(update={"release": r.release.model_copy(update={"path": str(rel)})})
    finding, line = next(iter(_commands(MD.render(r)).items()))
    argv = shlex.split(line)
    assert argv[argv.index("--release") + 1] == str(rel)
    report = tmp_path / "report.json"
    report.write_text(r.model_dump_json(by_alias=True), "utf-8")
    argv[argv.index("--report") + 1] = str(report)
    out = tmp_path / "w.json"
    res = CliRunner().invoke(main, [*argv[1:], "--requester", "dev@example.com", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert finding in out.read_text("utf-8")


def golden(name: str) -> Report:
    return Report.model_validate_json((GOLDEN / f"{name}.json").read_bytes())


def test_the_waiver_line_names_the_release_from_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a runner the report holds the checkout's absolute path; the author's line is relative
    to the repository root (the same root SARIF's paths are relative to)."""
    repo = tmp_path / "repo"
    r = golden("bad-release")
    r = r.model_copy(update={"release": r.release.model_copy(update={"path": str(repo / "models" / "x")})})
    monkeypatch.setenv("MODEL_GATE_SARIF_ROOT", str(repo))
    for line in _commands(MD.render(r)).values():
        argv = shlex.split(line)
        assert argv[argv.index("--release") + 1] == "models/x"
    monkeypatch.setenv("MODEL_GATE_SARIF_ROOT", str(tmp_path / "elsewhere"))  # outside: as given
    for line in _commands(MD.render(r)).values():
        argv = shlex.split(line)
        assert argv[argv.index("--release") + 1] == str(repo / "models" / "x")


def test_no_waiver_section_without_blocking_findings() -> None:
    text = MD.render(golden("demo-release"))
    assert "waiver new" not in text and "### Waive" not in text


# the tables a reviewer would rather see ----------------------------------------------------------


def test_counts_table_comes_first_and_adds_up(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    text = MD.render(r)
    table = text.split("### Findings by check and severity\n\n", 1)[1].split("\n\n", 1)[0]
    rows = table.splitlines()[2:]
    by_check = {}
    for row in rows[:-1]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        by_check[re.sub("</?code>", "", cells[0])] = [int(c.strip("*")) for c in cells[1:]]
    for c in r.checks:
        fs = [f for f in r.findings if f.check == c.id]
        assert by_check[c.id][:5] == [sum(1 for f in fs if f.severity is s) for s in SEVERITIES]
        assert by_check[c.id][5] == sum(1 for f in fs if f.effective_blocking)
    total = [int(c.strip().strip("*")) for c in rows[-1].strip("|").split("|")[1:]]
    assert total[5] == sum(1 for f in r.findings if f.effective_blocking)
    assert text.index("### Findings by check and severity") < text.index("### Blocking findings")


def test_asr_tier_and_controls_tables(tmp_path: Path) -> None:
    d = json.loads(golden("demo-release").model_dump_json(by_alias=True))
    adv = next(c for c in d["checks"] if c["id"] == "adversarial")
    cats = adv["details"]["categories"]
    cats[0].update(fails=5, total=8, asr=0.63, ci_low=0.306, ci_high=0.863, over_threshold=True)
    cats[1].update(baseline_asr=0.0, delta=0.18, asr=0.18, ci_low=0.06, ci_high=0.41, regression=True)
    text = MD.render(Report.model_validate(d))
    asr = text.split("### Attack success rate per category", 1)[1].split("###", 1)[0]
    assert asr.count("\n| <code>") == len(cats)
    assert "| 5/8 | 63% | 31%–86% | 20% |" in asr and "❌ over" in asr
    assert "| 0% | +18 pt | ❌ regressed |" in asr
    tier = text.split("### Risk tier:", 1)[1].split("###", 1)[0]
    for f in d["tier"]["factors"]:
        assert f"| {f['name']} | {f['value']} | +{f['points']} |" in tier
    assert "EU AI Act: limited; no floor above the score" in tier
    controls = text.split("### Monitoring controls", 1)[1].split("###", 1)[0]
    assert controls.count("\n| <code>MC-") == 13 and "✓ verified" in controls
    bad = MD.render(stable_report(BAD, tmp_path))
    assert "EU AI Act: high-risk; its floor is high, so the tier is at least high" in bad
    assert "✗ missing" in bad and "✗ broken" in bad


def test_ga001_names_what_requires_the_check(tmp_path: Path) -> None:
    text = MD.render(stable_report(BAD, tmp_path))
    (row,) = [ln for ln in text.splitlines() if ln.startswith("| high | <code>GATE-GA001</code>")][:1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "policy tiers.high.required: adversarial"


# hostile text --------------------------------------------------------------------------------

HOSTILE = "x`y` ```` <script>alert(1)</script> [a](javascript:x) | *b* \n::error::z"


def test_hostile_text_is_inert_in_summary_tables_and_waiver_lines(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    fs = [f.model_copy(update={"title": HOSTILE, "mitigation": HOSTILE}) for f in r.findings]
    checks = [c.model_copy(update={"summary": HOSTILE}) for c in r.checks]
    release = r.release.model_copy(update={"name": HOSTILE, "path": "rel ```` \n::error::x"})
    r = r.model_copy(update={"findings": tuple(fs), "checks": tuple(checks), "release": release})
    text = MD.render(r)
    html = GFM.render(text)
    assert "<script" not in html and "<a " not in html  # no element, no link from release text
    # <summary>: HTML only (GitHub renders no Markdown there), no literal backticks
    summaries = [
        line.split("<summary>", 1)[1].split("</summary>", 1)[0]
        for line in text.splitlines()
        if line.startswith("<details><summary>")
    ]
    assert all("`" not in x and "<script" not in x for x in summaries)
    # each check's summary line: the balanced code span as HTML, the rest as inert text
    assert sum("<code>y</code>" in x and "&#124;" in x for x in summaries) == len(r.checks)
    # the waiver block: one fenced block, each line one comment or one command
    block = _waiver_block(text)
    assert all(ln.startswith(("# ", "model-gate waiver new ")) for ln in block)
    cmds = _commands(text)
    blocking = [f for f in r.findings if f.effective_blocking]
    assert set(cmds) == {f.id for f in blocking if offers_waiver(r, f, find_rule(f.rule.code))}
    code_blocks = [t for t in GFM.parse(text) if t.type == "fence"]
    assert len(code_blocks) == 1 and code_blocks[0].content.count("model-gate waiver new") == len(cmds)
    # table rows keep their columns
    for line in text.splitlines():
        if line.startswith("| ") and "GATE-" in line:
            assert len(re.findall(r"(?<!\\)\|", line)) == 7, line


def test_the_action_docs_state_the_row_limit_and_the_cut_order() -> None:
    from gate.reporters.markdown import CUT_ORDER
    from gate.reporters.markdown_sections import ROW_LIMIT
    from tests.support import ROOT

    doc = " ".join((ROOT / "docs" / "github-action.md").read_text("utf-8").split())
    assert f"Each table stops at {ROW_LIMIT} rows" in doc
    phrase = {
        "details": "per-check details first",
        "waivers": "the waiver table",
        "baseline": "the baseline",
        "controls": "the controls",
        "asr": "the attack success rates",
        "tier": "the tier scorecard",
        "waive": "the waiver lines",
    }
    cut = doc.split("a larger summary is cut by structure", 1)[1].split("a note says", 1)[0]
    at = [cut.index(phrase[name]) for name in CUT_ORDER] + [cut.index("the least severe blocking rows")]
    assert at == sorted(at)
