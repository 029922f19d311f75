"""The command line: parse options, call the core, render, exit. No logic lives here."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from gate import __version__
from gate.errors import CheckError, ExitCode, GateError
from gate.pipes import echo, silence_stdout

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ["text", "json", "markdown", "sarif", "junit", "html"]


def one_line(text: str) -> str:
    """Names and values from hostile files may hold newlines or workflow commands: an error
    stays one printable line (gate.escape)."""
    from gate.escape import text as printable_line

    return printable_line(text)


def _fail(message: str, hint: str | None, code: int) -> None:
    click.echo(f"model-gate: error: {one_line(message)}", err=True)
    if hint:
        click.echo(f"  hint: {one_line(hint)}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn every error into one line and an exit code; never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GateError as exc:
            _fail(exc.message, exc.hint, int(exc.exit_code))
        except BrokenPipeError:
            # The reader closed standard output (`| head -1`). Commands print through pipes.echo,
            # which lets them finish with their own exit code; output that did not (click's own)
            # ends here: quietly, and never with 0, since the command's outcome was not reached.
            silence_stdout()
            sys.exit(1)
        except KeyboardInterrupt:
            _fail("interrupted", None, int(ExitCode.CHECK_ERROR))
        except RecursionError:
            _fail("input nested too deeply", None, int(ExitCode.USAGE))
        except MemoryError:
            _fail("out of memory while reading the input", None, int(ExitCode.USAGE))
        except Exception as exc:
            if os.environ.get("MODEL_GATE_DEBUG"):
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {exc}",
                "Set MODEL_GATE_DEBUG=1 for a traceback, and please report it.",
                int(ExitCode.CHECK_ERROR),
            )

    return wrapper  # type: ignore[return-value]


def use_color(stream: Any) -> bool:
    if os.environ.get("NO_COLOR") is not None:
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def summary_line(help_text: str | None) -> str:
    """A command's first paragraph on one line: the listing shows it whole, never cut mid-sentence."""
    if not help_text:
        return ""
    first = inspect.cleandoc(help_text).split("\n\n", 1)[0]
    return " ".join(first.split())


class GateCommand(click.Command):
    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or summary_line(self.help)


class GateGroup(click.Group):
    command_class = GateCommand
    group_class = type  # subgroups (waiver, policy, decision-log) are GateGroups too

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or summary_line(self.help)


@click.group(cls=GateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="model-gate")
def main() -> None:
    """model-gate: a security gate for machine-learning model releases.

    Exit codes: 0 pass (warnings allowed), 1 blocked by policy, 2 usage error or
    invalid input (nothing judged), 3 a required check could not complete.
    """


@main.command()
@click.argument("release", type=click.Path(path_type=Path))
@click.option(
    "--policy",
    "policy_ref",
    default="default",
    show_default=True,
    help="Packaged policy name or path to a policy file.",
)
@click.option(
    "--waivers",
    "waiver_dir",
    type=click.Path(path_type=Path),
    help="Directory of signed waivers to apply.",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(FORMATS),
    help="Report format; repeat for several. Default: text.",
)
@click.option(
    "--output",
    "outputs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Write the report here; the n-th --output takes the n-th --format.",
)
@click.option("--offline", is_flag=True, help="Never use the network; checks that need it error.")
@click.option(
    "--only",
    multiple=True,
    metavar="CHECK[,CHECK]",
    help="Run only these checks (repeat, or separate with commas). The report is partial: "
    "its exit code speaks for these checks alone, and it cannot be attested.",
)
@click.option(
    "--skip",
    multiple=True,
    metavar="CHECK[,CHECK]",
    help="Leave these checks out (repeat, or separate with commas); the report records them, "
    "and a required one blocks unless the policy allows skipping it.",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    help="Report of the last approved release, for regression checks.",
)
@click.option(
    "--policy-ref",
    "git_ref",
    metavar="REF",
    help="Read the policy and the trust files it names from this git ref (e.g. origin/main), "
    "not from the working tree.",
)
@click.option(
    "--policy-sha256",
    "policy_pin",
    metavar="DIGEST",
    help="Refuse to run (exit 2) unless the composed policy has this digest.",
)
@click.option(
    "--policy-key",
    type=click.Path(path_type=Path),
    help="Public key that must have signed each policy file (FILE.sig).",
)
@click.option(
    "--attest",
    "attest_path",
    type=click.Path(path_type=Path),
    help="Write the verdict as a signed SLSA verification summary (DSSE envelope or Sigstore bundle).",
)
@click.option(
    "--attest-key",
    type=click.Path(path_type=Path),
    help="Private key (PEM, EC or Ed25519) that signs --attest (password from MODEL_GATE_KEY_PASSWORD); "
    "without it, Sigstore keyless signing with the CI's OIDC identity (online only).",
)
@click.option(
    "--attest-resource-uri",
    metavar="URI",
    help="resourceUri of the attestation (default urn:model-gate:release:NAME@VERSION).",
)
@click.option(
    "--decision-log",
    "decision_log_path",
    type=click.Path(path_type=Path),
    help="Append this run to this JSONL log (default: $MODEL_GATE_DECISION_LOG, else "
    "$XDG_STATE_HOME/model-gate/decisions.jsonl).",
)
@click.option("--no-decision-log", is_flag=True, help="Do not record this run in the decision log.")
@click.option(
    "--probe-set",
    "probe_set",
    metavar="NAME",
    help="Adversarial probe set to run (e.g. fast, broad) instead of the policy's.",
)
@click.option(
    "--shard",
    "shard",
    metavar="I/N",
    help="Run only the I-th of N slices of the adversarial probe set (join with merge).",
)
@click.option(
    "--sbom",
    "sbom_path",
    type=click.Path(path_type=Path),
    help="Also write the release's CycloneDX 1.6 ML-BOM here, with the verdict and the audit's findings.",
)
@click.option(
    "--evidence",
    "evidence_dir",
    type=click.Path(path_type=Path),
    help="Also write the JSON report and its compliance evidence pack (JSON, Markdown, OSCAL) here.",
)
@handle_errors
def check(
    release: Path,
    policy_ref: str,
    waiver_dir: Path | None,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
    offline: bool,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    baseline: Path | None,
    git_ref: str | None,
    policy_pin: str | None,
    policy_key: Path | None,
    attest_path: Path | None,
    attest_key: Path | None,
    attest_resource_uri: str | None,
    decision_log_path: Path | None,
    no_decision_log: bool,
    probe_set: str | None,
    shard: str | None,
    sbom_path: Path | None,
    evidence_dir: Path | None,
) -> None:
    """Judge a model release against a policy."""
    from gate import decision_log, engine
    from gate.checks.interface import RunOptions, utc_now
    from gate.protected_policy import protected_policy

    plan = _output_plan(formats, outputs)
    if attest_path is not None and only:
        raise GateError(
            "--attest cannot be combined with --only: a partial run is no verdict on the release",
            hint="Drop --only (use --skip for checks the policy allows to skip) to attest.",
        )
    from gate.safewrite import refuse_link

    for path, what in ((sbom_path, "the BOM"), (attest_path, "the attestation")):
        if path is not None:
            refuse_link(path, what)
    log = None
    if not no_decision_log:
        log = decision_log.check_path(decision_log_path or decision_log.default_path(), release)
    signer = _attest_signer(attest_path, attest_key, offline, release)
    if evidence_dir is not None:
        from gate.compliance.output import DIR_FORMATS, require_formats

        require_formats(DIR_FORMATS)
    captured: dict[str, Any] = {}
    try:
        with protected_policy(
            policy_ref, git_ref=git_ref, pin=policy_pin, key_path=policy_key, release_dir=release
        ) as policy:
            waivers = None
            if waiver_dir is not None:
                from gate.waivers import load_waiver_applier

                waivers = load_waiver_applier(waiver_dir, offline=offline)
            report = engine.run(
                engine.RunRequest(
                    release_dir=release,
                    policy=policy,
                    only=only,
                    skip=skip,
                    options=RunOptions(
                        offline=offline,
                        baseline=baseline,
                        extra=_redteam_extra(probe_set, shard),
                        report_dir=next((o.parent for _, o in plan if o is not None), None),
                    ),
                    waivers=waivers,
                    on_release=lambda r: captured.__setitem__("release", r),
                )
            )
    except GateError as exc:
        if log is not None:
            entry = decision_log.error_entry(
                now=utc_now(),
                release=str(release),
                message=exc.message,
                exit_code=int(exc.exit_code),
                policy_ref=git_ref,
            )
            _append_log(log, entry, explicit=decision_log_path is not None, quiet=True)
        raise
    if sbom_path is not None:
        from gate.sbom import write_for_report

        # From the same Release (inventory digests) and the audit results of this run.
        report = write_for_report(captured["release"], report, sbom_path)
    attestation = None
    if signer is not None and attest_path is not None:
        from gate.attest import build_statement, write_attestation

        statement = build_statement(report, captured.get("release"), resource_uri=attest_resource_uri)
        digest = write_attestation(attest_path, signer(statement), captured["release"].root)
        attestation = (str(attest_path), digest)
        report = report.model_copy(
            update={"artifacts": {**report.artifacts, "attestation": str(attest_path)}}
        )
    if log is not None:
        import datetime as dt

        entry = decision_log.entry_for(
            report,
            now=dt.datetime.fromisoformat(report.generated_at),
            attestation=attestation,
            policy_ref=git_ref,
        )
        _append_log(log, entry, explicit=decision_log_path is not None)
    if evidence_dir is not None:
        from gate.compliance.output import write_dir
        from gate.reporters import get_reporter

        write_dir(get_reporter("json").render(report), evidence_dir, decision_log=log)
    _emit(report, plan)
    sys.exit(report.exit_code)


def _attest_signer(
    path: Path | None, key: Path | None, offline: bool, release: Path
) -> Callable[[dict[str, Any]], bytes] | None:
    """Check the attestation options before anything runs; returns the signing function."""
    if path is None:
        if key is not None:
            raise GateError("--attest-key needs --attest PATH")
        return None
    from gate.attest import keyless_signer, refuse_inside, sign_attestation

    if release.is_dir():
        refuse_inside(path, release, "--attest")
    if key is not None:
        from gate.signing.keys import load_private_key

        private = load_private_key(key, _key_password())
        return lambda statement: sign_attestation(statement, private)
    if offline:
        raise GateError(
            "--attest without --attest-key signs with Sigstore keyless, which needs the network",
            hint="Give --attest-key KEY to sign offline.",
        )
    return keyless_signer()


def _key_password() -> bytes | None:
    pw = os.environ.get("MODEL_GATE_KEY_PASSWORD")
    return pw.encode() if pw else None


def _append_log(path: Path, entry: dict[str, Any], *, explicit: bool, quiet: bool = False) -> None:
    from gate import decision_log

    try:
        decision_log.append(path, entry)
    except GateError as exc:
        # An explicitly requested audit record that cannot be written fails the run.
        if explicit and not quiet:
            raise
        click.echo(f"model-gate: warning: decision log not written: {exc.message}", err=True)


def _redteam_extra(probe_set: str | None, shard: str | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if probe_set:
        extra["probe_set"] = probe_set
    if shard:
        from gate.redteam.shard import parse_shard

        extra["shard"] = parse_shard(shard)
    return extra


def _output_plan(formats: tuple[str, ...], outputs: tuple[Path, ...]) -> list[tuple[str, Path | None]]:
    fmts = list(formats) or ["text"]
    if len(outputs) > len(fmts):
        raise GateError("more --output than --format options: give one --format per --output")
    plan: list[tuple[str, Path | None]] = [
        (f, outputs[i] if i < len(outputs) else None) for i, f in enumerate(fmts)
    ]
    if sum(1 for _, o in plan if o is None) > 1:
        raise GateError("only one report can go to standard output: add --output for the others")
    from gate.safewrite import refuse_link

    for _, out in plan:
        if out is not None:
            refuse_link(out, "the report")  # now, not after the whole run
    return plan


def _emit(report: Any, plan: list[tuple[str, Path | None]]) -> None:
    from gate.reporters import get_reporter

    for fmt, out in plan:
        reporter = get_reporter(fmt)
        if out is None:
            from gate.reporters.text import TextReporter, terminal_width

            # The terminal report fits the terminal; files keep the default width.
            kw = {"width": terminal_width()} if isinstance(reporter, TextReporter) else {}
            echo(reporter.render(report, color=use_color(sys.stdout), **kw), nl=False)
        else:
            from gate.safewrite import write_file

            write_file(out, reporter.render(report), what="the report")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--policy",
    "policy_ref",
    default="default",
    show_default=True,
    help="Policy whose model-files settings (allowlist extensions) apply.",
)
@handle_errors
def scan(paths: tuple[Path, ...], fmt: str, policy_ref: str) -> None:
    """Scan model files for code that runs when they load, without loading them.

    Exit 0 clean, 1 blocking findings, 2 usage, 3 a file could not be analysed.
    """
    import importlib

    try:
        run_scan = importlib.import_module("gate.scanner.cli").run_scan
    except ImportError:
        raise CheckError(
            "the model-file scanner is not part of this build", hint="Upgrade model-gate."
        ) from None
    sys.exit(run_scan(paths, fmt=fmt, policy_ref=policy_ref))


@main.command()
@click.argument("release", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write the BOM here (default: standard output)."
)
@click.option(
    "--policy",
    "policy_ref",
    default="default",
    show_default=True,
    help="Policy whose `dependencies` settings (osv_url, service) the audit uses.",
)
@click.option(
    "--offline", is_flag=True, help="Audit only against a self-hosted OSV mirror; error without one."
)
@click.option("--no-audit", is_flag=True, help="Leave the vulnerability audit out (the BOM records that).")
@click.option("--validate", is_flag=True, help="Validate the BOM against the CycloneDX 1.6 schema.")
@handle_errors
def sbom(
    release: Path, output: Path | None, policy_ref: str, offline: bool, no_audit: bool, validate: bool
) -> None:
    """Write the release's CycloneDX 1.6 ML bill of materials.

    The model (every file's digest, a model card from release.yaml), its datasets and base model,
    the serving dependencies with purls and their known vulnerabilities (a fresh pip-audit run).
    Exit 0 written, 2 invalid input, 3 the audit could not complete.
    """
    from gate.sbom import sbom_for_release, validate_bom, write_bom

    text = sbom_for_release(release, policy_ref=policy_ref, offline=offline, audit=not no_audit)
    if validate:
        validate_bom(text)
    if output is None:
        echo(text, nl=False)
    else:
        write_bom(output, text)
        click.echo(f"wrote {output}", err=True)


@main.command()
@click.argument("release", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def tier(release: Path, fmt: str) -> None:
    """Show the release's risk tier and each factor's contribution."""
    from gate.release import load_manifest
    from gate.risk import score, tables

    loaded = load_manifest(release)
    t = score(loaded.manifest)
    if fmt == "json":
        echo(t.model_dump_json(indent=2))
        return
    echo(f"tier: {t.level.value}   (EU AI Act: {t.eu_ai_act}; factor score {t.score})")
    echo("")
    echo(f"  {'factor':<18} {'value':<20} points")
    for f in t.factors:
        echo(f"  {f.name:<18} {f.value:<20} +{f.points}")
    echo("")
    thresholds = ", ".join(f"{k.value} ≥ {v}" for k, v in tables().tiers.items())
    echo(f"  score thresholds: {thresholds}")
    for line in t.rationale:
        echo(f"  · {line}")


@main.command()
@click.argument("rule", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every rule.")
@handle_errors
def explain(rule: str | None, list_all: bool) -> None:
    """Print a rule's documentation: by code (GATE-RI005 or RI005), name, or a report's finding id."""
    from gate.checks import all_rules
    from gate.docs import resolve_rule, rule_doc

    if list_all or not rule:
        for r in all_rules():
            echo(f"{r.code}  {r.name:<34} {r.severity.value:<8} {r.check}")
        return
    found, close = resolve_rule(rule)
    if found is None:
        guess = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise GateError(f"unknown rule '{rule}'", hint=f"{guess}'model-gate explain --list' lists them.")
    echo(rule_doc(found))


@main.group()
def policy() -> None:
    """Work with policy files."""


@policy.command("lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@handle_errors
def policy_lint(paths: tuple[Path, ...]) -> None:
    """Report unknown keys, wrong types and unknown checks or rules, with file and line."""
    from gate.policy import lint

    problems = [p for path in paths for p in lint(path)]
    for p in problems:
        echo(p)
    if problems:
        sys.exit(int(ExitCode.USAGE))
    echo(f"{len(paths)} policy file(s) OK")


@policy.command("show")
@click.argument("ref", default="default")
@click.option("--tier", "tier_name", type=click.Choice(["low", "medium", "high", "critical", "prohibited"]))
@handle_errors
def policy_show(ref: str, tier_name: str | None) -> None:
    """Print the composed policy (after `extends:`), for one tier or all."""
    import json

    from gate.policy import load_policy
    from gate.risk import Tier

    pol = load_policy(ref)
    tiers = [Tier(tier_name)] if tier_name else list(Tier)
    data = {t.value: pol.for_tier(t).model_dump(mode="json", exclude={"tier"}) for t in tiers}
    echo(
        json.dumps(
            {
                "name": pol.name,
                "sha256": pol.sha256,
                "sources": [s.path for s in pol.sources],
                "tiers": data,
            },
            indent=2,
        )
    )


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing release.yaml.")
@handle_errors
def init(path: Path, force: bool) -> None:
    """Write release.yaml from the folder's files.

    TODOs mark what is left to write. Model files (by their bytes), a signature, provenance,
    requirements and lock files, serving manifests, monitoring files and datasets are found and
    declared; `check` blocks on every TODO.
    """
    from gate.init import write_template

    written = write_template(path, force=force)
    echo(f"wrote {written}: fill in the TODOs, then run 'model-gate check {path}'")


@main.group()
def waiver() -> None:
    """Create, sign and check signed waivers (accepted risks for one release)."""


JUSTIFICATIONS = [
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
    "false_positive",
    "risk_accepted",
]


@waiver.command("new")
@click.option(
    "--finding", "findings", multiple=True, required=True, metavar="ID", help="Finding id (repeat)."
)
@click.option("--release", type=click.Path(path_type=Path), required=True, help="The release directory.")
@click.option("--reason", required=True, help="Why the risk is acceptable, in words.")
@click.option("--justification", type=click.Choice(JUSTIFICATIONS), required=True, help="VEX-style kind.")
@click.option(
    "--expires", required=True, help="A date (2025-07-01, midnight UTC), a time, or a duration (30d)."
)
@click.option("--controls", multiple=True, metavar="TEXT", help="A compensating control (repeat).")
@click.option("--ticket", metavar="URL", help="Ticket or review where the decision is recorded.")
@click.option("--requester", help="Who asks for the waiver (default: git config user.email).")
@click.option("--approver", "approvers", multiple=True, help="Only these reviewer ids may approve (repeat).")
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    required=True,
    help="The JSON report (check --format json) of this release that lists the findings.",
)
@click.option("--policy", "policy_ref", help="Policy to ask about waivability (default: the report's).")
@click.option(
    "--requester-key",
    type=click.Path(path_type=Path),
    help="The requester's public key (PEM): its signature never counts as an approval.",
)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="Where to write (default: ./waiver-ID.json)."
)
@handle_errors
def waiver_new(
    findings: tuple[str, ...],
    release: Path,
    reason: str,
    justification: str,
    expires: str,
    controls: tuple[str, ...],
    ticket: str | None,
    requester: str | None,
    approvers: tuple[str, ...],
    report: Path,
    policy_ref: str | None,
    requester_key: Path | None,
    output: Path | None,
) -> None:
    """Write an unsigned waiver for findings of one release (ids from its JSON report)."""
    from gate.attest import refuse_inside
    from gate.checks import find_rule
    from gate.checks.interface import utc_now
    from gate.release import load_release
    from gate.signing.keys import public_keys_from
    from gate.timefmt import parse_when, rfc3339
    from gate.waivers import check_against_report, default_requester, new_waiver, waiver_id

    now = utc_now()
    who = requester or default_requester()
    if not who:
        raise GateError("no requester: give --requester (or set git config user.email)")
    rel = load_release(release)
    data = new_waiver(
        rel,
        findings,
        reason=reason,
        justification=justification,
        expires=parse_when(expires, now, "--expires"),
        requester=who,
        now=now,
        controls=controls,
        ticket=ticket,
        approvers=approvers,
        requester_key=public_keys_from([requester_key])[0] if requester_key else None,
        rules=find_rule,
    )
    check_against_report(data, report, rel, policy_ref)
    out = output or Path(f"waiver-{waiver_id(data)[3:]}.json")
    refuse_inside(out, rel.root, "--output")
    _write(out, data)
    echo(f"wrote {out} (unsigned) for {rel.manifest.name} {rel.manifest.version} ({rel.digest})")
    echo(f"  expires {rfc3339(parse_when(expires, now, '--expires'))}; reviewers sign it with:")
    echo(f"  model-gate waiver sign {out} --key KEY")


def _write(path: Path, data: bytes) -> None:
    from gate.safewrite import write_file

    write_file(path, data)


@waiver.command("sign")
@click.argument("waiver_file", type=click.Path(path_type=Path))
@click.option(
    "--key", type=click.Path(path_type=Path), help="Private key (PEM, EC P-256/384/521 or Ed25519)."
)
@click.option(
    "--keyless", is_flag=True, help="Sign with Sigstore (online; opens a browser unless CI has OIDC)."
)
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write here instead of in place.")
@handle_errors
def waiver_sign(waiver_file: Path, key: Path | None, keyless: bool, output: Path | None) -> None:
    """Sign a waiver; signing a signed one adds an approval (N of M)."""
    from gate.checks.interface import utc_now
    from gate.timefmt import rfc3339
    from gate.waivers import open_for_signing, read_waiver, sign_waiver, sign_waiver_keyless, waiver_id

    if (key is None) == (not keyless):
        raise GateError("give --key KEY or --keyless")
    raw = read_waiver(waiver_file)
    doc = open_for_signing(raw, str(waiver_file))
    p = doc.predicate
    echo(f"signing waiver {waiver_id(doc.payload)}: {p.rule} for {doc.statement.subject[0].name}")
    echo(f"  findings: {', '.join(p.findings)}")
    echo(f"  {p.justification.value}: {p.reason}")
    echo(f"  requested by {p.requester}; expires {rfc3339(p.expires)}")
    if keyless:
        data = sign_waiver_keyless(raw, str(waiver_file), utc_now(), offline=False)
        target = output or (waiver_file if doc.kind == "statement" else None)
        if target is None:
            raise GateError("a keyless approval of a signed waiver goes to a new file: give --output")
    else:
        from gate.signing.keys import load_private_key

        assert key is not None
        data = sign_waiver(raw, load_private_key(key, _key_password()), str(waiver_file), utc_now())
        target = output or waiver_file
    _write(target, data)
    echo(f"wrote {target}")


@waiver.command("verify")
@click.argument("waiver_file", type=click.Path(path_type=Path))
@click.option("--policy", "policy_ref", default="default", show_default=True, help="Policy name or file.")
@click.option(
    "--release", type=click.Path(path_type=Path), help="Check it against this release and its findings."
)
@click.option("--offline", is_flag=True, help="Never use the network.")
@handle_errors
def waiver_verify(waiver_file: Path, policy_ref: str, release: Path | None, offline: bool) -> None:
    """Say whether a waiver would apply, and why not. Exit 0 applies, 1 would not, 2 bad input."""
    from gate.checks.interface import utc_now
    from gate.policy import load_policy
    from gate.waivers import read_waiver
    from gate.waivers.verify import verify_with_release, verify_without_release

    raw = read_waiver(waiver_file)
    policy = load_policy(policy_ref)
    if release is None:
        result = verify_without_release(raw, waiver_file, policy, utc_now(), offline)
    else:
        result = verify_with_release(raw, waiver_file, policy, release, offline)
    for line in result.lines:
        echo(line)
    sys.exit(0 if result.ok else 1)


@main.command("verify-attestation")
@click.argument("attestation", type=click.Path(path_type=Path))
@click.option("--release", type=click.Path(path_type=Path), required=True, help="The release to admit.")
@click.option("--key", type=click.Path(path_type=Path), help="The gate's public key (PEM).")
@click.option("--identity", help="Sigstore keyless: the signer identity (certificate SAN).")
@click.option("--issuer", help="Sigstore keyless: the OIDC issuer of --identity.")
@click.option(
    "--sigstore-trust-root",
    type=click.Path(path_type=Path),
    help="Sigstore keyless: a trusted_root.json (default: Sigstore's public good).",
)
@click.option("--offline", is_flag=True, help="Never use the network.")
@click.option(
    "--max-age", default="7d", show_default=True, help="Reject verdicts older than this (e.g. 12h, 7d)."
)
@click.option("--policy-sha256", "policy_pin", metavar="DIGEST", help="Require this policy digest.")
@handle_errors
def verify_attestation_cmd(
    attestation: Path,
    release: Path,
    key: Path | None,
    identity: str | None,
    issuer: str | None,
    sigstore_trust_root: Path | None,
    offline: bool,
    max_age: str,
    policy_pin: str | None,
) -> None:
    """Admit a release only with a passing, fresh, signed verdict.

    The verdict must be signed by --key (or the Sigstore --identity), name
    exactly this release's digest, say PASSED and be younger than --max-age.
    Exit 0 admitted, 1 rejected, 2 bad input.
    """
    from gate.attest import MAX_ATTESTATION_BYTES, KeylessSigner, load_release_subjects, verify_attestation
    from gate.checks.interface import utc_now
    from gate.signing.keys import public_keys_from
    from gate.timefmt import parse_duration

    age = parse_duration(max_age, "--max-age")
    if (key is None) == (identity is None):
        raise GateError("give --key KEY, or --identity and --issuer for a Sigstore bundle")
    keyless = None
    if identity is not None:
        if not issuer:
            raise GateError("--identity needs --issuer")
        root = None
        if sigstore_trust_root is not None:
            try:
                root = sigstore_trust_root.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise GateError(f"{sigstore_trust_root}: cannot read: {exc}") from None
        keyless = KeylessSigner(identity=identity, issuer=issuer, trust_root=root, offline=offline)
    keys = public_keys_from([key]) if key is not None else []
    try:
        if attestation.stat().st_size > MAX_ATTESTATION_BYTES:
            raise GateError(f"{attestation}: larger than {MAX_ATTESTATION_BYTES} bytes; not an attestation")
        raw = attestation.read_bytes()
    except OSError as exc:
        raise GateError(f"{attestation}: cannot read: {exc.strerror or exc}") from None
    subjects = load_release_subjects(release)
    digest = subjects.release
    result = verify_attestation(
        raw,
        release_digest=digest,
        model_root=subjects.model_root,
        keys=keys,
        now=utc_now(),
        max_age=age,
        policy_sha256=policy_pin,
        source=str(attestation),
        keyless=keyless,
    )
    if result.ok:
        echo(
            f"admitted: {digest} passed ({result.verdict or 'pass'}) at {result.time_verified} "
            f"under policy sha256:{(result.policy_sha256 or '')[:12]}…"
        )
        sys.exit(0)
    for reason in result.reasons:
        echo(f"rejected: {reason}")
    sys.exit(1)


@policy.command("sign")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--key", type=click.Path(path_type=Path), required=True, help="Private key (PEM).")
@handle_errors
def policy_sign(path: Path, key: Path) -> None:
    """Sign a policy file and the trust files it names (writes PATH.sig), for --policy-key."""
    from gate.protected_policy import sign_policy_file
    from gate.signing.keys import load_private_key

    out = sign_policy_file(path, load_private_key(key, _key_password()))
    echo(f"wrote {out}")


@main.group("decision-log")
def decision_log_group() -> None:
    """Read the append-only log of `check` runs."""


@decision_log_group.command("verify")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@handle_errors
def decision_log_verify(path: Path | None) -> None:
    """Check that no line was edited or removed (each line names the sha256 of the one before)."""
    from gate import decision_log

    target = path or decision_log.default_path()
    if not target.is_file():
        raise GateError(f"{target}: no decision log here")
    problems = decision_log.verify_log(target)
    for p in problems:
        echo(p)
    if problems:
        sys.exit(1)
    lines = sum(1 for line in target.read_bytes().splitlines() if line.strip())
    echo(f"{target}: {lines} entries, chain intact")


def _log_entries(path: Path | None) -> tuple[Path, list[dict[str, Any]]]:
    from gate import decision_log

    target = path or decision_log.default_path()
    if not target.is_file():
        raise GateError(f"{target}: no decision log here")
    entries, bad = decision_log.read_entries(target)
    if bad:
        click.echo(
            f"model-gate: warning: {target}: {bad} line(s) are not entries and were left out "
            "(model-gate decision-log verify tells more)",
            err=True,
        )
    return target, entries


def _print_entries(entries: list[dict[str, Any]], fmt: str) -> None:
    import json

    from gate import decision_log

    if fmt == "json":
        echo(json.dumps(entries, indent=2, sort_keys=True))
    elif entries:
        echo(decision_log.table(entries))


LOG_FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


@decision_log_group.command("show")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--release", metavar="NAME|NAME@VERSION|DIGEST|PATH", help="Only runs of this release.")
@click.option(
    "--verdict",
    "verdicts",
    multiple=True,
    type=click.Choice(["pass", "warn", "fail", "error", "none"]),
    help="Only runs with this verdict (repeat); 'none': runs that judged nothing (bad input).",
)
@click.option("--since", metavar="WHEN", help="From this date or time, or this long ago (7d).")
@click.option("--until", metavar="WHEN", help="Up to this time, or through this date (2025-07-01).")
@LOG_FORMAT
@handle_errors
def decision_log_show(
    path: Path | None,
    release: str | None,
    verdicts: tuple[str, ...],
    since: str | None,
    until: str | None,
    fmt: str,
) -> None:
    """List the runs a decision log recorded, oldest first, filtered by release, verdict and date."""
    import datetime as dt

    from gate import decision_log
    from gate.checks.interface import utc_now
    from gate.timefmt import parse_duration, parse_when

    now = utc_now()

    def when(text: str | None, option: str, end_of_day: bool) -> dt.datetime | None:
        if text is None:
            return None
        raw = text.strip()
        try:
            return now - parse_duration(raw, option)  # a duration counts back from now
        except GateError:
            pass
        moment = parse_when(raw, now, option)
        is_date = len(raw) == 10 and raw[4] == "-" and raw[7] == "-"
        return moment + dt.timedelta(days=1) if end_of_day and is_date else moment

    _, entries = _log_entries(path)
    chosen = decision_log.select(
        entries,
        release=release,
        verdicts=verdicts,
        since=when(since, "--since", False),
        until=when(until, "--until", True),
    )
    _print_entries(chosen, fmt)


@decision_log_group.command("tail")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("-n", "--lines", "count", type=click.IntRange(1), default=10, show_default=True)
@LOG_FORMAT
@handle_errors
def decision_log_tail(path: Path | None, count: int, fmt: str) -> None:
    """Show the last runs a decision log recorded."""
    _, entries = _log_entries(path)
    _print_entries(entries[-count:], fmt)


@main.command()
@click.argument("release", type=click.Path(path_type=Path))
@click.option("--policy", "policy_ref", default="default", show_default=True, help="Packaged policy or path.")
@click.option(
    "--broad", is_flag=True, help="Run the policy's broad probe set (releases) instead of the fast one."
)
@click.option("--shard", metavar="I/N", help="Run only the I-th of N deterministic slices of the probe set.")
@click.option("--baseline", type=click.Path(path_type=Path), help="Report of the last approved release.")
@click.option("--offline", is_flag=True, help="Only probes that need no downloads.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Result cache (outside the release).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write cached probe results.")
@click.option("--parallel", type=click.IntRange(1, 64), help="Attempts sent to the endpoint at once.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep garak's raw report and output here.")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), help="Report format.")
@click.option("--output", "outputs", multiple=True, type=click.Path(path_type=Path), help="Report file.")
@handle_errors
def redteam(
    release: Path,
    policy_ref: str,
    broad: bool,
    shard: str | None,
    baseline: Path | None,
    offline: bool,
    cache_dir: Path | None,
    no_cache: bool,
    parallel: int | None,
    workdir: Path | None,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
) -> None:
    """Attack the release's endpoint with garak and judge it (the adversarial check alone).

    With --shard, the report holds one slice for `model-gate merge`; its exit code
    says only whether the slice ran (0) or not (3).
    """
    from gate.redteam.merge import run_redteam
    from gate.redteam.shard import parse_shard

    plan = _output_plan(formats, outputs)
    report = run_redteam(
        release,
        policy_ref=policy_ref,
        broad=broad,
        shard=parse_shard(shard) if shard else None,
        offline=offline,
        baseline=baseline,
        cache_dir=cache_dir,
        no_cache=no_cache,
        parallel=parallel,
        workdir=workdir,
    )
    _emit(report, plan)
    sys.exit(report.exit_code)


@main.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--policy", "policy_ref", default="default", show_default=True, help="The shards' policy.")
@click.option("--baseline", type=click.Path(path_type=Path), help="Report of the last approved release.")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), help="Report format.")
@click.option("--output", "outputs", multiple=True, type=click.Path(path_type=Path), help="Report file.")
@handle_errors
def merge(
    reports: tuple[Path, ...],
    policy_ref: str,
    baseline: Path | None,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
) -> None:
    """Join the JSON reports of `redteam --shard I/N` runs into one verdict."""
    from gate.redteam.merge import merge_reports

    plan = _output_plan(formats, outputs)
    report = merge_reports(list(reports), policy_ref=policy_ref, baseline=baseline)
    _emit(report, plan)
    sys.exit(report.exit_code)


@main.command()
@click.argument("report_path", metavar="REPORT", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("json", "markdown", "oscal")),
    default="markdown",
    show_default=True,
    help="json: the pack; markdown: the coverage matrix for people; oscal: NIST OSCAL assessment results.",
)
@click.option("--output", type=click.Path(path_type=Path), help="Write the pack here instead of stdout.")
@click.option(
    "--decision-log",
    "decision_log_path",
    type=click.Path(path_type=Path),
    help="Link the entries of this decision log that judged the same release digest.",
)
@handle_errors
def evidence(report_path: Path, fmt: str, output: Path | None, decision_log_path: Path | None) -> None:
    """Compliance evidence pack of a JSON report: coverage per framework (never a compliance claim)."""
    from gate.compliance.output import render
    from gate.compliance.pack import build_pack

    text = render(build_pack(report_path, decision_log=decision_log_path), fmt)
    if output is None:
        echo(text, nl=False)
    else:
        _write(output, text.encode("utf-8"))
