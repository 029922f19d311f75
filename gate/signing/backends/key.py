"""Key backend: a DSSE envelope (bare, or in a bundle that names a public key) verified with the
public keys the policy pins (`trusted_keys`)."""

from __future__ import annotations

import json

from gate.errors import InputError
from gate.signing.dsse import verify_envelope
from gate.signing.keys import key_id, model_signing_key_hint
from gate.signing.trust import (
    Problem,
    ProblemKind,
    Signer,
    VerifyContext,
    VerifyOutcome,
    fail,
    load_trusted_keys,
    statement_or_problem,
)


def verify(envelope: bytes, hint: str | None, source: str, vctx: VerifyContext) -> VerifyOutcome:
    keys = load_trusted_keys(vctx.trust, vctx.policy_dir, vctx.setting)
    if not keys:
        return fail(
            ProblemKind.UNTRUSTED,
            f"{source}: signed with a key, and the policy trusts no public key",
            key_hint=hint,
        )
    try:
        verified = verify_envelope(envelope, keys, source)
    except InputError as exc:
        return fail(ProblemKind.MALFORMED, exc.message)
    if not verified.key_ids:
        # Which trusted key the (unsigned) hints name: model-signing's hint, or DSSE key ids.
        keyids = _envelope_keyids(envelope)
        named = [k for k in keys if (hint and model_signing_key_hint(k) == hint) or key_id(k) in keyids]
        if named:
            return fail(
                ProblemKind.INVALID,
                f"{source}: the signature does not verify with the trusted key it names "
                "(the signed content was altered, or the signature was replaced)",
                key_id=key_id(named[0]),
            )
        return fail(
            ProblemKind.UNTRUSTED,
            f"{source}: no trusted key verifies the signature (signed by a key the policy does not trust)",
            key_hint=hint,
            trusted_key_ids=[key_id(k) for k in keys],
        )
    st = statement_or_problem(verified, source)
    if isinstance(st, Problem):
        return VerifyOutcome(None, None, (st,))
    kid = verified.key_ids[0]
    return VerifyOutcome(st, Signer("key", f"key sha256:{kid[:16]}…", {"key_id": kid}))


def _envelope_keyids(envelope: bytes) -> set[str]:
    try:
        sigs = json.loads(envelope).get("signatures", [])
        return {s["keyid"] for s in sigs if isinstance(s, dict) and isinstance(s.get("keyid"), str)}
    except (ValueError, AttributeError, TypeError):
        return set()
