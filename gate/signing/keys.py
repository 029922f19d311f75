"""Key material: PEM key files read into keys, and the ids that name a public key.

EC (P-256, P-384, P-521) and Ed25519, the key types DSSE signatures of the
gate, of model-signing and of reviewers use. Signing and verifying with these
keys goes through securesystemslib (`gate.signing.dsse`); this module only
loads and names them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gate.errors import InputError
from gate.extras import needs

KEY_TYPES = "only EC (P-256/384/521) and Ed25519 keys are supported"


def _crypto() -> Any:
    with needs("signing", "DSSE signing and verification"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    return serialization, ec, ed25519


def supported(key: Any) -> bool:
    """An Ed25519 key, or an EC key on one of the NIST curves DSSE signers use here."""
    _, ec, ed25519 = _crypto()
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return True
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1)
    return False


def key_id(public_key: Any) -> str:
    """sha256 of the DER SubjectPublicKeyInfo: a stable id for a public key."""
    serialization, _, _ = _crypto()
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def model_signing_key_hint(public_key: Any) -> str:
    """model-signing's key hint: sha256 of the PEM SubjectPublicKeyInfo."""
    serialization, _, _ = _crypto()
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def load_private_key(path: Path, password: bytes | None = None) -> Any:
    serialization, _, _ = _crypto()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=password)
    except OSError as exc:
        raise InputError(f"{path}: cannot read key: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a PEM private key ({exc})") from None
    if not supported(key):
        raise InputError(f"{path}: {KEY_TYPES}")
    return key


def load_public_key(data: bytes, source: str) -> Any:
    serialization, _, _ = _crypto()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{source}: not a PEM public key ({exc})") from None
    if not supported(key):
        raise InputError(f"{source}: {KEY_TYPES}")
    return key


def public_keys_from(paths: Sequence[Path]) -> list[Any]:
    out = []
    for p in paths:
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise InputError(f"{p}: cannot read public key: {exc.strerror or exc}") from None
        out.append(load_public_key(data, str(p)))
    return out
