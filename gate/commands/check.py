"""`model-gate check`: judge a release against a policy; reports, attestation, BOM, evidence, log."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gate.commands.progress import progress_option
from gate.commands.shared import (
    FORMATS,
    GateCommand,
    emit,
    handle_errors,
    key_password,
    output_plan,
    sarif_all_rules_option,
    sidecar_dir,
)
from gate.errors import GateError

if TYPE_CHECKING:
    from gate.checks.interface import RedteamOptions


@click.command(cls=GateCommand)
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
@sarif_all_rules_option
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
    help="A previous verdict to compare findings with (labelled new, unchanged or fixed): the signed "
    "attestation `check --attest` wrote on the base branch, which under `block_on: new` lets only new "
    "findings block when the policy trusts its signer; or a JSON report (labels only; also the "
    "red-team regression baseline).",
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
    help="Run only the I-th of N slices of the adversarial probe set and of the training data's "
    "rows (join with merge).",
)
@click.option(
    "--rows-dir",
    "rows_dir",
    type=click.Path(path_type=Path),
    help="Write the lists of suspicious training-data rows (and a shard's state) here (default: "
    "beside the --output report, else $MODEL_GATE_ROWS_DIR, else ./model-gate-rows).",
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
@progress_option
@handle_errors
def check(
    release: Path,
    policy_ref: str,
    waiver_dir: Path | None,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
    sarif_all_rules: bool,
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
    rows_dir: Path | None,
    sbom_path: Path | None,
    evidence_dir: Path | None,
    progress: bool | None,
) -> None:
    """Judge a model release against a policy."""
    from gate import decision_log, engine
    from gate.checks.interface import RunOptions
    from gate.protected_policy import protected_policy
    from gate.timefmt import utc_now

    plan = output_plan(formats, outputs)
    sidecar = sidecar_dir(rows_dir, plan, release)
    redteam_options = _redteam_options(probe_set, shard)
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
    from gate.commands.progress_draw import progress_sink

    if evidence_dir is not None:
        from gate.compliance.output import DIR_FORMATS, require_formats

        require_formats(DIR_FORMATS)
    try:
        with (
            protected_policy(
                policy_ref, git_ref=git_ref, pin=policy_pin, key_path=policy_key, release_dir=release
            ) as policy,
            progress_sink(progress) as sink,  # on standard error only, and stopped before any output
        ):
            waivers = None
            if waiver_dir is not None:
                from gate.waivers import load_waiver_applier

                waivers = load_waiver_applier(waiver_dir, offline=offline)
            from gate.baseline import is_signed

            judged = engine.check_release(
                engine.RunRequest(
                    release_dir=release,
                    policy=policy,
                    only=only,
                    skip=skip,
                    baseline=baseline,
                    options=RunOptions(
                        offline=offline,
                        # The red-team regression reads attack rates from a JSON report; a signed
                        # verdict carries none.
                        baseline=None if baseline is None or is_signed(baseline) else baseline,
                        redteam=redteam_options,
                        report_dir=sidecar.directory,
                        sidecar_link=sidecar.link,
                        rows_not_written=sidecar.why_not,
                        data_shard=redteam_options.shard,  # one --shard slices both
                    ),
                    waivers=waivers,
                    progress=sink,
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
    report = judged.report
    if sbom_path is not None:
        from gate.sbom import write_for_report

        # From the same Release (inventory digests) and the audit results of this run.
        report = write_for_report(judged.release, report, sbom_path)
    attestation = None
    if signer is not None and attest_path is not None:
        from gate.attest import build_statement, write_attestation

        statement = build_statement(report, judged.release, resource_uri=attest_resource_uri)
        digest = write_attestation(attest_path, signer(statement), judged.release.root)
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
    emit(report, plan, sarif_all_rules=sarif_all_rules)
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

        private = load_private_key(key, key_password())
        return lambda statement: sign_attestation(statement, private)
    if offline:
        raise GateError(
            "--attest without --attest-key signs with Sigstore keyless, which needs the network",
            hint="Give --attest-key KEY to sign offline.",
        )
    return keyless_signer()


def _append_log(path: Path, entry: dict[str, Any], *, explicit: bool, quiet: bool = False) -> None:
    from gate import decision_log

    try:
        decision_log.append(path, entry)
    except GateError as exc:
        # An explicitly requested audit record that cannot be written fails the run.
        if explicit and not quiet:
            raise
        click.echo(f"model-gate: warning: decision log not written: {exc.message}", err=True)


def _redteam_options(probe_set: str | None, shard: str | None) -> RedteamOptions:
    from gate.checks.interface import RedteamOptions
    from gate.redteam.shard import parse_shard

    return RedteamOptions(probe_set=probe_set or None, shard=parse_shard(shard) if shard else None)
