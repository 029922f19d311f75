"""The Markdown summary: the order a reviewer reads it in, and the cut that keeps it under 1 MiB."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gate.checks.release_integrity import RULES
from gate.models.finding import AppliedWaiver, Severity, new_finding
from gate.models.report import CheckStatus, Report, WaiverOutcome, WaiverStatus
from gate.reporters.markdown import GITHUB_SUMMARY_LIMIT, MarkdownReporter, cell, trim_text
from tests.reporters.test_reporters import stable_report
from tests.support import BAD

MD = MarkdownReporter()


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
        "### ⛔ Checks that could not complete (1)",
        f"### Blocking findings ({blocking})",
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
    full = MD.render(r)
    assert len(full.encode()) > GITHUB_SUMMARY_LIMIT  # the case worth testing
    cut = MD.render_limited(r)
    assert len(cut.encode()) <= GITHUB_SUMMARY_LIMIT - 16 * 1024
    assert cut.startswith("## ❌ model-gate: **FAIL**")
    assert "This summary was cut to fit GitHub's 1024 KiB limit" in cut
    assert f"the per-check details ({len(r.checks)} checks, 0 non-blocking findings)" in cut
    shown = cut.count("| `GATE-RI005` ")
    assert 0 < shown < 4000
    assert f"{4000 - shown} of 4000 blocking findings (the least severe)" in cut
    # The worst are the ones kept: every critical row comes before any high row.
    assert "| critical |" in cut and cut.count("| critical |") == min(shown, 2000)
    assert cut.count("<details>") == cut.count("</details>")


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
