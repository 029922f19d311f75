"""The GitHub Action: action.yml's steps run as the runner runs them, and gate.action as a library."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest

from gate import action as ga
from gate.models.finding import AppliedWaiver, Severity, new_finding
from gate.models.report import CheckStatus, Report
from tests.reporters.test_reporters import stable_report
from tests.support import BAD, DEMO, reachable
from tests.support.actionrunner import ANY_EXPR, ROOT, load_action, parse_output_file, run_action

# These tests check the demo release, whose adversarial check attacks its served endpoint.
pytestmark = pytest.mark.demo_endpoint

SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text("utf-8"))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    for src in (DEMO, BAD):
        shutil.copytree(src, ws / "examples" / src.name, symlinks=True)
    return ws


def props(line: str) -> dict[str, str]:
    """The properties of one workflow command line, unescaped."""
    m = re.match(r"^::(\w+)(?: ([^:]*))?::", line)
    assert m, line
    out = {}
    for part in (m.group(2) or "").split(","):
        if part:
            k, _, v = part.partition("=")
            out[k] = v.replace("%2C", ",").replace("%3A", ":").replace("%0A", "\n").replace("%0D", "\r")
            out[k] = out[k].replace("%25", "%")
    return out


# the action, step by step ---------------------------------------------------------------------


def test_demo_release_passes(workspace: Path, tmp_path: Path) -> None:
    run = run_action(
        {"release": "examples/demo-release", "formats": "sarif, junit, markdown", "offline": "true"},
        workspace,
        tmp_path,
    )
    assert run.outcome == "success", run.steps[-1].stderr
    assert [s.id for s in run.steps] == ["plan", "setup", "gate"]
    out = run.outputs
    assert (out["verdict"], out["tier"], out["exit-code"]) == ("pass", "low", "0")
    assert out["attestation"] == ""
    for key in ("report", "sarif", "junit", "markdown"):
        assert Path(out[key]).is_file(), key
        assert Path(out[key]).parent == Path(out["output-dir"])
    assert Path(out["output-dir"]).parent == tmp_path / "runner-temp"
    report = json.loads(Path(out["report"]).read_text("utf-8"))
    assert report["verdict"] == "pass"
    sarif = json.loads(Path(out["sarif"]).read_text("utf-8"))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    assert sarif["runs"][0]["automationDetails"]["id"] == "model-gate/examples/demo-release/"
    assert run.commands("error") == [] and run.commands("warning") == []
    assert run.summary.startswith("## ✅ model-gate: **PASS** — demo-tiny-gpt2 1.0.0")
    assert "No blocking findings." in run.summary
    assert "--offline" in run.stdout  # the command line is logged, with the input passed through


def test_bad_release_fails_the_step_with_annotations(workspace: Path, tmp_path: Path) -> None:
    run = run_action({"release": "examples/bad-release"}, workspace, tmp_path)
    assert run.outcome == "failure"
    assert run.steps[-1].returncode == 1
    out = run.outputs
    assert (out["verdict"], out["tier"], out["exit-code"]) == ("fail", "high", "1")
    assert Path(out["sarif"]).is_file()  # the default formats input asks for SARIF
    assert out["junit"] == "" and out["markdown"] == ""

    errors = run.commands("error")
    report = json.loads(Path(out["report"]).read_text("utf-8"))
    blocking = [f for f in report["findings"] if f["blocking"]]
    assert len(blocking) > ga.MAX_ANNOTATIONS  # the bad release has more than GitHub shows
    assert len(errors) == ga.MAX_ANNOTATIONS
    titles = [props(e)["title"] for e in errors]
    assert titles[0].endswith("(critical)")  # the worst first
    assert "GATE-RI002 link-escapes-release (critical)" in titles
    files = {props(e)["file"]: props(e).get("line") for e in errors}
    assert "examples/bad-release/model/vocab.txt" in files
    assert files["examples/bad-release/deploy/kubernetes.yaml"]  # file and line
    # The info finding is in the report, not in the annotations; the rest are counted in a notice.
    assert run.commands("warning") == []
    (notice,) = run.commands("notice")
    assert f"{len(blocking) - ga.MAX_ANNOTATIONS} more errors" in notice
    assert all("%0AFix: " in e for e in errors)

    s = run.summary
    assert s.startswith("## ❌ model-gate: **FAIL** — bad-release 0.0.1")
    assert "**Tier:** `high`" in s
    assert s.index(f"### Blocking findings ({len(blocking)})") < s.index("### Checks")
    assert "list its exact path under `allowed_code`" in s  # the fix column
    assert s.index("### Findings by check and severity") < s.index("### Blocking findings")
    # a copy-paste `waiver new` line per blocking finding a waiver can cover, with the release
    # path of the author's checkout; the rule catalogue (GATE-DE013 can never be waived) and the
    # policy (GATE-SG*) decide which
    from gate.checks import find_rule
    from gate.models.report import Report
    from gate.reporters.waiving import offers_waiver

    rep = Report.model_validate(report)
    lines = [ln for ln in s.splitlines() if ln.startswith("model-gate waiver new ")]
    expected = [f.id for f in rep.findings if offers_waiver(rep, f, find_rule(f.rule.code))]
    assert [ln.split("--finding ")[1].split()[0] for ln in lines] == expected != []
    assert all(ln.startswith("model-gate waiver new --release examples/bad-release ") for ln in lines)
    assert "<code>GATE-DE013</code>: this rule cannot be waived" in s
    assert "<code>GATE-SG004</code>: the policy makes this rule unwaivable" in s


def test_report_only_reports_without_failing(workspace: Path, tmp_path: Path) -> None:
    run = run_action({"release": "examples/bad-release", "report-only": "true"}, workspace, tmp_path)
    assert run.outcome == "success"
    assert run.outputs["verdict"] == "fail" and run.outputs["exit-code"] == "1"
    assert len(run.commands("error")) == ga.MAX_ANNOTATIONS
    notice = run.commands("notice")
    assert len(notice) == 2 and "report-only mode" in notice[-1]


def test_invalid_release_fails_even_in_report_only_mode(workspace: Path, tmp_path: Path) -> None:
    run = run_action({"release": "examples/no-such-release", "report-only": "true"}, workspace, tmp_path)
    assert run.outcome == "failure" and run.steps[-1].returncode == 2
    assert run.outputs["verdict"] == "error" and run.outputs["tier"] == "" and run.outputs["report"] == ""
    errors = run.commands("error")
    assert len(errors) == 1 and "no-such-release" in errors[0]
    assert "nothing was judged" in run.summary


def test_invalid_input_is_named(workspace: Path, tmp_path: Path) -> None:
    run = run_action({"release": "examples/demo-release", "formats": "sarif,pdf"}, workspace, tmp_path)
    assert run.steps[-1].returncode == 2
    (err,) = run.commands("error")
    assert "input formats: unknown format 'pdf'" in err
    assert run.outputs["verdict"] == "error" and run.outputs["report"] == ""


def test_inputs_cannot_inject_shell(workspace: Path, tmp_path: Path) -> None:
    evil = 'examples/demo-release"; touch pwned; echo "$(touch pwned2)'
    run = run_action({"release": evil, "policy": "$(touch pwned3)"}, workspace, tmp_path)
    assert run.steps[-1].returncode == 2  # no such release: the text stayed one argument
    assert not list(workspace.glob("pwned*")) and not list(tmp_path.glob("pwned*"))


def test_output_dir_input_and_two_releases_in_one_job(workspace: Path, tmp_path: Path) -> None:
    a = run_action({"release": "examples/demo-release", "output-dir": "out/demo"}, workspace, tmp_path / "a")
    b = run_action({"release": "examples/bad-release", "report-only": "true"}, workspace, tmp_path / "a")
    assert a.outputs["output-dir"] == str(workspace / "out" / "demo")
    assert a.outputs["report"] != b.outputs["report"]
    cats = {
        json.loads(Path(r.outputs["sarif"]).read_text("utf-8"))["runs"][0]["automationDetails"]["id"]
        for r in (a, b)
    }
    assert cats == {"model-gate/examples/demo-release/", "model-gate/examples/bad-release/"}


def test_setup_step_rejects_an_old_or_missing_python(workspace: Path, tmp_path: Path) -> None:
    run = run_action(
        {"release": "examples/demo-release", "python": "false"}, workspace, tmp_path, skip_setup=False
    )
    assert [s.id for s in run.steps] == ["plan"]
    assert run.steps[0].returncode == 2
    assert "Python 3.11 or newer" in run.steps[0].stdout


def test_setup_step_is_skipped_with_model_gate_python(workspace: Path, tmp_path: Path) -> None:
    run = run_action({"release": "examples/demo-release"}, workspace, tmp_path)
    import sys

    assert [s.id for s in run.steps] == ["plan", "setup", "gate"]  # no cache restored or saved
    assert run.steps[1].outputs == {"python": sys.executable, "cache-hit": "false"}
    assert "MODEL_GATE_PYTHON" in run.steps[0].stdout


# action.yml and the requirements it installs ---------------------------------------------------


def test_action_yml_passes_inputs_only_through_env() -> None:
    action = load_action()
    steps = action["runs"]["steps"]
    for step in steps:
        if "run" in step:
            assert not ANY_EXPR.search(step["run"])
        else:  # a pinned third-party action, given step outputs only
            assert not any("inputs." in str(v) for v in (step.get("with") or {}).values())
    gate_env = next(s for s in steps if s["id"] == "gate")["env"]
    envs = [v for s in steps for v in (s.get("env") or {}).values()]
    wired = {v.split("inputs.")[1].rstrip("} ") for v in envs if "inputs." in v}
    assert wired == set(action["inputs"]), "every input reaches a step, and nothing else does"
    fields = {f.upper().replace("-", "_") for f in ga.ActionInputs.__dataclass_fields__}
    assert {k.removeprefix("INPUT_") for k in gate_env if k.startswith("INPUT_")} == fields
    for name, spec in action["outputs"].items():
        step = "setup" if name == "cache-hit" else "gate"
        assert spec["value"] == f"${{{{ steps.{step}.outputs.{name} }}}}"


def test_every_output_is_set(workspace: Path, tmp_path: Path) -> None:
    run = run_action({"release": "examples/demo-release"}, workspace, tmp_path)
    assert set(run.steps[-1].outputs) == set(load_action()["outputs"]) - {"cache-hit"}
    assert run.outputs["cache-hit"] == "false"


def _lock(name: str) -> dict[str, set[str]]:
    """name -> pinned versions (one per environment marker) of a lock, asserting that every
    requirement is pinned with == and carries hashes."""
    text = (ROOT / "action" / name).read_text("utf-8")
    reqs = re.findall(
        r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)(?: ;[^\\\n]*)? \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
        text,
        re.M,
    )
    listed = [ln for ln in text.splitlines() if ln and not ln.startswith((" ", "#"))]
    assert len(listed) == len(reqs), f"{name}: every requirement is pinned with == and has hashes"
    assert "--find-links" not in text and "--index-url" not in text
    out: dict[str, set[str]] = {}
    for n, v, _ in reqs:
        out.setdefault(n.lower().replace("_", "-"), set()).add(v)
    return out


def _dist(dep: str) -> str:
    return re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower().replace("_", "-")


ACTION_EXTRAS = ("signing", "sbom", "formats", "data")  # what the default policy's checks need


def test_requirements_are_hash_pinned_and_cover_what_the_checks_need() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    base, redteam = _lock("requirements.txt"), _lock("requirements-redteam.txt")
    wanted = list(project["dependencies"])
    for extra in ACTION_EXTRAS:
        wanted += project["optional-dependencies"][extra]
    for dep in wanted:
        assert _dist(dep) in base, f"{dep} missing from action/requirements.txt"
    assert "setuptools" in base  # the build backend, hash-pinned too
    assert "garak" not in base and "torch" not in base  # several GB, only when a probe set is asked for
    # The red-team lock is the same install plus garak, at the same versions: the action adds it on top.
    for dep in project["optional-dependencies"]["redteam"]:
        assert _dist(dep) in redteam
    assert {k: v for k, v in redteam.items() if k in base} == base
    script = (ROOT / "scripts" / "lock_action_requirements.sh").read_text("utf-8")
    assert all(f"--extra {e}" in script for e in ACTION_EXTRAS)


FAKE_PYTHON = """#!/bin/bash
# An interpreter that records what the setup step asks of it: pip installs go to a log and
# "install" one file per pinned archive (and write pip's --report), `-m venv DIR` makes
# DIR/bin/python a copy of this script; version checks and scripts run on the real interpreter.
case "$1" in
  -I|-c) exec "$REAL_PYTHON" "$@" ;;
esac
case "$1 $2" in
  "-m venv")
    if [[ "${RUNNER_OS:-}" == Windows ]]; then mkdir -p "$3/Scripts" && cp "$0" "$3/Scripts/python.exe"
    else mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi ;;
  "-m pip") echo "${*:3}" >> "$FAKE_PIP_LOG"; exec "$REAL_PYTHON" "$FAKE_PIP" "$0" "${@:3}" ;;
esac
exit 0
"""

FAKE_PIP = """
import json, re, sys
from pathlib import Path
venv = Path(sys.argv[1]).parent.parent
args = sys.argv[2:]
if args[0] != "install":
    sys.exit(0)
report = args[args.index("--report") + 1]
items = []
if "-r" in args:
    text = Path(args[args.index("-r") + 1]).read_text()
    pins = re.findall(r"^([\\w.-]+)==(\\S+?)[ ;\\\\].*?--hash=sha256:(\\w{64})", text, re.M | re.S)
    for name, version, sha in pins:
        site = venv / "lib" / "site-packages"
        site.mkdir(parents=True, exist_ok=True)
        (site / f"{name}-{version}.installed").write_text(sha)
        archive = {"url": "https://x/" + name, "archive_info": {"hashes": {"sha256": sha}}}
        items.append({"metadata": {"name": name, "version": version}, "download_info": archive})
else:
    items.append({"metadata": {"name": "model-gate", "version": "0"},
                  "download_info": {"url": "file:///src", "dir_info": {}}})
Path(report).write_text(json.dumps({"version": "1", "install": items}))
"""


@pytest.fixture
def fake_python(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    import sys

    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON, "utf-8")
    fake.chmod(0o755)
    pip = tmp_path / "fake-pip.py"
    pip.write_text(FAKE_PIP, "utf-8")
    env = {
        "FAKE_PIP_LOG": str(tmp_path / "pip.log"),
        "FAKE_PIP": str(pip),
        "REAL_PYTHON": sys.executable,
        "PYTHONPATH": "",
    }
    return fake, env


def _installs(log: Path) -> list[str]:
    lines = log.read_text("utf-8").splitlines() if log.exists() else []
    return [line for line in lines if " -r " in line]


@pytest.mark.parametrize(
    ("redteam", "locks"),
    [
        ("", ["requirements"]),
        ("off", ["requirements"]),
        ("fast", ["requirements", "requirements-torch", "requirements-redteam"]),
        (
            " Broad ",
            ["requirements", "requirements-torch", "requirements-redteam"],
        ),  # as gate.action reads it
    ],
)
def test_setup_installs_the_red_team_locks_only_for_a_probe_set(
    workspace: Path, tmp_path: Path, fake_python: tuple[Path, dict[str, str]], redteam: str, locks: list[str]
) -> None:
    fake, env = fake_python
    log = Path(env["FAKE_PIP_LOG"])
    with_ = {"release": "examples/demo-release", "python": str(fake), "redteam": redteam, "cache": "false"}
    run = run_action(with_, workspace, tmp_path, env=env, skip_setup=False)
    assert run.step("setup") is not None and run.step("setup").returncode == 0, run.steps[-1].stderr  # type: ignore[union-attr]
    installs = _installs(log)
    assert [re.search(r"action/([\w-]+)\.txt", line).group(1) for line in installs] == locks  # type: ignore[union-attr]
    assert all("--require-hashes" in line and "--no-deps" in line for line in installs)
    assert "--only-binary=:all:" in installs[0]
    if len(installs) > 1:
        # torch from PyTorch's CPU index alone (PyPI's Linux torch is the CUDA build), wheels only
        assert "--index-url https://download.pytorch.org/whl/cpu" in installs[1]
        assert "--only-binary=:all:" in installs[1]
        assert "--prefer-binary --no-build-isolation" in installs[2] and "--index-url" not in installs[2]
    assert not [s for s in run.steps if s.id in ("restore", "save")]  # cache: false
    # The same job asking for the probe set later adds only the red-team locks to the same venv.
    log.unlink()
    run_action({**with_, "redteam": "fast"}, workspace, tmp_path, env=env, skip_setup=False)
    again = _installs(log)
    assert len(again) == (0 if len(locks) == 3 else 2)
    assert all("requirements-torch.txt" in line or "requirements-redteam.txt" in line for line in again)


def _cache_run(workspace: Path, tmp_path: Path, env: dict[str, str], fake: Path, **inputs: str):  # type: ignore[no-untyped-def]
    """One job: a fresh runner (no venv under RUNNER_TEMP), the repository's cache kept."""
    venvs = list((tmp_path / "runner-temp").glob("model-gate-venv-*"))
    for venv in venvs:
        shutil.rmtree(venv) if venv.is_dir() else venv.unlink()
    log = Path(env["FAKE_PIP_LOG"])
    log.unlink(missing_ok=True)
    run = run_action(
        {"release": "examples/demo-release", "python": str(fake), **inputs},
        workspace,
        tmp_path,
        env=env,
        skip_setup=False,
        cache_dir=tmp_path / "repo-cache",
    )
    return run, _installs(log)


@pytest.mark.parametrize("mode", ["", "fast"])
def test_second_job_restores_the_verified_cache(
    workspace: Path, tmp_path: Path, fake_python: tuple[Path, dict[str, str]], mode: str
) -> None:
    fake, env = fake_python
    first, installs = _cache_run(workspace, tmp_path, env, fake, redteam=mode)
    assert [s.id for s in first.steps] == ["plan", "restore", "setup", "save", "gate"], first.steps
    assert first.step("restore").outputs["cache-hit"] == "false"  # type: ignore[union-attr]
    assert installs and "recorded" in first.step("setup").stdout  # type: ignore[union-attr]
    key = first.step("plan").outputs["key"]  # type: ignore[union-attr]
    assert key.startswith("model-gate-venv-") and ("-redteam-" in key) == (mode == "fast")
    cached = tmp_path / "repo-cache" / key
    assert (cached / ".model-gate-manifest.json").is_file()

    second, installs = _cache_run(workspace, tmp_path, env, fake, redteam=mode)
    assert [s.id for s in second.steps] == ["plan", "restore", "setup", "gate"]  # nothing to save
    assert second.step("restore").outputs["cache-hit"] == "true"  # type: ignore[union-attr]
    assert installs == [] and "using the cached environment" in second.step("setup").stdout  # type: ignore[union-attr]
    assert (first.outputs["cache-hit"], second.outputs["cache-hit"]) == ("false", "true")
    assert second.commands("warning") == []


@pytest.mark.parametrize(
    "tamper",
    ["edit a module", "add a .pth", "remove a file", "drop the manifest", "retarget the manifest"],
)
def test_a_tampered_or_partial_cache_is_reinstalled(
    workspace: Path, tmp_path: Path, fake_python: tuple[Path, dict[str, str]], tamper: str
) -> None:
    fake, env = fake_python
    first, _ = _cache_run(workspace, tmp_path, env, fake)
    cached = tmp_path / "repo-cache" / first.step("plan").outputs["key"]  # type: ignore[union-attr]
    site = cached / "lib" / "site-packages"
    victim = sorted(site.iterdir())[0]
    manifest = cached / ".model-gate-manifest.json"
    if tamper == "edit a module":
        victim.write_text("import os; os.system('id')")
    elif tamper == "add a .pth":
        (site / "zz.pth").write_text("import os; os.system('id')\n")
    elif tamper == "remove a file":
        victim.unlink()
    elif tamper == "drop the manifest":
        manifest.unlink()
    else:  # a manifest from another lock: its archives and key are not this job's
        data = json.loads(manifest.read_text("utf-8"))
        data["key"] = "model-gate-venv-linux-x86_64-py3.11.0-core-0000"
        manifest.write_text(json.dumps(data), "utf-8")
    second, installs = _cache_run(workspace, tmp_path, env, fake)
    setup = second.step("setup")
    assert setup is not None and setup.returncode == 0
    (warning,) = second.commands("warning")
    assert "installing afresh" in warning and second.outputs["cache-hit"] == "false"
    assert installs, "the venv was rebuilt from the locks"
    venv = Path(setup.outputs["python"]).parent.parent
    assert not (venv / "lib" / "site-packages" / "zz.pth").exists()
    # The fresh venv verifies; the tampered entry stays (a key is written once) and is never used.
    from tests.test_action_venv import venvcheck

    assert venvcheck.problems(venv, "core", first.step("plan").outputs["key"]) == []  # type: ignore[union-attr]


@pytest.mark.slow
def test_real_hash_pinned_install_then_the_gate_runs(workspace: Path, tmp_path: Path) -> None:
    """The setup step as a runner runs it: a new virtual environment, `pip install --require-hashes`
    of action/requirements.txt from PyPI alone (no local index, as on GitHub), model-gate built from
    the checkout with nothing fetched; then the check runs in that environment."""
    if not reachable("https://pypi.org/simple/pip/"):
        pytest.skip("PyPI is not reachable: the real install needs the package index")
    import os
    import sys

    cache = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    env = {"PIP_CONFIG_FILE": os.devnull, "PIP_CACHE_DIR": cache, "PYTHONPATH": ""}
    # The machine's own network settings (a proxy and its CA, where there is one) still apply.
    net = ("PIP_CERT", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_DEFAULT_TIMEOUT")
    env.update({k: v for k, v in os.environ.items() if k in net or k.lower().endswith("_proxy")})
    run = run_action(
        {"release": "examples/demo-release", "python": sys.executable},
        workspace,
        tmp_path,
        env=env,
        skip_setup=False,
        timeout=900,
    )
    setup = run.step("setup")
    assert setup is not None
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-4000:]
    gate = run.step("gate")
    assert gate is not None
    venv_python = setup.outputs["python"]
    assert venv_python.startswith(str(tmp_path / "runner-temp")) and venv_python != sys.executable
    assert (Path(venv_python).parent.parent / ".model-gate-installed-requirements").is_file()
    assert not (Path(venv_python).parent.parent / ".model-gate-installed-requirements-redteam").exists()
    # Without garak the optional adversarial check cannot complete: a warning, exit 0 (see below).
    assert (run.outputs["verdict"], run.outputs["exit-code"]) == ("warn", "0"), gate.stdout[-3000:]
    report = json.loads(Path(run.outputs["report"]).read_text("utf-8"))
    status = {c["id"]: c["status"] for c in report["checks"]}
    # The extras the default policy's checks need are there: pip-audit ran, Parquet/ONNX readers load.
    assert status["dependencies"] == "passed" and status["training-data"] == "passed"
    probe = "import pip_audit, sigstore, model_signing, cyclonedx, onnx, h5py, pyarrow; print('ok')"
    import subprocess

    p = subprocess.run([venv_python, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert p.stdout.strip() == "ok", p.stderr
    # garak is not: the adversarial check says so instead of passing, and how to leave it out.
    assert status["adversarial"] == "error"
    assert any("--skip adversarial" in (f["mitigation"] or "") for f in report["findings"])
    # The venv was cached right after the install; the next job (a fresh RUNNER_TEMP) restores it,
    # and it passes verification against the manifest: nothing is installed again.
    assert [s.id for s in run.steps] == ["plan", "restore", "setup", "save", "gate"]
    shutil.rmtree(Path(venv_python).parent.parent)
    again = run_action(
        {"release": "examples/demo-release", "python": sys.executable},
        workspace,
        tmp_path,
        env=env,
        skip_setup=False,
        timeout=900,
    )
    assert again.step("restore").outputs["cache-hit"] == "true"  # type: ignore[union-attr]
    assert "using the cached environment" in again.step("setup").stdout  # type: ignore[union-attr]
    assert again.outputs["verdict"] == "warn"


# the library ---------------------------------------------------------------------------------


def test_escaping_follows_githubs_rules() -> None:
    assert ga.escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert ga.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = ga.command("error", "x\n::error::forged", file="a,b:c.txt", line=3, title="t")
    assert "\n" not in line
    assert line == "::error file=a%2Cb%3Ac.txt,line=3,title=t::x%0A::error::forged"
    assert ga.command("notice", "m") == "::notice::m"


def test_hostile_finding_text_stays_one_annotation(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    link = next(f for f in r.findings if f.rule.code == "GATE-RI002")  # a finding without a line
    f = link.model_copy(
        update={
            "title": "evil\n::error file=x::forged\r",
            "location": link.location.model_copy(update={"path": "model/a,b:c.bin"}),
        }
    )
    (ann,) = [
        a for a in ga.pick_annotations(r.model_copy(update={"findings": (f,)}), "rel") if a.kind == "error"
    ]
    line = ann.render()
    # One line: the forged command is text inside the message, never at the start of a line.
    assert "\n" not in line and "\r" not in line
    header, message = line.split("::")[1], line.split("::", 2)[2]
    assert header == "error file=rel/model/a%2Cb%3Ac.bin,title=GATE-RI002 link-escapes-release (critical)"
    # The carriage return is shown as an escape; the newline stays, percent-encoded.
    assert message.startswith("evil%0A::error file=x::forged\\r%0A")


def _many(r: Report, blocking: int, warnings: int) -> Report:
    from gate.checks.release_integrity import RULES

    rule = RULES[0]
    fs = []
    sev = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW]
    for i in range(blocking):
        f = new_finding(rule, f"blocking {i}", path=f"model/b{i}.bin", severity=sev[i % 2])
        fs.append(f.model_copy(update={"blocking": True}))
    for i in range(warnings):
        fs.append(new_finding(rule, f"warn {i}", path=f"model/w{i}.bin", severity=sev[2 + i % 2]))
    fs.append(new_finding(rule, "info", path="model/i.bin", severity=Severity.INFO))
    return r.model_copy(update={"findings": tuple(fs)})


def test_at_most_ten_of_each_worst_first_then_a_notice(tmp_path: Path) -> None:
    r = _many(stable_report(BAD, tmp_path), blocking=15, warnings=13)
    anns = ga.pick_annotations(r, "examples/bad-release", report_path="out/report.json")
    errors = [a for a in anns if a.kind == "error"]
    warnings = [a for a in anns if a.kind == "warning"]
    notices = [a for a in anns if a.kind == "notice"]
    assert len(errors) == 10 and len(warnings) == 10 and len(notices) == 1
    # All 8 criticals come before any high; mediums before lows.
    assert [a.title.endswith("(critical)") for a in errors] == [True] * 8 + [False] * 2
    assert [a.title.endswith("(medium)") for a in warnings] == [True] * 7 + [False] * 3
    assert "5 more errors and 3 more warnings" in notices[0].message
    assert "out/report.json" in notices[0].message


def test_check_errors_come_first(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    broken = r.checks[0].model_copy(update={"status": CheckStatus.ERROR, "summary": "tool missing"})
    r = r.model_copy(update={"checks": (broken, *r.checks[1:])})
    first = ga.pick_annotations(r, None)[0]
    assert first.kind == "error" and "could not complete: tool missing" in first.message
    assert first.file == "release.yaml"


def test_waived_findings_are_warnings_not_errors(tmp_path: Path) -> None:
    r = stable_report(BAD, tmp_path)
    w = AppliedWaiver(
        id="W-1",
        reason="reviewed",
        justification="code_not_reachable",
        approvers=("sec",),
        expires="2026-12-31",
    )
    f = r.findings[0].model_copy(update={"waiver": w})
    anns = ga.pick_annotations(r.model_copy(update={"findings": (f,)}), None)
    assert [a.kind for a in anns] == ["warning"]
    assert anns[0].title.startswith("waived: ") and "W-1" in anns[0].message


def test_outputs_survive_newlines(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ga.set_outputs(out, {"a": "one", "b": "two\nlines", "c": ""})
    assert parse_output_file(out.read_text("utf-8")) == {"a": "one", "b": "two\nlines", "c": ""}


def test_inputs_parse_and_reject() -> None:
    i = ga.ActionInputs.from_env(
        {
            "INPUT_RELEASE": " rel ",
            "INPUT_FORMATS": "sarif junit,json sarif",
            "INPUT_OFFLINE": "True",
            "INPUT_REDTEAM": "broad",
            "INPUT_REDTEAM_SHARD": "2/4",
        }
    )
    assert (i.release, i.formats, i.offline, i.redteam, i.redteam_shard) == (
        "rel",
        ("sarif", "junit"),
        True,
        "broad",
        "2/4",
    )
    bad = [
        ({}, "input release"),
        ({"INPUT_OFFLINE": "maybe"}, "input offline"),
        ({"INPUT_REDTEAM": "medium"}, "input redteam"),
        ({"INPUT_REDTEAM_SHARD": "5/4"}, "input redteam-shard"),
        ({"INPUT_REDTEAM_SHARD": "0/4"}, "input redteam-shard"),
        ({"INPUT_REDTEAM_SHARD": "1/4", "INPUT_REDTEAM": "off"}, "redteam is off"),
        ({"INPUT_REPORT_ONLY": "yes please"}, "input report-only"),
    ]
    for env, msg in bad:
        with pytest.raises(ga.ActionInputError, match=msg):
            ga.ActionInputs.from_env({"INPUT_RELEASE": "rel", **env} if env else env)


def test_options_other_parts_provide_pass_only_when_present(tmp_path: Path) -> None:
    i = ga.ActionInputs(
        release="rel", policy_ref="origin/main", attest=True, redteam="fast", redteam_shard="1/2"
    )
    have = {"--policy-ref", "--attest", "--probe-set", "--shard"}
    plan = ga.plan_check(i, tmp_path, options=have, checks=set())
    a = plan.args
    assert a[a.index("--policy-ref") + 1] == "origin/main"
    assert a[a.index("--attest") + 1] == str(tmp_path / "attestation.intoto.json")
    assert a[a.index("--probe-set") + 1] == "fast" and a[a.index("--shard") + 1] == "1/2"
    for missing in sorted(have):
        with pytest.raises(ga.ActionInputError, match=f"no 'check {missing}' option"):
            ga.plan_check(i, tmp_path, options=have - {missing}, checks=set())
    # Empty inputs pass nothing, whatever the installed gate supports.
    plain = ga.plan_check(ga.ActionInputs(release="rel"), tmp_path, options=set(), checks=set())
    assert not {"--policy-ref", "--attest", "--probe-set", "--shard", "--skip"} & set(plain.args)


def test_redteam_off_skips_the_check_when_it_exists(tmp_path: Path) -> None:
    i = ga.ActionInputs(release="rel", redteam="off")
    assert "--skip" not in ga.plan_check(i, tmp_path, options=set(), checks={"risk-tier"}).args
    args = ga.plan_check(i, tmp_path, options=set(), checks={"adversarial"}).args
    assert args[args.index("--skip") + 1] == "adversarial"


def test_this_build_lacks_no_option_the_action_passes_unconditionally() -> None:
    opts = ga.check_options()
    assert {"--policy", "--format", "--output", "--offline", "--waivers", "--baseline"} <= opts


def test_a_report_that_is_not_a_report_is_not_trusted(tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text('{"verdict": "pass"}', "utf-8")
    assert ga.load_report(bad) is None
    plan = ga.Plan(args=[], paths={"report": bad})
    code = ga.finish(exit_code=0, plan=plan, inputs=ga.ActionInputs(release="r"), env={})
    assert code == 2  # exit 0 without a valid report: fail closed


# the security inputs, the summary, the decision log, HTML and merge -----------------------------


ALL_OPTIONS = set(ga.NEEDS) | {"--decision-log"}


def test_security_inputs_reach_the_check_command_line(tmp_path: Path) -> None:
    """Tested on the argv the action builds, so that it holds whatever this build's CLI has."""
    i = ga.ActionInputs(
        release="rel",
        policy_sha256="sha256:" + "a" * 64,
        policy_key="keys/policy.pub",
        sbom=True,
        attest=True,
        attest_key="keys/gate.pem",
        baseline="last/report.json",
    )
    plan = ga.plan_check(i, tmp_path, options=ALL_OPTIONS, checks=set())
    a = plan.args

    def value(opt: str) -> str:
        assert a.count(opt) == 1, opt
        return a[a.index(opt) + 1]

    assert value("--policy-sha256") == "sha256:" + "a" * 64
    assert value("--policy-key") == "keys/policy.pub"
    assert value("--baseline") == "last/report.json"
    assert value("--sbom") == str(tmp_path / "sbom.cdx.json")
    assert value("--attest") == str(tmp_path / "attestation.intoto.json")
    assert value("--attest-key") == "keys/gate.pem"
    # The decision log is kept with the reports: the default location dies with the runner.
    assert value("--decision-log") == str(tmp_path / "decisions.jsonl")
    assert plan.verify == []  # signed by a key: nothing to verify as an identity
    for missing in ("--policy-sha256", "--policy-key", "--sbom", "--attest-key", "--baseline"):
        with pytest.raises(ga.ActionInputError, match=f"no 'check {missing}' option"):
            ga.plan_check(i, tmp_path, options=ALL_OPTIONS - {missing}, checks=set())
    # An older gate without a decision-log option still runs, without it.
    assert "--decision-log" not in ga.plan_check(i, tmp_path, options=ALL_OPTIONS - {"--decision-log"}).args


def test_attest_identity_verifies_the_keyless_attestation(tmp_path: Path) -> None:
    ident = "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main"
    i = ga.ActionInputs(release="models/m", attest=True, attest_identity=ident)
    plan = ga.plan_check(i, tmp_path, options=ALL_OPTIONS, checks=set())
    assert "--attest-key" not in plan.args
    assert plan.verify == [
        str(tmp_path / "attestation.intoto.json"),
        "--release",
        "models/m",
        "--identity",
        ident,
        "--issuer",
        "https://token.actions.githubusercontent.com",
    ]


def _fake_gate(tmp_path: Path, code: int, message: str) -> str:
    """An interpreter whose `-m gate ...` records its arguments and environment and exits `code`."""
    script = tmp_path / "fake-gate"
    script.write_text(
        "#!/bin/bash\n"
        f'printf "%s\\n" "$@" > "{tmp_path}/argv"\n'
        f'echo "${{MODEL_GATE_DEBUG:-}}" > "{tmp_path}/debug"\n'
        f'echo "{message}" >&2\n'
        f"exit {code}\n",
        "utf-8",
    )
    script.chmod(0o755)
    return str(script)


def test_a_rejected_attestation_fails_the_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "attestation.intoto.json").write_text("{}", "utf-8")
    plan = ga.Plan(
        args=[],
        paths={"attestation": tmp_path / "attestation.intoto.json"},
        verify=[str(tmp_path / "attestation.intoto.json"), "--identity", "who", "--issuer", "iss"],
    )
    fake = _fake_gate(tmp_path, 1, "rejected: signed by someone-else, not who")
    assert ga.verify_attestation(plan, fake, {}) == 1
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("::error")]
    assert "attest-identity: rejected: signed by someone-else" in line
    assert (tmp_path / "argv").read_text("utf-8").split()[:3] == ["-m", "gate", "verify-attestation"]
    ok = _fake_gate(tmp_path, 0, "admitted")
    assert ga.verify_attestation(plan, ok, {}) == 0


def test_input_rules() -> None:
    base = {"INPUT_RELEASE": "rel"}
    i = ga.ActionInputs.from_env(base)
    assert i.summary is True and i.debug is False and i.sbom is False
    i = ga.ActionInputs.from_env({**base, "INPUT_SUMMARY": "false", "INPUT_DEBUG": "true"})
    assert i.summary is False and i.debug is True
    assert ga.ActionInputs.from_env({**base, "RUNNER_DEBUG": "1"}).debug is True  # re-run with debug
    bad = [
        ({"INPUT_ATTEST_KEY": "k.pem"}, "input attest-key: given, but attest is false"),
        ({"INPUT_ATTEST_IDENTITY": "x"}, "input attest-identity: given, but attest is false"),
        ({"INPUT_ATTEST": "true", "INPUT_ATTEST_KEY": "k", "INPUT_ATTEST_IDENTITY": "x"}, "keyless"),
        ({"INPUT_SUMMARY": "sometimes"}, "input summary"),
        ({"INPUT_SBOM": "maybe"}, "input sbom"),
        ({"INPUT_MERGE": "shards/*.json"}, "leave release empty"),
    ]
    for env, msg in bad:
        with pytest.raises(ga.ActionInputError, match=re.escape(msg)):
            ga.ActionInputs.from_env({**base, **env})
    with pytest.raises(ga.ActionInputError, match="sbom, attest belong to the shard jobs"):
        ga.ActionInputs.from_env({"INPUT_MERGE": "s/*.json", "INPUT_SBOM": "true", "INPUT_ATTEST": "true"})
    with pytest.raises(ga.ActionInputError, match="input release: the path"):
        ga.ActionInputs.from_env({"INPUT_MERGE": "  "})


def test_sarif_all_rules_reaches_check_and_merge(workspace: Path, tmp_path: Path) -> None:
    env = {"INPUT_RELEASE": "rel", "INPUT_FORMATS": "sarif html", "INPUT_SARIF_ALL_RULES": "true"}
    i = ga.ActionInputs.from_env(env)
    assert i.sarif_all_rules is True
    args = ga.plan_check(i, tmp_path, options={"--sarif-all-rules"}, checks=set()).args
    assert args.count("--sarif-all-rules") == 1
    with pytest.raises(ga.ActionInputError, match="input sarif-all-rules: this version of model-gate has no"):
        ga.plan_check(i, tmp_path, options=set(), checks=set())
    (workspace / "s").mkdir()
    (workspace / "s" / "report.json").write_text("{}", "utf-8")
    merged = dataclasses.replace(i, release="", merge="s/report.json")
    assert "--sarif-all-rules" in ga.plan_merge(merged, tmp_path, workspace).args
    # The benign twin: left at its default, the trimmed SARIF file (only rules with results).
    plain = ga.ActionInputs.from_env({**env, "INPUT_SARIF_ALL_RULES": "false"})
    assert "--sarif-all-rules" not in ga.plan_check(plain, tmp_path, options=set(), checks=set()).args
    with pytest.raises(
        ga.ActionInputError, match="input sarif-all-rules: given, but formats asks for no sarif"
    ):
        ga.ActionInputs.from_env({**env, "INPUT_FORMATS": "junit"})
    assert "--sarif-all-rules" in ga.check_options()  # the installed gate has it


def test_the_docs_list_every_input_with_its_default() -> None:
    """docs/github-action.md's input table is written by hand: held against action.yml here."""
    import yaml

    inputs = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))["inputs"]
    text = (ROOT / "docs" / "github-action.md").read_text("utf-8")
    table = text.split("| Input | Default | Meaning |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines():
        m = re.match(r"^\| `([a-z0-9-]+)` \|([^|]*)\|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    assert set(inputs) <= set(rows), f"inputs missing from the docs: {sorted(set(inputs) - set(rows))}"
    for name, spec in inputs.items():
        default = str(spec.get("default", ""))
        if default and not default.startswith("${{"):
            assert rows[name] == f"`{default}`", (name, rows[name], default)


def test_debug_reaches_the_gate(tmp_path: Path) -> None:
    fake = _fake_gate(tmp_path, 2, "release: no such directory")
    env = {"INPUT_RELEASE": "rel", "INPUT_DEBUG": "true", "RUNNER_TEMP": str(tmp_path)}
    assert ga.run(env, python=fake) == 2
    assert (tmp_path / "debug").read_text("utf-8").strip() == "1"
    assert ga.run({**env, "INPUT_DEBUG": "false"}, python=fake) == 2
    assert (tmp_path / "debug").read_text("utf-8").strip() == ""


def test_decision_log_sbom_and_no_summary(workspace: Path, tmp_path: Path) -> None:
    run = run_action(
        {"release": "examples/demo-release", "summary": "false", "sbom": "true", "output-dir": "out"},
        workspace,
        tmp_path,
    )
    assert run.outcome == "success", run.steps[-1].stderr
    assert run.summary == ""  # off: a matrix shard leaves the summary to the merged report
    log = Path(run.outputs["decision-log"])
    assert log.parent == workspace / "out" and log.name == "decisions.jsonl"
    (entry,) = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    report = json.loads(Path(run.outputs["report"]).read_text("utf-8"))
    assert entry["verdict"] == report["verdict"] == "pass"
    bom = json.loads(Path(run.outputs["sbom"]).read_text("utf-8"))
    assert bom["bomFormat"] == "CycloneDX" and Path(run.outputs["sbom"]).parent == workspace / "out"


def test_html_report_is_uploaded_and_linked_even_when_blocked(workspace: Path, tmp_path: Path) -> None:
    run = run_action({"release": "examples/bad-release", "formats": "sarif html"}, workspace, tmp_path)
    assert run.outcome == "failure" and run.step("gate").returncode == 1  # type: ignore[union-attr]
    html = Path(run.outputs["html"])
    assert html.is_file() and html.read_text("utf-8").lstrip().lower().startswith("<!doctype html")
    name = run.outputs["html-artifact"]
    assert re.fullmatch(r"model-gate-html-examples-bad-release-[0-9a-f]{8}", name)
    assert run.uploads == [{"name": name, "path": str(html), "if-no-files-found": "error"}]
    assert f"**HTML report:** [{name}](https://github.com/o/r/actions/runs/1/artifacts/1)" in run.summary
    # Without the html format, nothing is uploaded.
    plain = run_action({"release": "examples/demo-release"}, workspace, tmp_path / "b")
    assert plain.uploads == [] and plain.outputs["html"] == "" and plain.outputs["html-artifact"] == ""


def test_link_html_only_links_https_and_respects_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("", "utf-8")
    env = {"GITHUB_STEP_SUMMARY": str(summary), "ARTIFACT_NAME": "a|b", "ARTIFACT_URL": "https://x/1"}
    assert ga.link_html(env) == 0
    assert summary.read_text("utf-8") == "\n**HTML report:** [a\\|b](https://x/1)\n"
    summary.write_text("", "utf-8")
    ga.link_html({**env, "ARTIFACT_URL": "javascript:alert(1)"})
    ga.link_html({**env, "INPUT_SUMMARY": "false"})
    assert summary.read_text("utf-8") == ""


def test_merge_mode_builds_the_merge_command(workspace: Path, tmp_path: Path) -> None:
    shards = workspace / "shards"
    for i in (2, 1):
        (shards / f"redteam-shard-{i}").mkdir(parents=True)
        (shards / f"redteam-shard-{i}" / "report.json").write_text("{}", "utf-8")
    i = ga.ActionInputs(
        release="", merge="shards/*/report.json", policy="policies/org.yaml", formats=("html",)
    )
    plan = ga.plan_merge(i, tmp_path, workspace)
    assert plan.command == "merge"
    assert plan.args[:2] == [str(shards / f"redteam-shard-{n}" / "report.json") for n in (1, 2)]
    assert plan.args[2:4] == ["--policy", "policies/org.yaml"]
    assert plan.args[plan.args.index("html") + 2] == str(tmp_path / "report.html")
    with pytest.raises(ga.ActionInputError, match=re.escape("no shard report matches 'none/*.json'")):
        ga.plan_merge(ga.ActionInputs(release="", merge="none/*.json"), tmp_path, workspace)


def test_merge_mode_runs_model_gate_merge(workspace: Path, tmp_path: Path) -> None:
    # A whole run's report is its own single shard (1/1): merging it gives its verdict back.
    demo = run_action({"release": "examples/demo-release", "output-dir": "shards/one"}, workspace, tmp_path)
    assert demo.outputs["verdict"] == "pass"
    run = run_action({"merge": "shards/*/report.json", "formats": "markdown"}, workspace, tmp_path / "m")
    assert run.outcome == "success", run.steps[-1].stderr
    assert "model-gate merge " in run.stdout and str(workspace / "shards/one/report.json") in run.stdout
    assert (run.outputs["verdict"], run.outputs["exit-code"]) == ("pass", "0")
    merged = json.loads(Path(run.outputs["report"]).read_text("utf-8"))
    assert "merged 1 shard(s)" in json.dumps(merged["checks"])
    assert Path(run.outputs["markdown"]).is_file() and run.summary.startswith("## ✅ model-gate: **PASS**")
    assert run.outputs["decision-log"] == ""  # merge judges no release: no decision is logged
    # The same shard twice: merge refuses, and the step fails saying why.
    shutil.copytree(workspace / "shards" / "one", workspace / "shards" / "two")
    twice = run_action({"merge": "shards/*/report.json"}, workspace, tmp_path / "n")
    assert twice.outcome == "failure" and twice.outputs["exit-code"] == "2"
    (error,) = twice.commands("error")
    assert "given twice" in error and "nothing was judged" in twice.summary


def test_setup_uses_the_windows_venv_layout(
    workspace: Path, tmp_path: Path, fake_python: tuple[Path, dict[str, str]]
) -> None:
    fake, env = fake_python
    run = run_action(
        {"release": "examples/demo-release", "python": str(fake)},
        workspace,
        tmp_path,
        env={**env, "RUNNER_OS": "Windows"},
        skip_setup=False,
    )
    setup = run.step("setup")
    assert setup is not None and setup.returncode == 0, setup.stderr if setup else run.steps
    python = Path(setup.outputs["python"])
    assert python.parts[-2:] == ("Scripts", "python.exe") and python.is_file()
    installs = _installs(Path(env["FAKE_PIP_LOG"]))
    assert installs and all(line.startswith("install ") for line in installs)
    assert (python.parent.parent / ".model-gate-manifest.json").is_file()
