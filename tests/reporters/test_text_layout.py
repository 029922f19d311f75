"""The terminal report: fits the width, wraps between words with hanging indents, says things once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gate.models.report import Report
from gate.reporters.text import DEFAULT_WIDTH, TextReporter
from gate.wording import article, count
from tests.reporters.test_reporters import BAD, stable_report
from tests.support import run_cli


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return stable_report(BAD, tmp_path_factory.mktemp("bad"))


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("width", [40, 60, 80, 100, 160])
def test_every_line_fits_and_words_stay_whole(bad: Report, width: int) -> None:
    text = TextReporter().render(bad, width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    flat = _squash(text)
    # Each mitigation and check summary is there whole: the wrap broke lines only between words
    # (a word longer than the line is the one exception, and these have none that long).
    for f in bad.findings:
        if f.mitigation and max(len(w) for w in f.mitigation.split()) < width - 20:
            assert _squash(f.mitigation) in flat, f.rule.code
    for c in bad.checks:
        if max(len(w) for w in c.summary.split()) < width - 30:
            assert _squash(c.summary) in flat, c.id


def test_continuation_lines_hang_under_their_text(bad: Report) -> None:
    lines = TextReporter().render(bad, width=60).splitlines()
    fix = next(i for i, line in enumerate(lines) if line.startswith(" " * 11 + "fix: "))
    assert lines[fix + 1].startswith(" " * 16) and not lines[fix + 1].startswith(" " * 17)
    check = next(i for i, line in enumerate(lines) if "risk-tier" in line and "tier high" in line)
    col = lines[check].index("tier high")
    assert lines[check + 1][:col].strip() == "" and lines[check + 1][col] != " "


def test_the_path_is_printed_once_per_finding(bad: Report) -> None:
    text = TextReporter().render(bad)
    block = text.split("GATE-MF001 unsafe-pickle-import", 1)[1].split(" id GATE-MF001", 1)[0]
    assert block.count("model/pytorch_model.bin") == 1
    assert "at model/pytorch_model.bin (pytorch_model/data.pkl" in block
    assert "imports 'posix.system'" in block


def test_plurals_and_the_default_width(release: Path) -> None:
    res = run_cli("check", str(release))
    last = res.stdout.strip().splitlines()[-1]
    assert re.search(r": 0 blocking, \d+ findings?", last)
    n = int(re.search(r"(\d+) findings?", last).group(1))  # type: ignore[union-attr]
    assert ("1 finding " in last or "1 finding;" in last) if n == 1 else f"{n} findings" in last
    assert "problems" not in res.stdout.replace("0 problems", "")  # one file: never "1 problems"
    assert max(len(line) for line in res.stdout.splitlines()) <= DEFAULT_WIDTH


def test_the_terminal_width_comes_from_columns(release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    res = run_cli("check", str(release))
    assert max(len(line) for line in res.stdout.splitlines()) <= 50
    # A report written to a file keeps the default width whatever the terminal.
    out = release.parent / "r.txt"
    run_cli("check", str(release), "--format", "text", "--output", str(out))
    assert max(len(line) for line in out.read_text().splitlines()) > 50


@pytest.mark.parametrize(
    ("phrase", "want"),
    [
        ("OpenAI API key", "an OpenAI API key"),
        ("AWS access key id", "an AWS access key id"),
        ("Anthropic API key", "an Anthropic API key"),
        ("Hugging Face token", "a Hugging Face token"),
        ("JSON web token", "a JSON web token"),
        ("SSH key", "an SSH key"),
        ("unique name", "a unique name"),
        ("credentials in a URL", "credentials in a URL"),
        ("value of a secret-like name", "a value of a secret-like name"),
    ],
)
def test_articles(phrase: str, want: str) -> None:
    assert article(phrase) == want


def test_counts() -> None:
    assert [count(0, "problem"), count(1, "problem"), count(1500, "row")] == [
        "0 problems",
        "1 problem",
        "1,500 rows",
    ]
    assert count(2, "dependency", "dependencies") == "2 dependencies"
