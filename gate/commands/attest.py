"""`model-gate verify-attestation`: admit a release only with a passing, fresh, signed verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gate.commands.shared import (
    GateCommand,
    handle_errors,
)
from gate.errors import GateError
from gate.pipes import echo
from gate.saferead import read_bounded


@click.command("verify-attestation", cls=GateCommand)
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
    from gate.signing.keys import public_keys_from
    from gate.timefmt import parse_duration, utc_now

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
    raw = read_bounded(attestation, MAX_ATTESTATION_BYTES, "attestation")
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
