"""`model-gate waiver`: create, sign and verify signed waivers."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gate.commands.shared import (
    GateGroup,
    handle_errors,
    key_password,
    write_output,
)
from gate.errors import GateError
from gate.pipes import echo


@click.group(cls=GateGroup)
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
    from gate.checks.interface import utc_now
    from gate.dsse import public_keys_from
    from gate.release import load_release
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
    )
    check_against_report(data, report, rel, policy_ref)
    out = output or Path(f"waiver-{waiver_id(data)[3:]}.json")
    refuse_inside(out, rel.root, "--output")
    write_output(out, data)
    echo(f"wrote {out} (unsigned) for {rel.manifest.name} {rel.manifest.version} ({rel.digest})")
    echo(f"  expires {rfc3339(parse_when(expires, now, '--expires'))}; reviewers sign it with:")
    echo(f"  model-gate waiver sign {out} --key KEY")


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
        from gate.dsse import load_private_key

        assert key is not None
        data = sign_waiver(raw, load_private_key(key, key_password()), str(waiver_file), utc_now())
        target = output or waiver_file
    write_output(target, data)
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
    from gate.waivers import read_waiver, verify_with_release, verify_without_release

    raw = read_waiver(waiver_file)
    policy = load_policy(policy_ref)
    if release is None:
        result = verify_without_release(raw, waiver_file, policy, utc_now(), offline)
    else:
        result = verify_with_release(raw, waiver_file, policy, release, offline)
    for line in result.lines:
        echo(line)
    sys.exit(0 if result.ok else 1)
