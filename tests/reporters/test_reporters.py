"""Golden files for the reporters: `pytest --update-goldens` rewrites them after a deliberate change."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from gate import engine
from gate.checks import all_rules
from gate.models.report import Report
from gate.reporters import REPORTERS, get_reporter
from tests.support import BAD, DEMO, GOLDEN, stable_mirror_url
from tests.support.tooling import hidden_tools

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint

FIXED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def stable_report(src: Path, tmp_path: Path, hide: tuple[str, ...] = ("promtool", "chromium")) -> Report:
    """The report as on every machine: optional executables (promtool, chromium) hidden, so a
    golden never records which of them this machine has. garak, which the demo's results need,
    is the redteam extra: the demo's goldens are marked needs_tool("garak")."""
    dst = tmp_path / src.name
    shutil.copytree(src, dst, symlinks=True)
    with hidden_tools(hide, tmp_path / "shadow-bin"):
        report = engine.run(engine.RunRequest(release_dir=dst, clock=lambda: FIXED))
    report = Report.model_validate_json(stable_mirror_url(report.model_dump_json(by_alias=True)))
    checks = tuple(c.model_copy(update={"duration_s": 0.0}) for c in report.checks)
    release = report.release.model_copy(update={"path": f"examples/{src.name}"})
    return report.model_copy(update={"checks": checks, "release": release, "gate_version": "0.0.0"})


@pytest.mark.parametrize("fmt", sorted(REPORTERS))
@pytest.mark.parametrize(
    "src", [pytest.param(DEMO, marks=pytest.mark.needs_tool("garak")), BAD], ids=["demo", "bad"]
)
def test_golden(fmt: str, src: Path, tmp_path: Path, update_goldens: bool) -> None:
    reporter = get_reporter(fmt, rules=all_rules())
    text = reporter.render(stable_report(src, tmp_path))
    golden = GOLDEN / f"{src.name}{reporter.suffix}"
    if update_goldens:
        golden.write_text(text, "utf-8")
    assert golden.exists(), f"{golden} missing: run pytest --update-goldens"
    assert text == golden.read_text("utf-8")


def test_markdown_cells_cannot_break_the_table(tmp_path: Path) -> None:
    from gate.reporters.markdown import cell

    # The newline is shown as an escape (its backslash escaped for Markdown), never a line break.
    assert cell("a|b\n<script>") == "a\\|b\\\\n&lt;script&gt;"


def test_text_colour_only_when_asked(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    plain = get_reporter("text").render(r, color=False)
    coloured = get_reporter("text").render(r, color=True)
    assert "\x1b[" not in plain and "\x1b[" in coloured
    assert "GATE-RI005 executable-code-in-release" in plain


@pytest.mark.needs_tool("promtool")
def test_only_the_promtool_record_depends_on_promtool(tmp_path: Path) -> None:
    """With promtool present the report differs from the golden's (promtool hidden) in exactly
    one place: the record of what promtool said."""
    with_tool = stable_report(BAD, tmp_path / "with", hide=())
    without = stable_report(BAD, tmp_path / "without")

    def strip(r: Report) -> list[tuple[str, str, dict[str, object]]]:
        return [
            (c.id, c.status.value, {k: v for k, v in c.details.items() if k != "promtool"}) for c in r.checks
        ]

    assert strip(with_tool) == strip(without)
    # Without promtool the rule expressions are unverified, which is a finding of its own.
    unverified = "GATE-MO015"
    assert [f.id for f in with_tool.findings] == [f.id for f in without.findings if f.rule.code != unverified]
    assert any(f.rule.code == unverified for f in without.findings)
    monitoring = {c.id: c for c in with_tool.checks}["monitoring"].details["promtool"]
    assert monitoring["ran"] is True
    assert {c.id: c for c in without.checks}["monitoring"].details["promtool"]["ran"] is False
