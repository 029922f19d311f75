"""The GitHub Action's logic: inputs → `model-gate check` → summary, outputs, annotations, exit.

`action.yml` runs `python -m gate.action` with the action's inputs in `INPUT_*` environment
variables (never interpolated into a script). This module builds the `check` command line,
runs it, and then:
- appends the Markdown report to `$GITHUB_STEP_SUMMARY`, cut to fit GitHub's 1 MiB;
- sets the step outputs in `$GITHUB_OUTPUT` (verdict, tier, exit-code, report, sarif, junit,
  markdown, attestation, output-dir);
- prints at most 10 `::error` and 10 `::warning` workflow commands (GitHub shows no more per
  step), the worst first, with file and line, then a notice with how many more the report has;
- exits with the check's exit code, or 0 in report-only mode (except for invalid input, which
  judged nothing and always fails the step).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gate.escape import printable, text, workflow_data, workflow_property
from gate.models.finding import Finding, Severity
from gate.models.report import CheckStatus, Report

MAX_ANNOTATIONS = 10  # per kind and step: GitHub drops the rest silently
MAX_MESSAGE = 4000
REDTEAM_MODES = ("", "off", "fast", "broad")
SHARD = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")
EXTRA_FORMATS = ("sarif", "junit", "markdown", "text")
TRUE = ("true", "yes", "1", "on")
FALSE = ("false", "no", "0", "off", "")
INPUT_ERROR = 2


class ActionInputError(Exception):
    """An input of the action is invalid: fail the step with this message, nothing judged."""


# workflow commands --------------------------------------------------------------------------


escape_data = workflow_data
escape_property = workflow_property


def command(kind: str, message: str, **props: str | int | None) -> str:
    """One workflow command line, e.g. `::error file=a.py,line=3,title=T::message`.

    Message and properties are release text: invisible characters become visible escapes
    (gate.escape.printable), then GitHub's percent-encoding keeps them on one line.
    """
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "…"
    parts = [f"{k}={escape_property(printable(str(v)))}" for k, v in props.items() if v not in (None, "")]
    head = f"::{kind}" + (" " + ",".join(parts) if parts else "")
    return f"{head}::{escape_data(printable(message, newlines=True))}"


@dataclass(frozen=True)
class Annotation:
    kind: str  # error | warning | notice
    message: str
    title: str
    file: str | None = None
    line: int | None = None

    def render(self) -> str:
        return command(self.kind, self.message, file=self.file, line=self.line, title=self.title)


def _finding_annotation(kind: str, f: Finding, prefix: str | None) -> Annotation:
    path = f.location.path or "release.yaml"
    file = f"{prefix}/{path}" if prefix else path
    message = f.title
    if f.location.detail:
        message += f" ({f.location.detail})"
    if f.mitigation:
        message += f"\nFix: {f.mitigation}"
    if f.waiver is not None:
        message += f"\nWaived by {f.waiver.id} until {f.waiver.expires}: {f.waiver.reason}"
    title = f"{'waived: ' if f.waiver else ''}{f.rule.code} {f.rule.name} ({f.severity.value})"
    return Annotation(kind, message, title, file, f.location.line if f.location.path else None)


def pick_annotations(
    report: Report, prefix: str | None, report_path: str = "", limit: int = MAX_ANNOTATIONS
) -> list[Annotation]:
    """The annotations for a report: worst first, at most `limit` of each kind, then a notice.

    Errors: checks that could not complete (they block: fail closed), then blocking findings by
    severity. Warnings: non-blocking findings of severity low and above, waived ones included.
    """
    worst_first = sorted(report.findings, key=lambda f: -f.severity.rank)  # stable: engine order
    errors: list[Annotation] = [
        Annotation(
            "error",
            f"check {c.id} could not complete: {c.summary}",
            f"model-gate: {c.id} could not complete",
            f"{prefix}/release.yaml" if prefix else "release.yaml",
        )
        for c in report.checks
        if c.status is CheckStatus.ERROR
    ]
    errors += [_finding_annotation("error", f, prefix) for f in worst_first if f.effective_blocking]
    warnings = [
        _finding_annotation("warning", f, prefix)
        for f in worst_first
        if not f.effective_blocking and f.severity > Severity.INFO
    ]
    out = errors[:limit] + warnings[:limit]
    more_e, more_w = max(0, len(errors) - limit), max(0, len(warnings) - limit)
    if more_e or more_w:
        parts = []
        if more_e:
            parts.append(f"{more_e} more error{'s' if more_e != 1 else ''}")
        if more_w:
            parts.append(f"{more_w} more warning{'s' if more_w != 1 else ''}")
        where = f" ({report_path})" if report_path else ""
        out.append(
            Annotation(
                "notice",
                f"{' and '.join(parts)} are in the job summary and the full report{where}; "
                f"GitHub shows at most {limit} of each kind per step.",
                "model-gate: more findings",
            )
        )
    return out


# outputs and summary ------------------------------------------------------------------------


def set_outputs(path: Path, values: Mapping[str, str]) -> None:
    """Append step outputs in the multi-line-safe `name<<DELIMITER` form."""
    with path.open("a", encoding="utf-8") as fh:
        for name, value in values.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            if delimiter in value:  # pragma: no cover - a uuid4 collision
                raise ValueError("output value contains its delimiter")
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def write_summary(path: Path, markdown: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(markdown)


# inputs -------------------------------------------------------------------------------------


def _bool(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ActionInputError(f"input {_input_name(name)}: expected true or false, got '{env[name]}'")


def _input_name(var: str) -> str:
    return var.removeprefix("INPUT_").lower().replace("_", "-")


@dataclass(frozen=True)
class ActionInputs:
    release: str
    policy: str = "default"
    policy_ref: str = ""
    waivers: str = ""
    formats: tuple[str, ...] = ("sarif",)
    offline: bool = False
    redteam: str = ""
    redteam_shard: str = ""
    attest: bool = False
    baseline: str = ""
    report_only: bool = False
    output_dir: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionInputs:
        release = env.get("INPUT_RELEASE", "").strip()
        if not release:
            raise ActionInputError("input release: the path of the release directory is required")
        formats = tuple(dict.fromkeys(t for t in re.split(r"[\s,]+", env.get("INPUT_FORMATS", "")) if t))
        for fmt in formats:
            if fmt not in (*EXTRA_FORMATS, "json"):
                raise ActionInputError(
                    f"input formats: unknown format '{fmt}' (choose from json, {', '.join(EXTRA_FORMATS)})"
                )
        redteam = env.get("INPUT_REDTEAM", "").strip().lower()
        if redteam not in REDTEAM_MODES:
            raise ActionInputError(f"input redteam: expected off, fast or broad, got '{redteam}'")
        shard = env.get("INPUT_REDTEAM_SHARD", "").strip()
        if shard:
            m = SHARD.match(shard)
            if not m or int(m.group(1)) > int(m.group(2)):
                raise ActionInputError(f"input redteam-shard: expected I/N with 1 <= I <= N, got '{shard}'")
            if redteam == "off":
                raise ActionInputError("input redteam-shard: given, but redteam is off")
        return cls(
            release=release,
            policy=env.get("INPUT_POLICY", "").strip() or "default",
            policy_ref=env.get("INPUT_POLICY_REF", "").strip(),
            waivers=env.get("INPUT_WAIVERS", "").strip(),
            formats=tuple(f for f in formats if f != "json"),
            offline=_bool(env, "INPUT_OFFLINE"),
            redteam=redteam,
            redteam_shard=shard,
            attest=_bool(env, "INPUT_ATTEST"),
            baseline=env.get("INPUT_BASELINE", "").strip(),
            report_only=_bool(env, "INPUT_REPORT_ONLY"),
            output_dir=env.get("INPUT_OUTPUT_DIR", "").strip(),
        )


@dataclass
class Plan:
    args: list[str]
    paths: dict[str, Path] = field(default_factory=dict)


def check_options() -> set[str]:
    """The options this build's `model-gate check` accepts."""
    from gate.commands.check import check

    return {opt for p in check.params for opt in getattr(p, "opts", ())}


def known_checks() -> set[str]:
    from gate.checks import CHECKS

    return set(CHECKS)


# Inputs that pass options other parts of model-gate provide: fail plainly when the installed
# gate lacks them, rather than with click's usage error.
NEEDS = {
    "--policy-ref": "input policy-ref",
    "--attest": "input attest",
    "--probe-set": "input redteam (fast/broad)",
    "--shard": "input redteam-shard",
}


def plan_check(
    inputs: ActionInputs,
    outdir: Path,
    options: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
) -> Plan:
    """The `model-gate check` arguments for these inputs, and where each report goes."""
    opts = set(options if options is not None else check_options())
    paths = {"report": outdir / "report.json"}
    args = [inputs.release, "--policy", inputs.policy, "--format", "json", "--output", str(paths["report"])]
    suffix = {"sarif": "report.sarif", "junit": "junit.xml", "markdown": "report.md", "text": "report.txt"}
    for fmt in inputs.formats:
        paths[fmt] = outdir / suffix[fmt]
        args += ["--format", fmt, "--output", str(paths[fmt])]
    args += ["--format", "text"]  # the log gets the terminal report
    wanted: list[tuple[str, str]] = []
    if inputs.policy_ref:
        wanted.append(("--policy-ref", inputs.policy_ref))
    if inputs.waivers:
        wanted.append(("--waivers", inputs.waivers))
    if inputs.baseline:
        wanted.append(("--baseline", inputs.baseline))
    if inputs.attest:
        paths["attestation"] = outdir / "attestation.intoto.json"
        wanted.append(("--attest", str(paths["attestation"])))
    if inputs.redteam in ("fast", "broad"):
        wanted.append(("--probe-set", inputs.redteam))
    if inputs.redteam_shard:
        wanted.append(("--shard", inputs.redteam_shard))
    for opt, value in wanted:
        if opt not in opts:
            raise ActionInputError(
                f"{NEEDS.get(opt, opt)}: this version of model-gate has no 'check {opt}' option; "
                "use a release of the action that provides it, or leave the input empty"
            )
        args += [opt, value]
    if inputs.redteam == "off":
        known = set(checks if checks is not None else known_checks())
        if "adversarial" in known:
            # Reported as a skipped check; it blocks if the policy requires it at this tier.
            args += ["--skip", "adversarial"]
    if inputs.offline:
        args.append("--offline")
    return Plan(args=args, paths=paths)


# the step -----------------------------------------------------------------------------------


def _emit(lines: Iterable[str]) -> None:
    for line in lines:
        print(line, flush=True)


def _workspace(env: Mapping[str, str]) -> Path:
    return Path(env.get("GITHUB_WORKSPACE") or os.getcwd())


def _outdir(inputs: ActionInputs, env: Mapping[str, str]) -> Path:
    if inputs.output_dir:
        out = Path(inputs.output_dir)
        if not out.is_absolute():
            out = _workspace(env) / out
        out.mkdir(parents=True, exist_ok=True)
        return out
    import tempfile

    base = Path(env.get("RUNNER_TEMP") or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    # One directory per invocation: several releases in one job must not share reports.
    return Path(tempfile.mkdtemp(prefix="model-gate.", dir=base))


def load_report(path: Path) -> Report | None:
    """The JSON report the check wrote, or None when there is none or it is not a report."""
    from pydantic import ValidationError

    try:
        return Report.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def finish(
    *,
    exit_code: int,
    plan: Plan,
    inputs: ActionInputs,
    env: Mapping[str, str],
    stderr: str = "",
) -> int:
    """Everything after the check ran: summary, outputs, annotations, the step's exit code."""
    from gate.reporters.markdown import MarkdownReporter, cell
    from gate.reporters.sarif import release_prefix

    workspace = _workspace(env)
    report = load_report(plan.paths["report"]) if exit_code != INPUT_ERROR else None
    outputs = {
        "exit-code": str(exit_code),
        "verdict": report.verdict.value if report else "error",
        "tier": report.tier.level.value if report else "",
        "report": str(plan.paths["report"]) if report else "",
        "sarif": _existing(plan.paths.get("sarif")),
        "junit": _existing(plan.paths.get("junit")),
        "markdown": _existing(plan.paths.get("markdown")),
        "attestation": _existing(plan.paths.get("attestation")),
        "output-dir": str(plan.paths["report"].parent),
    }
    out_file = env.get("GITHUB_OUTPUT")
    if out_file:
        set_outputs(Path(out_file), outputs)
    summary_file = env.get("GITHUB_STEP_SUMMARY")

    if report is None:
        reason = _first_line(stderr) or f"model-gate exited with code {exit_code} and wrote no report"
        _emit([command("error", reason, title="model-gate: nothing was judged")])
        if summary_file:
            write_summary(
                Path(summary_file),
                "## ⛔ model-gate: nothing was judged\n\n"
                f"`model-gate check` exited with code {exit_code}:\n\n> {cell(reason)}\n",
            )
        # Invalid input always fails the step: a misconfigured gate must not look green.
        return exit_code or INPUT_ERROR

    if summary_file:
        write_summary(Path(summary_file), MarkdownReporter().render_limited(report))
    prefix = release_prefix(report.release.path, workspace)
    shown = os.path.relpath(plan.paths["report"], workspace) if plan.paths["report"].is_absolute() else ""
    _emit(
        a.render() for a in pick_annotations(report, prefix, report_path=shown or str(plan.paths["report"]))
    )
    if inputs.report_only and exit_code != 0:
        _emit(
            [
                command(
                    "notice",
                    f"verdict {report.verdict.value} (exit code {exit_code}) not enforced: report-only mode",
                    title="model-gate: report only",
                )
            ]
        )
        return 0
    return exit_code


def _existing(path: Path | None) -> str:
    return str(path) if path is not None and path.is_file() else ""


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def run(env: Mapping[str, str] | None = None, python: str | None = None) -> int:
    env = dict(os.environ if env is None else env)
    try:
        inputs = ActionInputs.from_env(env)
        outdir = _outdir(inputs, env)
        plan = plan_check(inputs, outdir)
    except ActionInputError as exc:
        _emit([command("error", str(exc), title="model-gate: invalid action input")])
        if env.get("GITHUB_OUTPUT"):
            set_outputs(Path(env["GITHUB_OUTPUT"]), {"verdict": "error", "exit-code": str(INPUT_ERROR)})
        return INPUT_ERROR
    cmd = [python or sys.executable, "-m", "gate", "check", *plan.args]
    # Everything the check prints quotes the release (file names, tool output): GitHub must not
    # read any of it as a workflow command, so command processing is off until our own
    # annotations, with a token nobody can guess.
    token = f"model-gate-{uuid.uuid4().hex}"
    _emit([f"::stop-commands::{token}"])
    _emit([text(f"model-gate check {' '.join(_quote(a) for a in plan.args)}")])
    # The child is the gate itself: it keeps the environment (its signing key's password).
    child_env = dict(env)
    child_env.setdefault("MODEL_GATE_SARIF_ROOT", str(_workspace(env)))
    try:
        proc = subprocess.run(cmd, env=child_env, stderr=subprocess.PIPE, text=True, check=False)
        sys.stderr.write(proc.stderr)
        sys.stderr.flush()
    finally:
        _emit([f"::{token}::"])
    return finish(exit_code=proc.returncode, plan=plan, inputs=inputs, env=env, stderr=proc.stderr)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def main(argv: Sequence[str] | None = None) -> int:
    return run()


if __name__ == "__main__":
    sys.exit(main())
