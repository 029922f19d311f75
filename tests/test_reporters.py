"""Golden files for the reporters: `pytest --update-goldens` rewrites them after a deliberate change."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from gate import engine
from gate.models.report import Report
from gate.reporters import REPORTERS, get_reporter
from tests.conftest import BAD, DEMO, stable_mirror_url

GOLDEN = Path(__file__).parent / "golden"
FIXED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def stable_report(src: Path, tmp_path: Path) -> Report:
    dst = tmp_path / src.name
    shutil.copytree(src, dst, symlinks=True)
    report = engine.run(engine.RunRequest(release_dir=dst, clock=lambda: FIXED))
    report = Report.model_validate_json(stable_mirror_url(report.model_dump_json(by_alias=True)))
    checks = tuple(c.model_copy(update={"duration_s": 0.0}) for c in report.checks)
    release = report.release.model_copy(update={"path": f"examples/{src.name}"})
    return report.model_copy(update={"checks": checks, "release": release, "gate_version": "0.0.0"})


@pytest.mark.parametrize("fmt", sorted(REPORTERS))
@pytest.mark.parametrize("src", [DEMO, BAD], ids=["demo", "bad"])
def test_golden(fmt: str, src: Path, tmp_path: Path, update_goldens: bool) -> None:
    reporter = get_reporter(fmt)
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
