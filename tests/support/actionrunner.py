"""Run action.yml's composite steps the way the GitHub runner does, on this machine.

Each `run:` step's script goes to a file and runs as `bash --noprofile --norc -eo pipefail FILE`
(the runner's command for `shell: bash`), in the workspace, with the step's `env:` on top of
the runner's variables, and a fresh `GITHUB_OUTPUT` file per step. The only expressions the
action may use in `env:` and `outputs:` are `${{ inputs.NAME }}` and
`${{ steps.ID.outputs.NAME }}`; this harness evaluates those and fails on anything else.

The setup step is skipped the documented way: `MODEL_GATE_PYTHON` names this test
interpreter, which has model-gate installed (the working tree, via PYTHONPATH).

`if:` conditions are evaluated for the forms the action uses (`steps.ID.outputs.NAME` or
`inputs.NAME` compared with `==`/`!=` to a quoted string, and `always()`, joined by `&&`); as on
GitHub, once a step fails only the steps whose condition holds `always()` still run. The third-party
actions the composite action uses run as stand-ins: `actions/cache/restore` and
`actions/cache/save` copy the path to and from a directory per key (`cache_dir`, shared by the
runs of one test, as a repository's cache is shared by its jobs), and `actions/upload-artifact`
is recorded in `ActionRun.uploads`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support import ROOT

ACTION = ROOT / "action.yml"
EXPR = re.compile(
    r"^\$\{\{\s*(?:inputs\.([A-Za-z0-9_-]+)|steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+))\s*\}\}$"
)
ANY_EXPR = re.compile(r"\$\{\{")
CONDITION = re.compile(
    r"^\s*((?:inputs|steps\.[A-Za-z0-9_-]+\.outputs)\.[A-Za-z0-9_-]+)\s*(?:(==|!=)\s*'([^']*)')?\s*$"
)


def load_action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACTION.read_text("utf-8"))
    return data


def parse_output_file(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV syntax: `name=value` lines and `name<<DELIM` blocks."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            value: list[str] = []
            while i < len(lines) and lines[i] != delim:
                value.append(lines[i])
                i += 1
            if i >= len(lines):
                raise AssertionError(f"output {name}: no closing delimiter {delim}")
            i += 1
            out[name] = "\n".join(value)
        else:
            name, _, val = line.partition("=")
            out[name] = val
    return out


@dataclass
class StepRun:
    id: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class ActionRun:
    steps: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    uploads: list[dict[str, str]] = field(default_factory=list)

    def step(self, sid: str) -> StepRun | None:
        return next((s for s in self.steps if s.id == sid), None)

    @property
    def outcome(self) -> str:
        return "failure" if any(s.returncode != 0 for s in self.steps) else "success"

    @property
    def stdout(self) -> str:
        return "".join(s.stdout for s in self.steps)

    def commands(self, kind: str) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(f"::{kind}")]


def evaluate(value: Any, inputs: dict[str, str], steps: dict[str, dict[str, str]]) -> str:
    text = "" if value is None else str(value)
    if not ANY_EXPR.search(text):
        return text
    m = EXPR.match(text.strip())
    if not m:
        raise AssertionError(f"expression not allowed in action.yml env/outputs: {text!r}")
    if m.group(1):
        if m.group(1) not in inputs:
            raise AssertionError(f"unknown input {m.group(1)}")
        return inputs[m.group(1)]
    return steps.get(m.group(2), {}).get(m.group(3), "")


def condition(text: str, inputs: dict[str, str], steps: dict[str, dict[str, str]]) -> bool:
    """An `if:` of the forms the action uses; anything else fails the test."""
    result = True
    for atom in str(text).split("&&"):
        if atom.strip() == "always()":
            continue
        m = CONDITION.match(atom)
        if not m:
            raise AssertionError(f"condition not supported by the runner stand-in: {text!r}")
        ref, op, literal = m.groups()
        if ref.startswith("inputs."):
            value = inputs[ref.removeprefix("inputs.")]
        else:
            _, sid, _, name = ref.split(".", 3)
            value = steps.get(sid, {}).get(name, "")
        ok = bool(value) if op is None else (value == literal) == (op == "==")
        result = result and ok
    return result


def _third_party(
    uses: str, with_: dict[str, str], cache_dir: Path, result: ActionRun
) -> tuple[int, str, dict[str, str]]:
    """What the pinned third-party actions do, on this machine."""
    name = uses.split("@", 1)[0]
    if name == "actions/cache/restore":
        stored = cache_dir / with_["key"]
        if not stored.is_dir():
            return 0, f"Cache not found for input keys: {with_['key']}\n", {"cache-hit": "false"}
        target = Path(with_["path"])
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(stored, target, symlinks=True)
        return (
            0,
            f"Cache restored from key: {with_['key']}\n",
            {"cache-hit": "true", "cache-matched-key": with_["key"]},
        )
    if name == "actions/cache/save":
        stored = cache_dir / with_["key"]
        if stored.exists():
            return 0, f"Failed to save: cache entry {with_['key']} exists\n", {}
        shutil.copytree(Path(with_["path"]), stored, symlinks=True)
        return 0, f"Cache saved with key: {with_['key']}\n", {}
    if name == "actions/upload-artifact":
        if not Path(with_["path"]).exists() and with_.get("if-no-files-found") == "error":
            return 1, f"no files at {with_['path']}\n", {}
        result.uploads.append(dict(with_))
        n = len(result.uploads)
        url = f"https://github.com/o/r/actions/runs/1/artifacts/{n}"
        return 0, f"uploaded artifact {with_.get('name')}\n", {"artifact-id": str(n), "artifact-url": url}
    raise AssertionError(f"no stand-in for {uses}")


def run_action(
    with_: dict[str, str],
    workspace: Path,
    tmp: Path,
    env: dict[str, str] | None = None,
    skip_setup: bool = True,
    timeout: float = 120,
    cache_dir: Path | None = None,
) -> ActionRun:
    action = load_action()
    inputs: dict[str, str] = {}
    for name, spec in action["inputs"].items():
        if spec.get("required") and name not in with_:
            raise AssertionError(f"required input {name} not given")
        inputs[name] = str(spec.get("default", ""))
    for name, value in with_.items():
        if name not in inputs:
            raise AssertionError(f"unknown input {name}")
        inputs[name] = value

    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir(parents=True, exist_ok=True)
    summary = tmp / "step-summary.md"
    summary.write_text("", "utf-8")
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_ACTION_PATH": str(ROOT),
        "RUNNER_TEMP": str(runner_temp),
        "RUNNER_OS": "Linux",
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
    }
    if os.environ.get("MODEL_GATE_OSV_URL"):  # the runner's own vulnerability mirror (see conftest)
        base["MODEL_GATE_OSV_URL"] = os.environ["MODEL_GATE_OSV_URL"]
    if skip_setup:
        base["MODEL_GATE_PYTHON"] = sys.executable
    # The red-team result cache of the test session (see conftest's demo_endpoint).
    base.update({k: os.environ[k] for k in ("MODEL_GATE_CACHE_DIR",) if k in os.environ})
    base.update(env or {})

    result = ActionRun()
    step_outputs: dict[str, dict[str, str]] = {}
    cache_dir = cache_dir or tmp / "actions-cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    for n, step in enumerate(action["runs"]["steps"]):
        sid = step.get("id", f"step{n}")
        failed = any(s.returncode != 0 for s in result.steps)
        if failed and "always()" not in str(step.get("if", "")):
            continue
        if "if" in step and not condition(step["if"], inputs, step_outputs):
            continue
        if "uses" in step:
            with_ = {k: evaluate(v, inputs, step_outputs) for k, v in (step.get("with") or {}).items()}
            code, log, outputs = _third_party(step["uses"], with_, cache_dir, result)
            step_outputs[sid] = outputs
            result.steps.append(StepRun(sid, code, log, "", outputs))
            continue
        assert step.get("shell") == "bash", f"step {n}: shell must be bash"
        script = step["run"]
        assert not ANY_EXPR.search(script), f"step {step.get('id', n)}: ${{{{ }}}} inside run:"
        step_env = dict(base)
        for key, value in (step.get("env") or {}).items():
            step_env[key] = evaluate(value, inputs, step_outputs)
        out_file = tmp / f"output-{n}"
        out_file.write_text("", "utf-8")
        step_env["GITHUB_OUTPUT"] = str(out_file)
        step_env["GITHUB_STEP_SUMMARY"] = str(summary)
        script_file = tmp / f"step-{n}.sh"
        script_file.write_text(script, "utf-8")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=workspace,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        outputs = parse_output_file(out_file.read_text("utf-8"))
        step_outputs[sid] = outputs
        result.steps.append(StepRun(sid, proc.returncode, proc.stdout, proc.stderr, outputs))
    for name, spec in action["outputs"].items():
        result.outputs[name] = evaluate(spec["value"], inputs, step_outputs)
    result.summary = summary.read_text("utf-8") if summary.exists() else ""
    return result
