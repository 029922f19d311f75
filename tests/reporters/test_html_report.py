"""The HTML report: content, hostile release text, and the page as a real browser shows it."""

from __future__ import annotations

import contextlib
import copy
import html
import json
import re
import shlex
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.checks import all_rules
from gate.commands import main
from gate.models.report import Report
from gate.reporters import get_reporter
from gate.reporters.html import HtmlReporter
from tests.support import BAD, GOLDEN

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>\n</style><svg onload=alert(3)>&amp;"


def golden_dict(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text("utf-8"))
    return data


def render(data: dict[str, Any]) -> str:
    return HtmlReporter(rules=all_rules()).render(Report.model_validate(data))


class Page(HTMLParser):
    """Every start tag with its attributes, and all text as a browser would decode it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.by_class: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(sorted(a for a, _ in attrs))))
        self.attrs += [(tag, a, v) for a, v in attrs]
        for a, v in attrs:
            if a == "class" and v:
                for c in v.split():
                    self.by_class.setdefault(c, []).append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


def hostile_report(s: str) -> dict[str, Any]:
    """The demo report with `s` in every place a release can put text."""
    d = golden_dict("demo-release")
    d["release"]["name"] = s
    d["release"]["version"] = s
    d["release"]["path"] = s
    d["tier"]["rationale"] = [s]
    d["policy"]["notes"] = [s]
    d["artifacts"] = {"sbom": s, "attestation": f"javascript:{s}"}
    for c in d["checks"]:
        c["summary"] = s
        if c["id"] == "adversarial":
            for cat in c["details"]["categories"]:
                cat["title"] = s
            c["details"]["categories"][0]["category"] = s
        if c["id"] == "monitoring":
            for ctl in c["details"]["controls"].values():
                ctl["name"] = s
                ctl["evidence"] = [s]
    bad = golden_dict("bad-release")
    f = copy.deepcopy(bad["findings"][0])
    f.update(
        title=s,
        location={"path": s, "line": 3, "detail": s},
        evidence={s: [s, 1], "k": s},
        mitigation=s,
        reproduction=s,
    )
    d["findings"] = [f]
    d["waivers"] = [
        {
            "path": s,
            "id": s,
            "status": "applied",
            "reason": s,
            "findings": [s],
            "expires": s,
            "expiring_soon": True,
        }
    ]
    return d


def waiver_commands(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<pre class="waiver-cmd">(.*?)</pre>', page, re.S)]


def structure(p: Page) -> list[tuple[str, tuple[str, ...]]]:
    return p.tags


# content -------------------------------------------------------------------------------------


def test_demo_page_has_every_section() -> None:
    page = render(golden_dict("demo-release"))
    p = parse(page)
    text = "".join(p.text)
    assert page.startswith("<!DOCTYPE html>")
    assert "PASS: demo-tiny-gpt2 1.0.0" in text
    # the check x severity matrix: one row per check plus the total
    assert len(p.by_class["matrix"]) == 1
    (adv,) = [c for c in golden_dict("demo-release")["checks"] if c["id"] == "adversarial"]
    cats = adv["details"]["categories"]
    assert p.by_class["bar"].count("rect") == len(cats) + 7  # ASR bars + 6 factors + total
    assert "Attack success rate per category" in text and "Risk tier: low" in text
    assert "MC-13" in text and "Monitoring controls (score 100%)" in text
    # no script, no external resource of any kind
    assert not any(tag == "script" for tag, _ in p.tags)
    assert not any(a in ("src", "srcset") for _, a, _ in p.attrs)
    assert "link" not in {tag for tag, _ in p.tags} and "url(" not in page


def test_bad_release_findings_are_grouped_by_check_with_a_waiver_command() -> None:
    data = golden_dict("bad-release")
    page = render(data)
    p = parse(page)
    text = "".join(p.text)
    assert "FAIL: bad-release 0.0.1" in text
    checks = {f["check"] for f in data["findings"]}
    assert len(p.by_class["check-findings"]) == len(checks)
    assert len(p.by_class["finding"]) == len(data["findings"])
    blocking = [f for f in data["findings"] if f["blocking"] and not f["waiver"]]
    cmds = waiver_commands(page)
    # one command per blocking finding whose rule can be waived; the others say so
    assert 0 < len(cmds) <= len(blocking)
    refused = text.count("this rule cannot be waived") + text.count("the policy makes this rule unwaivable")
    assert len(cmds) + refused == len(blocking)
    # the policy's unwaivable_rules (GATE-SG* in the default policy) get no line that would fail
    sg004 = next(f for f in blocking if f["rule"]["code"] == "GATE-SG004")
    assert not any(sg004["id"] in c for c in cmds)
    for f in blocking:
        assert f["id"] in text
    assert "EU AI Act: high-risk; its floor is high" in text


def test_waiver_command_from_the_page_runs(tmp_path: Path) -> None:
    """The copy-paste command is the CLI's real syntax: run it and get a waiver for that finding."""
    rel = tmp_path / "bad release's dir"  # a quote and a space: the command must be shell-quoted
    shutil.copytree(BAD, rel, symlinks=True)
    data = golden_dict("bad-release")
    data["release"]["path"] = str(rel)
    line = waiver_commands(render(data))[0]
    assert line.startswith("model-gate waiver new ")
    argv = shlex.split(line)
    assert argv[argv.index("--release") + 1] == str(rel)
    assert argv[argv.index("--report") + 1] == "report.json"
    report = tmp_path / "report.json"
    report.write_text(json.dumps(data), "utf-8")
    argv[argv.index("--report") + 1] = str(report)
    out = tmp_path / "w.json"
    res = CliRunner().invoke(main, [*argv[1:], "--requester", "dev@example.com", "--output", str(out)])
    assert res.exit_code == 0, res.output
    finding = argv[argv.index("--finding") + 1]
    assert finding in out.read_text("utf-8")


def test_cli_writes_html(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    dst = tmp_path / "rel"
    shutil.copytree(BAD, dst, symlinks=True)
    res = CliRunner().invoke(main, ["check", str(dst), "--format", "html", "--output", str(out)])
    assert res.exit_code == 1, res.output
    assert "FAIL: bad-release" in "".join(parse(out.read_text("utf-8")).text)


# hostile text --------------------------------------------------------------------------------


def test_hostile_text_is_shown_not_obeyed() -> None:
    page = render(hostile_report(HOSTILE))
    p = parse(page)
    tags = [t for t, _ in p.tags]
    assert "script" not in tags and "img" not in tags
    assert tags.count("style") == 1 and tags.count("svg") == 2  # ours: one stylesheet, two charts
    assert not any(a.startswith("on") for _, a, _ in p.attrs)
    hrefs = [v or "" for t, a, v in p.attrs if a == "href"]
    assert hrefs and all(":" not in h for h in hrefs)  # no scheme: javascript: cannot be a link
    text = "".join(p.text)
    assert text.count(HOSTILE) >= 10  # shown verbatim, in every place it was put
    # the same structure as the benign twin: release text added no element or attribute
    assert structure(p) == structure(parse(render(hostile_report("benign"))))


def test_the_page_forbids_scripts() -> None:
    page = render(golden_dict("demo-release"))
    head = page.split("</head>")[0]
    assert "default-src 'none'" in head and "script-src" not in head and "unsafe-inline" not in head


# markup-shaped text (tags, quotes, entities) as well as any text at all
TEXT = st.one_of(st.text(alphabet="<>/\"'&=;# \nabscriptimgonerr", max_size=40), st.text(max_size=40))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT.filter(lambda s: s.strip() == s and s.strip()))
def test_any_release_text_keeps_the_page_structure(s: str) -> None:
    p = parse(render(hostile_report(s)))
    assert structure(p) == structure(parse(render(hostile_report("benign"))))
    assert s in "".join(p.text)


# a real browser ------------------------------------------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless browser installed (apt-get install chromium): the browser tests need one")


def run_browser(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into rows of raw pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6)
            channels = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line[j] for j in range(stride) if j % channels < 3))
        prev = line
    return width, height, rows


@pytest.mark.needs_tool("chromium")
@pytest.mark.parametrize("name", ["demo-release", "bad-release"])
def test_browser_renders_the_page(name: str, tmp_path: Path) -> None:
    data = golden_dict(name)
    page = tmp_path / f"{name}.html"
    page.write_text(render(data), "utf-8")
    res = run_browser(["--dump-dom", page.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    # no console message at all: no script error, no CSP violation (the stylesheet's hash matches)
    assert ":CONSOLE" not in res.stderr, res.stderr
    dom = parse(res.stdout)
    text = "".join(dom.text)
    assert f"{data['verdict'].upper()}: {data['release']['name']}" in text
    cats = next(c for c in data["checks"] if c["id"] == "adversarial")["details"].get("categories") or []
    factors = data["tier"]["factors"]
    assert dom.by_class["bar"].count("rect") == len(cats) + len(factors) + 1
    assert len(dom.by_class["bar-label"]) == len(cats) + len(factors) + 1
    for c in cats:
        assert c["category"] in text
    assert len(dom.by_class.get("finding", [])) == len(data["findings"])


@pytest.mark.needs_tool("chromium")
def test_browser_screenshot_is_a_styled_page(tmp_path: Path) -> None:
    """The stylesheet applies under the page's CSP (the banner is red) and the page is not blank."""
    page = tmp_path / "bad.html"
    page.write_text(render(golden_dict("bad-release")), "utf-8")
    shot = tmp_path / "shot.png"
    res = run_browser([f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri()], tmp_path)
    assert shot.exists(), res.stderr[-2000:]
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 1400)
    r, g, b = rows[10][30:33]  # inside the verdict banner
    assert r > 150 and g < 60 and b < 60, (r, g, b)
    sample = [row[i : i + 3] for row in rows[::20] for i in range(0, len(row), 60)]
    assert len(set(sample)) > 20  # text, tables, charts: many colours, not a blank page


def visible_text(url: str, tmp_path: Path, timeout: float = 90.0) -> str:
    """The page's rendered text (`document.body.innerText`: what is laid out and not hidden,
    closed <details> showing only their summary), read from a headless Chromium over its
    DevTools pipe (fd 3 in, fd 4 out, NUL-delimited JSON). The page's own CSP still forbids
    every script of the page; DevTools evaluates outside it."""
    import fcntl
    import os
    import select
    import time

    def high(fd: int) -> int:  # clear of 3 and 4, which the browser must get
        new = fcntl.fcntl(fd, fcntl.F_DUPFD, 100)
        os.close(fd)
        return new

    cmd_r, cmd_w = map(high, os.pipe())
    out_r, out_w = map(high, os.pipe())
    browser = chromium()
    proc = subprocess.Popen(
        [
            "bash",
            "-c",
            f'exec "$0" "$@" 3<&{cmd_r} 4>&{out_w} {cmd_r}<&- {out_w}>&-',
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-pipe",
            f"--user-data-dir={tmp_path / 'cdp-profile'}",
            "about:blank",
        ],
        pass_fds=(cmd_r, out_w),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(cmd_r)
    os.close(out_w)
    deadline = time.monotonic() + timeout
    pending = b""
    counter = iter(range(1, 1_000_000))

    def call(method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        nonlocal pending
        i = next(counter)
        msg: dict[str, Any] = {"id": i, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(cmd_w, json.dumps(msg).encode() + b"\0")
        while time.monotonic() < deadline:
            while b"\0" in pending:
                raw, pending = pending.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == i:
                    assert "error" not in answer, answer
                    return answer["result"]
            ready, _, _ = select.select([out_r], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                chunk = os.read(out_r, 1 << 16)
                assert chunk, "the browser closed its DevTools pipe"
                pending += chunk
        raise TimeoutError(f"no answer from the browser to {method}")

    def evaluate(expr: str, session: str) -> Any:
        return call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)["result"][
            "value"
        ]

    try:
        target = call("Target.createTarget", {"url": url})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        while evaluate("document.readyState + ' ' + location.href", session) != f"complete {url}":
            assert time.monotonic() < deadline, "the page did not load"
            time.sleep(0.1)
        text: str = evaluate("document.body.innerText", session)
        return text
    finally:
        with contextlib.suppress(OSError):  # already gone
            os.write(cmd_w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(cmd_w)
        os.close(out_r)


def _baseline_policy(directory: Path, alice: Any) -> Path:
    from tests.support.waiverkit import pem_public

    directory.mkdir(parents=True)
    (directory / "alice.pub").write_text(pem_public(alice))
    path = directory / "policy.yaml"
    path.write_text(
        "version: 1\nname: team\nextends: [default]\ndefaults:\n  block_on: new\n  baseline:\n"
        "    signers:\n      - id: alice@example.com\n        keys: [alice.pub]\n"
    )
    return path


@pytest.mark.needs_tool("chromium")
def test_browser_shows_the_baseline_labels_and_counts(tmp_path: Path) -> None:
    """A pull request judged against the base branch's signed verdict (`check --baseline`):
    the page shows, as rendered, which findings are new, unchanged (tracked) and fixed, with
    the counts of each."""
    from tests.support import run_cli
    from tests.support.waiverkit import CODE_RELEASE, code_release, make_keys, pem_private

    keys = make_keys()
    policy = str(_baseline_policy(tmp_path / "policy", keys.alice))
    key = tmp_path / "alice.key"
    key.write_bytes(pem_private(keys.alice))
    # The base branch had helper.py and other.py; the pull request drops other.py (fixed),
    # keeps helper.py (unchanged) and adds tool.py (new).
    base = code_release(tmp_path / "base", files={**CODE_RELEASE, "model/other.py": b"x = 1\n"})
    att = tmp_path / "base.intoto.json"
    res = run_cli("check", str(base), "--policy", policy, "--attest", str(att), "--attest-key", str(key))
    assert res.exit_code == 1 and att.is_file(), res.output
    pr = code_release(tmp_path / "pr", files={**CODE_RELEASE, "model/tool.py": b"import os\n"})
    page, report = tmp_path / "pr.html", tmp_path / "pr.json"
    res = run_cli(
        "check", str(pr), "--policy", policy, "--baseline", str(att),
        "--format", "html", "--output", str(page), "--format", "json", "--output", str(report),
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    data = json.loads(report.read_text("utf-8"))
    b = data["baseline"]
    assert b["honoured"] and (b["new"], b["unchanged"], len(b["fixed"])) >= (1, 1, 1)

    text = visible_text(page.as_uri(), tmp_path)
    assert "Baseline" in text
    assert f"{b['new']} new, {b['unchanged']} unchanged, {len(b['fixed'])} fixed" in text
    assert f"Fixed since the baseline ({len(b['fixed'])})" in text
    for f in b["fixed"]:
        assert f["id"] in text
    # every labelled finding shows its label in its (always visible) summary line
    labelled = [f for f in data["findings"] if f["baseline"]]
    assert {f["baseline"] for f in labelled} == {"new", "unchanged"}
    for f in labelled:
        state = "tracked" if f["id"] in b["tracked"] else "blocking" if f["blocking"] else "advisory"
        assert f"{f['title']} {state} · {f['baseline']}" in text, f["title"]
    assert text.count("blocking · new") == sum(
        1 for f in labelled if f["baseline"] == "new" and f["blocking"]
    )
    assert text.count("tracked · unchanged") == len(b["tracked"]) >= 1
    # rendered text, not page source: a tracked finding's details are collapsed, so the line
    # inside them is in the page but not shown
    hidden = "the baseline had it; block_on: new tracks it, not blocking"
    assert hidden in html.unescape(page.read_text("utf-8")) and hidden not in text


def test_get_reporter_knows_html() -> None:
    assert get_reporter("html").suffix == ".html"


def redteam_report() -> dict[str, Any]:
    """The demo report after a worse red-team run: one category over its limit, one regressed."""
    d = golden_dict("demo-release")
    adv = next(c for c in d["checks"] if c["id"] == "adversarial")
    cats = adv["details"]["categories"]
    cats[0].update(fails=5, total=8, asr=0.63, ci_low=0.306, ci_high=0.863, over_threshold=True)
    cats[1].update(baseline_asr=0.0, delta=0.18, asr=0.18, ci_low=0.06, ci_high=0.41, regression=True)
    cats[2].update(baseline_asr=0.1, delta=-0.1)
    d["artifacts"] = {"sbom": "out/sbom.cdx.json", "attestation": "out/verdict.intoto.jsonl"}
    return d


def test_asr_chart_marks_limits_baselines_and_failures() -> None:
    d = redteam_report()
    cats = next(c for c in d["checks"] if c["id"] == "adversarial")["details"]["categories"]
    page = render(d)
    chart = page.split('class="chart asr-chart"')[1].split("</svg>")[0]
    assert chart.count('class="bar"') == len(cats)
    assert chart.count('class="interval"') == len(cats)
    assert chart.count('class="threshold"') == sum(1 for c in cats if c["threshold"] is not None)
    assert chart.count('class="reference"') == 2  # the two categories with a baseline
    assert chart.count('fill="#c62828"') == 2  # red bars: over the limit, and the regression
    assert "63% [31%–86%] · limit 20%" in html.unescape(chart)
    assert "+18 pt" in page and "-10 pt" in page and "✗ regressed" in page
    p = parse(page)
    assert [v for t, a, v in p.attrs if a == "href"] == ["out/sbom.cdx.json", "out/verdict.intoto.jsonl"]


def test_waivers_show_expiry_and_days_left() -> None:
    d = golden_dict("demo-release")
    d["waivers"] = [
        {
            "path": "w.json",
            "id": "WVR-1",
            "status": "applied",
            "reason": "r",
            "findings": ["F"],
            "expires": "2026-01-12T03:04:05+00:00",
            "expiring_soon": True,
        },
    ]
    d["generated_at"] = "2026-01-02T03:04:05+00:00"
    text = "".join(parse(render(d)).text)
    assert "2026-01-12T03:04:05+00:00 ⏳ expiring soon" in text and "10 days left" in text


def test_odd_details_do_not_break_the_page() -> None:
    """Details of another gate version (or a hand-edited report): wrong types are shown or skipped."""
    d = golden_dict("demo-release")
    for c in d["checks"]:
        if c["id"] == "adversarial":
            c["details"]["categories"] = [
                "x",
                {"category": "<marquee>c</marquee>", "asr": "0.5", "ci_low": True},
            ]
        if c["id"] == "monitoring":
            c["details"]["controls"] = {
                "MC-01": {"name": "n", "status": "missing", "reasons": "one reason"},
                "x": 3,
            }
    p = parse(render(d))
    text = "".join(p.text)
    assert "<marquee>c</marquee>" in text and "one reason" in text and "o\nn" not in text
    assert "marquee" not in {t for t, _ in p.tags}


def test_evidence_section_matches_the_pack_of_the_same_report() -> None:
    from gate.compliance.pack import Outcome, build_pack

    for name in ("demo-release", "bad-release"):
        page = render(golden_dict(name))
        pack = build_pack(GOLDEN / f"{name}.json")
        table = re.search(r'<table class="evidence">(.*?)</table>', page, re.S)
        assert table is not None
        rows = re.findall(r"<tr><th>([^<]*)</th>((?:<td>\d+</td>)+)</tr>", table.group(1))
        shown = {html.unescape(t): [int(n) for n in re.findall(r"\d+", cells)] for t, cells in rows}
        assert shown == {fw.title: [fw.counts[o.value] for o in Outcome] for fw in pack.frameworks}
        failed = sum(fw.counts["failed"] for fw in pack.frameworks)
        assert (failed > 0) == (name == "bad-release")
        # one collapsible requirement table per framework, and the pack's own disclaimer
        assert page.count('<details class="framework">') == len(pack.frameworks)
        assert "It is not a statement of compliance" in html.unescape(page)
