"""The GitHub Action's logic: inputs → `model-gate check` (or `merge`) → summary, outputs, annotations, exit.

`action.yml` runs `python -m gate.action` with the action's inputs in `INPUT_*` environment
variables (never interpolated into a script). This module builds the `check` command line (or,
with the `merge` input, the `merge` command line over shard reports), runs it, and then:
- appends the Markdown report to `$GITHUB_STEP_SUMMARY`, cut to fit GitHub's 1 MiB (unless the
  `summary` input is off);
- sets the step outputs in `$GITHUB_OUTPUT` (verdict, tier, exit-code, report, sarif, junit,
  markdown, html, html-artifact, sbom, attestation, decision-log, output-dir);
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
from typing import IO

from gate.action_inputs import (
    CHECK_ONLY,
    EXTRA_FORMATS,
    FALSE,
    REDTEAM_MODES,
    SHARD,
    TRUE,
    ActionInputError,
    ActionInputs,
    read_bool,
)
from gate.escape import text
from gate.models.report import Report
from gate.workflow_commands import (
    MAX_ANNOTATIONS,
    MAX_MESSAGE,
    Annotation,
    command,
    escape_data,
    escape_property,
    pick_annotations,
    set_outputs,
    write_summary,
)

# The Action is reached through this module (action.yml, tests): its inputs and its workflow
# commands live in their own modules and are named here too.
__all__ = [
    "CHECK_ONLY",
    "EXTRA_FORMATS",
    "FALSE",
    "MAX_ANNOTATIONS",
    "MAX_MESSAGE",
    "NEEDS",
    "REDTEAM_MODES",
    "SHARD",
    "TRUE",
    "ActionInputError",
    "ActionInputs",
    "Annotation",
    "Plan",
    "check_options",
    "command",
    "escape_data",
    "escape_property",
    "finish",
    "known_checks",
    "link_html",
    "load_report",
    "main",
    "pick_annotations",
    "plan_check",
    "plan_merge",
    "run",
    "set_outputs",
    "verify_attestation",
    "write_summary",
]

SUFFIX = {
    "sarif": "report.sarif",
    "junit": "junit.xml",
    "markdown": "report.md",
    "text": "report.txt",
    "html": "report.html",
}
# The OIDC issuer of GitHub Actions' identity tokens: what a keyless attestation made here names.
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
MAX_MERGE_REPORTS = 1000
INPUT_ERROR = 2


@dataclass
class Plan:
    args: list[str]
    paths: dict[str, Path] = field(default_factory=dict)
    command: str = "check"
    verify: list[str] = field(default_factory=list)  # verify-attestation arguments, when asked for


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
    "--policy-sha256": "input policy-sha256",
    "--policy-key": "input policy-key",
    "--baseline": "input baseline",
    "--sbom": "input sbom",
    "--attest": "input attest",
    "--attest-key": "input attest-key",
    "--probe-set": "input redteam (fast/broad)",
    "--shard": "input redteam-shard",
    "--sarif-all-rules": "input sarif-all-rules",
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
    args = [inputs.release, "--policy", inputs.policy, *_format_args(inputs, outdir, paths)]
    wanted: list[tuple[str, str]] = []
    if inputs.policy_ref:
        wanted.append(("--policy-ref", inputs.policy_ref))
    if inputs.policy_sha256:
        wanted.append(("--policy-sha256", inputs.policy_sha256))
    if inputs.policy_key:
        wanted.append(("--policy-key", inputs.policy_key))
    if inputs.waivers:
        wanted.append(("--waivers", inputs.waivers))
    if inputs.baseline:
        wanted.append(("--baseline", inputs.baseline))
    if inputs.sbom:
        paths["sbom"] = outdir / "sbom.cdx.json"
        wanted.append(("--sbom", str(paths["sbom"])))
    verify: list[str] = []
    if inputs.attest:
        paths["attestation"] = outdir / "attestation.intoto.json"
        wanted.append(("--attest", str(paths["attestation"])))
        if inputs.attest_key:
            wanted.append(("--attest-key", inputs.attest_key))
        if inputs.attest_identity:
            # The deploy step's own check, run here: a verdict signed by another identity than
            # the one deployments trust fails now, not at deploy time.
            verify = [str(paths["attestation"]), "--release", inputs.release]
            verify += ["--identity", inputs.attest_identity, "--issuer", GITHUB_ISSUER]
    if inputs.redteam in ("fast", "broad"):
        wanted.append(("--probe-set", inputs.redteam))
    if inputs.redteam_shard:
        wanted.append(("--shard", inputs.redteam_shard))
    if inputs.sarif_all_rules:
        _require("--sarif-all-rules", opts)  # a flag, passed by _format_args
    for opt, value in wanted:
        _require(opt, opts)
        args += [opt, value]
    if inputs.redteam == "off":
        known = set(checks if checks is not None else known_checks())
        if "adversarial" in known:
            # Reported as a skipped check; it blocks if the policy requires it at this tier.
            args += ["--skip", "adversarial"]
    if inputs.offline:
        args.append("--offline")
    if "--decision-log" in opts:
        # Kept with the reports: on an ephemeral runner the default location is lost with it.
        paths["decision-log"] = outdir / "decisions.jsonl"
        args += ["--decision-log", str(paths["decision-log"])]
    return Plan(args=args, paths=paths, verify=verify)


def _require(opt: str, opts: set[str]) -> None:
    if opt not in opts:
        raise ActionInputError(
            f"{NEEDS.get(opt, opt)}: this version of model-gate has no 'check {opt}' option; "
            "use a release of the action that provides it, or leave the input empty"
        )


def _format_args(inputs: ActionInputs, outdir: Path, paths: dict[str, Path]) -> list[str]:
    args = ["--format", "json", "--output", str(paths["report"])]
    for fmt in inputs.formats:
        paths[fmt] = outdir / SUFFIX[fmt]
        args += ["--format", fmt, "--output", str(paths[fmt])]
    if inputs.sarif_all_rules and "sarif" in inputs.formats:
        args.append("--sarif-all-rules")  # the whole rule catalogue in the SARIF file
    return [*args, "--format", "text"]  # the log gets the terminal report


def plan_merge(inputs: ActionInputs, outdir: Path, workspace: Path) -> Plan:
    """The `model-gate merge` arguments: the shard reports the `merge` input's patterns match
    (workspace-relative globs, one per line or separated by spaces), one verdict out."""
    import glob

    reports: list[str] = []
    for pattern in inputs.merge.split():
        base = pattern if Path(pattern).is_absolute() else str(workspace / pattern)
        found = sorted(glob.glob(base, recursive=True))
        if not found:
            raise ActionInputError(f"input merge: no shard report matches '{pattern}'")
        reports += [p for p in found if p not in reports]
    if len(reports) > MAX_MERGE_REPORTS:
        raise ActionInputError(f"input merge: {len(reports)} reports match; at most {MAX_MERGE_REPORTS}")
    paths = {"report": outdir / "report.json"}
    args = [*reports, "--policy", inputs.policy, *_format_args(inputs, outdir, paths)]
    if inputs.baseline:
        args += ["--baseline", inputs.baseline]
    return Plan(args=args, paths=paths, command="merge")


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
    html = _existing(plan.paths.get("html"))
    outputs = {
        "exit-code": str(exit_code),
        "verdict": report.verdict.value if report else "error",
        "tier": report.tier.level.value if report else "",
        "report": str(plan.paths["report"]) if report else "",
        "sarif": _existing(plan.paths.get("sarif")),
        "junit": _existing(plan.paths.get("junit")),
        "markdown": _existing(plan.paths.get("markdown")),
        "html": html,
        "html-artifact": artifact_name(inputs) if html else "",
        "sbom": _existing(plan.paths.get("sbom")),
        "attestation": _existing(plan.paths.get("attestation")),
        "decision-log": _existing(plan.paths.get("decision-log")),
        "output-dir": str(plan.paths["report"].parent),
    }
    out_file = env.get("GITHUB_OUTPUT")
    if out_file:
        set_outputs(Path(out_file), outputs)
    summary_file = env.get("GITHUB_STEP_SUMMARY") if inputs.summary else None

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
        from gate.checks import all_rules

        # The catalogue says which blocking findings a waiver can cover (their `waiver new` lines).
        write_summary(Path(summary_file), MarkdownReporter(rules=all_rules()).render_limited(report))
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


def artifact_name(inputs: ActionInputs) -> str:
    """A name for the HTML report's artifact: unique in the workflow run (a matrix of jobs, or
    several releases in one job, each upload their own), recognisable by its release."""
    what = inputs.release or "merged"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", what).strip("-.")[:60] or "release"
    return f"model-gate-html-{slug}-{uuid.uuid4().hex[:8]}"


def link_html(env: Mapping[str, str]) -> int:
    """After the upload step: the HTML report's artifact linked from the job summary."""
    url, name = env.get("ARTIFACT_URL", "").strip(), env.get("ARTIFACT_NAME", "").strip()
    summary = env.get("GITHUB_STEP_SUMMARY")
    try:
        wanted = read_bool(env, "INPUT_SUMMARY", default=True)
    except ActionInputError:
        wanted = True
    if not (url and name and summary and wanted):
        return 0
    if not url.startswith("https://"):
        return 0  # never a link to anything else
    from gate.reporters.markdown import cell

    write_summary(Path(summary), f"\n**HTML report:** [{cell(name)}]({url.replace(')', '%29')})\n")
    return 0


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
        plan = plan_merge(inputs, outdir, _workspace(env)) if inputs.merge else plan_check(inputs, outdir)
    except ActionInputError as exc:
        _emit([command("error", str(exc), title="model-gate: invalid action input")])
        if env.get("GITHUB_OUTPUT"):
            set_outputs(Path(env["GITHUB_OUTPUT"]), {"verdict": "error", "exit-code": str(INPUT_ERROR)})
        return INPUT_ERROR
    python = python or sys.executable
    cmd = [python, "-m", "gate", plan.command, *plan.args]
    # Everything the check prints quotes the release (file names, tool output): GitHub must not
    # read any of it as a workflow command, so command processing is off until our own
    # annotations, with a token nobody can guess.
    token = f"model-gate-{uuid.uuid4().hex}"
    _emit([f"::stop-commands::{token}"])
    _emit([text(f"model-gate {plan.command} {' '.join(_quote(a) for a in plan.args)}")])
    # The child is the gate itself: it keeps the environment (its signing key's password).
    child_env = dict(env)
    child_env.setdefault("MODEL_GATE_SARIF_ROOT", str(_workspace(env)))
    if inputs.debug:
        child_env["MODEL_GATE_DEBUG"] = "1"  # a traceback instead of a one-line internal error
    try:
        with subprocess.Popen(cmd, env=child_env, stderr=subprocess.PIPE, text=True) as proc:
            assert proc.stderr is not None
            try:
                said = relay(proc.stderr, sys.stderr)
            except BaseException:
                proc.kill()  # as subprocess.run does: the check never outlives the step
                raise
        returncode = proc.returncode
    finally:
        _emit([f"::{token}::"])
    code = finish(exit_code=returncode, plan=plan, inputs=inputs, env=env, stderr=said)
    if plan.verify and returncode == 0:
        return verify_attestation(plan, python, child_env) or code
    return code


def relay(source: IO[str], log: IO[str]) -> str:
    """Pass the check's standard error to the job log line by line as it comes (its progress
    heartbeat shows a long run is alive); what it said besides progress, for the error reason."""
    from gate.commands.progress import is_progress_line

    kept: list[str] = []
    for line in source:
        log.write(line)
        log.flush()
        if not is_progress_line(line):
            kept.append(line)
    return "".join(kept)


def verify_attestation(plan: Plan, python: str, env: Mapping[str, str]) -> int:
    """`verify-attestation` on the attestation just written, as the deploy step will run it;
    0 when it admits the release, else the step fails with its reason."""
    path = plan.paths.get("attestation")
    if path is None or not path.is_file():
        return 0  # no attestation was written: nothing to check, the check's exit code speaks
    proc = subprocess.run(
        [python, "-m", "gate", "verify-attestation", *plan.verify],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode == 0:
        identity = plan.verify[plan.verify.index("--identity") + 1]
        _emit([text(f"model-gate: the attestation verifies as {identity}")])
        return 0
    reason = _first_line(proc.stderr) or _first_line(proc.stdout) or f"exit code {proc.returncode}"
    _emit(
        [
            command(
                "error",
                f"the attestation does not verify as input attest-identity: {reason}",
                title="model-gate: attestation identity",
            )
        ]
    )
    return proc.returncode if proc.returncode in (1, 2) else 1


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["link-html"]:
        return link_html(os.environ)
    return run()


if __name__ == "__main__":
    sys.exit(main())
