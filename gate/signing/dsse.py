"""DSSE envelopes around in-toto Statements: reading, signing and verifying them with keys.

Used for everything the gate signs or verifies with a key it was given:
provenance, waivers, attestations, policy files. The envelope's encoding
(PAE), signing and signature checks are securesystemslib's (`dsse.Envelope`,
`CryptoSigner`, `SSlibKey`); what stays here is the boundary: the envelope
and Statement models that name the field a hostile file gets wrong, and the
rule that signatures are checked over the raw payload bytes before the
payload is parsed, so nothing unverified is ever interpreted.

A signature's `keyid` is an unauthenticated hint (DSSE says so): every
signature is tried against every trusted key, so envelopes whose keyids mean
something else (model-signing writes none) verify as well.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError

from gate.errors import InputError
from gate.extras import needs
from gate.models.base import StrictModel
from gate.signing.keys import key_id

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024


class Signature(StrictModel):
    keyid: str = ""
    sig: str


class Envelope(StrictModel):
    payload: str
    payloadType: str
    signatures: tuple[Signature, ...] = Field(min_length=1)


class Subject(StrictModel):
    name: str
    digest: dict[str, str]


class Statement(StrictModel):
    type_: str = Field(STATEMENT_V1, alias="_type")
    subject: tuple[Subject, ...]
    predicateType: str
    predicate: dict[str, Any]


def _sslib() -> Any:
    with needs("signing", "DSSE signing and verification"):
        from securesystemslib import dsse, exceptions, signer
    return dsse, exceptions, signer


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    dsse, _, _ = _sslib()
    return bytes(dsse.Envelope(payload, payload_type, {}).pae())


def _sign(private_key: Any, payload: bytes, payload_type: str) -> dict[str, str]:
    """One signature over the envelope's PAE, as the envelope's JSON carries it."""
    dsse, _, signer = _sslib()
    public = signer.SSlibKey.from_crypto(private_key.public_key(), keyid=key_id(private_key.public_key()))
    sig = dsse.Envelope(payload, payload_type, {}).sign(signer.CryptoSigner(private_key, public))
    return {"keyid": sig.keyid, "sig": base64.b64encode(bytes.fromhex(sig.signature)).decode()}


def _dump(payload: bytes, payload_type: str, signatures: list[dict[str, str]]) -> bytes:
    env = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": payload_type,
        "signatures": signatures,
    }
    return json.dumps(env, indent=2).encode() + b"\n"


def sign_envelope(payload: bytes, private_key: Any, payload_type: str = INTOTO_PAYLOAD_TYPE) -> bytes:
    """Sign payload bytes; returns the envelope as JSON bytes."""
    return _dump(payload, payload_type, [_sign(private_key, payload, payload_type)])


def add_signature(envelope_raw: bytes, private_key: Any, source: str = "<envelope>") -> bytes:
    """Add one more signature (N-of-M approvals) to an existing envelope."""
    env = parse_envelope(envelope_raw, source)
    payload = _b64(env.payload, source, "payload")
    kept = [s.model_dump() for s in env.signatures]
    return _dump(payload, env.payloadType, [*kept, _sign(private_key, payload, env.payloadType)])


def sign_statement(statement: Statement, private_key: Any) -> bytes:
    payload = json.dumps(statement.model_dump(mode="json", by_alias=True), sort_keys=True).encode()
    return sign_envelope(payload, private_key)


def _b64(text: str, source: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{source}: {field}: not valid base64") from None


def parse_envelope(raw: bytes, source: str) -> Envelope:
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise InputError(f"{source}: envelope larger than {MAX_ENVELOPE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError(f"{source}: not a JSON DSSE envelope") from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: not a JSON DSSE envelope (expected an object)")
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"{source}: invalid DSSE envelope: {where}: {err['msg']}") from None


@dataclass(frozen=True)
class Verified:
    """A verified envelope: its payload bytes and the ids of the keys whose signatures hold."""

    payload: bytes
    payload_type: str
    key_ids: tuple[str, ...]

    def statement(self, source: str) -> Statement:
        """Parse the (already verified) payload as an in-toto Statement v1."""
        if self.payload_type != INTOTO_PAYLOAD_TYPE:
            raise InputError(f"{source}: payloadType is '{self.payload_type}', not in-toto")
        try:
            data = json.loads(self.payload)
        except (ValueError, RecursionError):
            raise InputError(f"{source}: payload is not JSON") from None
        try:
            # ValidationError is a ValueError: validate apart from parsing to name the field.
            st = Statement.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            raise InputError(f"{source}: invalid in-toto Statement: {where}: {err['msg']}") from None
        if st.type_ != STATEMENT_V1:
            raise InputError(f"{source}: _type is '{st.type_}', expected {STATEMENT_V1}")
        return st


@dataclass(frozen=True)
class SignatureCheck:
    """One signature of an envelope: the keyid it claims, and the trusted key it verifies with."""

    index: int
    claimed_keyid: str
    verified_by: str | None  # key id of the trusted key whose check passed, or None


def check_signatures(
    raw: bytes, trusted_keys: Iterable[Any], source: str
) -> tuple[Verified, list[SignatureCheck]]:
    """Check every signature against the trusted keys; duplicates are reported, not merged.

    Callers that count approvals need to see a signer who signed twice, and to
    tell a broken signature by a trusted key from a signature by a stranger.
    Signatures by keys we do not know are ignored, never trusted.
    """
    env = parse_envelope(raw, source)
    payload = _b64(env.payload, source, "payload")
    dsse, exceptions, signer = _sslib()
    message = dsse.Envelope(payload, env.payloadType, {}).pae()
    keys = []
    for k in trusted_keys:
        kid = key_id(k)
        keys.append((kid, signer.SSlibKey.from_crypto(k, keyid=kid)))
    checks: list[SignatureCheck] = []
    for i, s in enumerate(env.signatures):
        sig = _b64(s.sig, source, f"signatures[{i}].sig").hex()
        hit = None
        for kid, key in keys:
            try:
                key.verify_signature(signer.Signature(kid, sig), message)
            except exceptions.UnverifiedSignatureError:
                continue
            hit = kid
            break
        checks.append(SignatureCheck(index=i, claimed_keyid=s.keyid, verified_by=hit))
    ids = tuple(dict.fromkeys(c.verified_by for c in checks if c.verified_by))
    return Verified(payload=payload, payload_type=env.payloadType, key_ids=ids), checks


def verify_envelope(raw: bytes, trusted_keys: Iterable[Any], source: str) -> Verified:
    """Verify every signature against the trusted keys; return which keys signed.

    An envelope with no signature from a trusted key yields an empty `key_ids`:
    callers decide (and report) what that means.
    """
    return check_signatures(raw, trusted_keys, source)[0]
