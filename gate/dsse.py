"""DSSE envelopes and in-toto Statements, signed and verified with local keys.

Used for everything the gate signs or verifies with a key it was given:
provenance, waivers, attestations. Signatures are verified over the raw
payload bytes before the payload is parsed: nothing unverified is ever
interpreted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from gate.errors import InputError
from gate.extras import needs
from gate.models.base import StrictModel

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


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def _crypto() -> Any:
    with needs("signing", "DSSE signing and verification"):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    return hashes, serialization, ec, ed25519


def key_id(public_key: Any) -> str:
    """sha256 of the DER SubjectPublicKeyInfo: a stable id for a public key."""
    _, serialization, _, _ = _crypto()
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def load_private_key(path: Path, password: bytes | None = None) -> Any:
    _, serialization, ec, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=password)
    except OSError as exc:
        raise InputError(f"{path}: cannot read key: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise InputError(f"{path}: only EC (P-256/384/521) and Ed25519 keys are supported")
    return key


def load_public_key(data: bytes, source: str) -> Any:
    _, serialization, ec, ed25519 = _crypto()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{source}: not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise InputError(f"{source}: only EC (P-256/384/521) and Ed25519 keys are supported")
    return key


def _ec_hash(curve: Any) -> Any:
    hashes, _, _, _ = _crypto()
    size = curve.key_size
    return hashes.SHA256() if size <= 256 else hashes.SHA384() if size <= 384 else hashes.SHA512()


def _sign_bytes(key: Any, data: bytes) -> bytes:
    _, _, ec, ed25519 = _crypto()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return bytes(key.sign(data))
    return bytes(key.sign(data, ec.ECDSA(_ec_hash(key.curve))))


def _verify_bytes(key: Any, sig: bytes, data: bytes) -> bool:
    _, _, ec, ed25519 = _crypto()
    from cryptography.exceptions import InvalidSignature

    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, data)
        else:
            key.verify(sig, data, ec.ECDSA(_ec_hash(key.curve)))
    except InvalidSignature:
        return False
    return True


def sign_envelope(payload: bytes, private_key: Any, payload_type: str = INTOTO_PAYLOAD_TYPE) -> bytes:
    """Sign payload bytes; returns the envelope as JSON bytes."""
    sig = _sign_bytes(private_key, pae(payload_type, payload))
    env = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": payload_type,
        "signatures": [{"keyid": key_id(private_key.public_key()), "sig": base64.b64encode(sig).decode()}],
    }
    return json.dumps(env, indent=2).encode() + b"\n"


def add_signature(envelope_raw: bytes, private_key: Any, source: str = "<envelope>") -> bytes:
    """Add one more signature (N-of-M approvals) to an existing envelope."""
    env = parse_envelope(envelope_raw, source)
    payload = _b64(env.payload, source, "payload")
    sig = _sign_bytes(private_key, pae(env.payloadType, payload))
    data = env.model_dump()
    data["signatures"] = [
        *data["signatures"],
        {"keyid": key_id(private_key.public_key()), "sig": base64.b64encode(sig).decode()},
    ]
    return json.dumps(data, indent=2).encode() + b"\n"


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


def verify_envelope(raw: bytes, trusted_keys: Iterable[Any], source: str) -> Verified:
    """Verify every signature against the trusted keys; return which keys signed.

    An envelope with no signature from a trusted key yields an empty `key_ids`:
    callers decide (and report) what that means. Signatures by keys we do not
    know are ignored, never trusted.
    """
    env = parse_envelope(raw, source)
    payload = _b64(env.payload, source, "payload")
    message = pae(env.payloadType, payload)
    keys = list(trusted_keys)
    ids: list[str] = []
    for s in env.signatures:
        sig = _b64(s.sig, source, "signatures.sig")
        for k in keys:
            kid = key_id(k)
            if kid not in ids and _verify_bytes(k, sig, message):
                ids.append(kid)
                break
    return Verified(payload=payload, payload_type=env.payloadType, key_ids=tuple(ids))


@dataclass(frozen=True)
class SignatureCheck:
    """One signature of an envelope: the keyid it claims, and the trusted key it verifies with."""

    index: int
    claimed_keyid: str
    verified_by: str | None  # key id of the trusted key whose check passed, or None


def check_signatures(
    raw: bytes, trusted_keys: Iterable[Any], source: str
) -> tuple[Verified, list[SignatureCheck]]:
    """Like `verify_envelope`, but reports every signature, duplicates included.

    Callers that count approvals need to see a signer who signed twice, and to
    tell a broken signature by a trusted key from a signature by a stranger.
    """
    env = parse_envelope(raw, source)
    payload = _b64(env.payload, source, "payload")
    message = pae(env.payloadType, payload)
    keyed = [(key_id(k), k) for k in trusted_keys]
    checks: list[SignatureCheck] = []
    for i, s in enumerate(env.signatures):
        sig = _b64(s.sig, source, f"signatures[{i}].sig")
        hit = next((kid for kid, k in keyed if _verify_bytes(k, sig, message)), None)
        checks.append(SignatureCheck(index=i, claimed_keyid=s.keyid, verified_by=hit))
    ids = tuple(dict.fromkeys(c.verified_by for c in checks if c.verified_by))
    return Verified(payload=payload, payload_type=env.payloadType, key_ids=ids), checks


def public_keys_from(paths: Sequence[Path]) -> list[Any]:
    out = []
    for p in paths:
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise InputError(f"{p}: cannot read public key: {exc.strerror or exc}") from None
        out.append(load_public_key(data, str(p)))
    return out
