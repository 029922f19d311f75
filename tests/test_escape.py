"""Release-controlled text is data: hostile file names in every report format.

A release holds a pickle whose name carries a newline, a fake check line and a GitHub
workflow command, another named with a byte that is not UTF-8, and a benign twin. Every
format is rendered by the real CLI; none may carry a workflow command, a fake line, a broken
table or unparseable XML, and the report is written (a finding, never "internal error").
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate import escape
from gate.action import Annotation, command
from gate.models.finding import Location
from tests.support import ROOT

FAKE_LINE = "     ok fake-check         all good"
EVIL = f"model/evil\n{FAKE_LINE}\n::error file=x::pwned ##[error]old\r\u202e.pkl"
NOT_UTF8 = b"model/bad\xff\xfe.pkl"
POLICY = """\
version: 1
name: escape-test
defaults:
  required: [release-integrity, model-files]
  block_at: high
"""


def _bad_pickle() -> bytes:
    return pickle.dumps(eval)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("esc") / "rel"
    (root / "model").mkdir(parents=True)
    (root / "model" / "benign_weights.pkl").write_bytes(_bad_pickle())
    (root / EVIL).write_bytes(_bad_pickle())
    with open(os.fsencode(root) + b"/" + NOT_UTF8, "wb") as fh:
        fh.write(_bad_pickle())
    (root / "release.yaml").write_text(
        "schema_version: 1\nname: esc\nversion: 1.0.0\n"
        "model: {path: model/, format: pickle}\n"
        "deployment: {exposure: internal, data_sensitivity: none, autonomy: advisory}\n",
        "utf-8",
    )
    pol = root.parent / "policy.yaml"
    pol.write_text(POLICY, "utf-8")
    return root, pol


def render(hostile: tuple[Path, Path], fmt: str) -> tuple[int, str]:
    root, pol = hostile
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "check", str(root), "--policy", str(pol), "--format", fmt],
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert b"Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc.returncode, proc.stdout.decode("utf-8")


def no_workflow_command(out: str) -> None:
    for line in out.splitlines():
        assert not line.lstrip().startswith("::"), line
        assert "##[" not in line, line
        assert line.rstrip() != FAKE_LINE.rstrip()
    assert "\r" not in out and "\u202e" not in out


@pytest.mark.parametrize("fmt", ["text", "markdown", "junit", "sarif", "json"])
def test_hostile_names_stay_data_in_every_format(hostile: tuple[Path, Path], fmt: str) -> None:
    code, out = render(hostile, fmt)
    assert code == 1, out[-2000:]  # judged and blocked: the report was written, no error
    assert "internal error" not in out
    if fmt not in ("json", "sarif"):  # machine formats: JSON escaping keeps the raw text as data
        no_workflow_command(out)
    # The benign twin is shown as it is.
    assert "model/benign" in out
    if fmt == "json":
        rep = json.loads(out)
        names = {
            f["rule"]["name"]: f for f in rep["findings"] if f["rule"]["name"] == "file-name-not-printable"
        }
        paths = {f["location"]["path"] for f in rep["findings"]}
        assert "model/bad\\xff\\xfe.pkl" in paths  # the bytes, named
        assert names  # and reported as a finding of their own
        assert all(c["status"] != "error" for c in rep["checks"])
    if fmt == "junit":
        ET.fromstring(out.encode())
    if fmt == "sarif":
        sarif = json.loads(out)
        results = sarif["runs"][0]["results"]
        for r in results:
            for line in r["message"]["text"].splitlines():  # shown as text by code scanning
                assert "##[" not in line and not line.lstrip().startswith("::") and line != FAKE_LINE
            assert "\r" not in r["message"]["text"] and "\u202e" not in r["message"]["text"]
            for line in r["properties"].get("reproduction", "").splitlines():  # multi-line by design
                assert "##[" not in line and not line.lstrip().startswith("::")
    if fmt == "markdown":
        for line in out.splitlines():
            if line.startswith("| ") and "GATE-" in line:
                assert len(re.findall(r"(?<!\\)\|", line)) == 7, line  # six cells, no more
        assert "<script" not in out


def test_action_annotations_are_one_line_commands() -> None:
    ann = Annotation("error", "title with\nnewline %0A", EVIL, EVIL, 3)
    line = ann.render()
    assert "\n" not in line and "\r" not in line
    assert line.startswith("::error file=") and line.count("::") == 2
    assert "%250A" in line  # a literal %0A stays literal
    assert command("notice", "a\n::warning::x") == "::notice::a%0A::warning::x"  # data, one line


def test_action_turns_off_workflow_commands_around_the_check(tmp_path: Path) -> None:
    """The gate's own output (its text report) is echoed inside stop-commands."""
    from gate import action

    source = Path(action.__file__).read_text("utf-8")
    assert "::stop-commands::" in source
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\necho '::error::from the release'\nexit 2\n")
    fake.chmod(0o755)
    env = {
        "INPUT_RELEASE": str(tmp_path),
        "GITHUB_WORKSPACE": str(tmp_path),
        "RUNNER_TEMP": str(tmp_path),
        "PATH": os.environ["PATH"],
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; from gate.action import run; sys.exit(run(python={str(fake)!r}))",
        ],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = proc.stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("::stop-commands::"))
    token = lines[start].split("::")[2]
    end = lines.index(f"::{token}::")
    assert start < lines.index("::error::from the release") < end


# --- the escape functions ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=())))
def test_escapes_hold_for_any_text(s: str) -> None:
    t = escape.text(s)
    assert "\n" not in t and "\r" not in t and "##[" not in t and not t.lstrip().startswith("::")
    md = escape.markdown(s)
    assert "\n" not in md and "<" not in md and "##[" not in md
    assert not re.search(r"(?<!\\)\|", md.replace("\\\\", ""))  # every pipe escaped
    el = ET.Element("a", {"b": escape.xml(s, newlines=False)})
    el.text = escape.xml(s)
    ET.fromstring(ET.tostring(el, encoding="unicode"))  # XML 1.0 accepts it
    escape.unsurrogate(s).encode("utf-8")  # never raises


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=())))
def test_html_inline_is_inert_html_for_any_text(s: str) -> None:
    """A <summary> line: no element but our <code>, no Markdown syntax, one line; read back as
    HTML it is the printable text (code spans' backticks aside)."""
    import html as std_html

    out = escape.html_inline(s)
    bare = out.replace("<code>", "").replace("</code>", "")
    assert "\n" not in out and "<" not in bare and ">" not in bare
    assert not re.search(r"[`*_\[\]|~\\]", bare)  # every Markdown-active character a reference
    assert std_html.unescape(bare).replace("`", "") == escape.printable(s).replace("`", "")
    plain = escape.html_inline(s, code_spans=False)
    assert "<" not in plain and std_html.unescape(plain) == escape.printable(s)


@given(st.text(alphabet="`ab\n", max_size=60))
def test_code_fence_outlasts_any_backtick_run(body: str) -> None:
    fence = escape.code_fence(body)
    assert len(fence) >= 3 and fence not in body


def test_escapes_keep_ordinary_text() -> None:
    plain = "model/weights-v1.safetensors: 3 files (ok)"
    assert escape.text(plain) == plain
    assert escape.printable("tab\there") == "tab\\there"
    assert escape.markdown("add `allow_pickle_callables` to the policy") == (
        "add `allow_pickle_callables` to the policy"
    )
    assert escape.markdown("see [x](http://evil/) <img>") == "see \\[x\\](http://evil/) &lt;img&gt;"
    assert escape.unsurrogate(os.fsdecode(b"a\xffb")) == "a\\xffb"
    assert escape.html_inline("add `allow_code` (a_b)") == "add <code>allow&#95;code</code> (a&#95;b)"


def test_a_non_utf8_name_in_a_location_is_its_bytes() -> None:
    loc = Location(path=os.fsdecode(b"w\xfe.bin"))
    assert loc.path == "w\\xfe.bin"
    loc.model_dump_json()
