"""A private, offline Sigstore instance for tests: a Fulcio-like CA, a CT log and a Rekor log.

It issues short-lived certificates for an identity and issuer, with a real
signed certificate timestamp, and logs DSSE signatures with a real signed entry
timestamp, inclusion proof and checkpoint (a log of one entry). sigstore-python's
own Verifier checks all of it against the trusted root this instance exports:
nothing in verification is patched. The recipe follows the synthetic bundles in
sigstore-python's test suite (Apache-2.0).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

ISSUER_V1_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _spki(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@dataclass
class SyntheticSigstore:
    when: dt.datetime
    ca_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    ct_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    log_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def __post_init__(self) -> None:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-fulcio")])
        self.ca_name = name
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(1)
            .not_valid_before(self.when - dt.timedelta(days=30))
            .not_valid_after(self.when + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )

    # -- the trusted root a policy pins -----------------------------------------------------------

    def trusted_root(self) -> str:
        def log(key: Any, url: str) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "logId": {"keyId": _b64(hashlib.sha256(_spki(key)).digest())},
                "publicKey": {
                    "rawBytes": _b64(_spki(key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
            }

        return json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": [log(self.log_key, "https://rekor.test.invalid")],
                "ctlogs": [log(self.ct_key, "https://ct.test.invalid")],
                "certificateAuthorities": [
                    {
                        "subject": {"commonName": "test-fulcio", "organization": "test"},
                        "uri": "https://fulcio.test.invalid",
                        "certChain": {
                            "certificates": [
                                {"rawBytes": _b64(self.ca.public_bytes(serialization.Encoding.DER))}
                            ]
                        },
                        "validFor": {"start": "2020-01-01T00:00:00Z"},
                    }
                ],
            },
            indent=2,
        )

    # -- a certificate for an identity, with its SCT ------------------------------------------------

    def _certificate(self, key: Any, identity: str, issuer: str) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.when - dt.timedelta(minutes=1))
            .not_valid_after(self.when + dt.timedelta(minutes=10))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False
            )
            .add_extension(x509.UnrecognizedExtension(ISSUER_V1_OID, issuer.encode()), critical=False)
        )
        # RFC 6962 3.2: the CT log signs the precertificate's TBS, which has no SCT list yet.
        tbs = builder.sign(self.ca_key, hashes.SHA256()).tbs_certificate_bytes
        millis = int(self.when.timestamp() * 1000)
        signed = (
            struct.pack("!BBQH", 0, 0, millis, 1)
            + hashlib.sha256(_spki(self.ca_key)).digest()
            + len(tbs).to_bytes(3, "big")
            + tbs
            + b"\x00\x00"
        )
        sig = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            b"\x00"
            + hashlib.sha256(_spki(self.ct_key)).digest()
            + struct.pack("!QH", millis, 0)
            + struct.pack("!BBH", 4, 3, len(sig))
            + sig
        )
        sct_list = struct.pack("!HH", len(sct) + 2, len(sct)) + sct
        ext = x509.UnrecognizedExtension(
            ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS, asn1.encode_der(sct_list)
        )
        return builder.add_extension(ext, critical=False).sign(self.ca_key, hashes.SHA256())

    # -- a logged DSSE signature ------------------------------------------------------------------

    def sign_dsse(self, payload: bytes, identity: str, issuer: str) -> bytes:
        """A Sigstore bundle (v0.3) over `payload`, signed for `identity` at `when`."""
        key = ec.generate_private_key(ec.SECP256R1())  # ephemeral, as keyless signing does
        cert = self._certificate(key, identity, issuer)
        pae = b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)
        sig = key.sign(pae, ec.ECDSA(hashes.SHA256()))
        envelope = {"payload": _b64(payload), "payloadType": PAYLOAD_TYPE, "signatures": [{"sig": _b64(sig)}]}
        pem = cert.public_bytes(serialization.Encoding.PEM)
        body = {
            "kind": "dsse",
            "apiVersion": "0.0.1",
            "spec": {
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest(),
                },
                "signatures": [{"signature": _b64(sig), "verifier": _b64(pem)}],
            },
        }
        body_bytes = rfc8785.dumps(body)
        log_id = hashlib.sha256(_spki(self.log_key)).digest()
        leaf = hashlib.sha256(b"\x00" + body_bytes).digest()
        note = f"rekor.test.invalid\n1\n{_b64(leaf)}\n"
        note_sig = self.log_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = note + f"\n\u2014 rekor.test.invalid {_b64(log_id[:4] + note_sig)}\n"
        integrated = int(self.when.timestamp())
        set_payload = rfc8785.dumps(
            {"body": _b64(body_bytes), "integratedTime": integrated, "logID": log_id.hex(), "logIndex": 0}
        )
        bundle = {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": _b64(cert.public_bytes(serialization.Encoding.DER))},
                "tlogEntries": [
                    {
                        "logIndex": "0",
                        "logId": {"keyId": _b64(log_id)},
                        "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                        "integratedTime": str(integrated),
                        "canonicalizedBody": _b64(body_bytes),
                        "inclusionPromise": {
                            "signedEntryTimestamp": _b64(
                                self.log_key.sign(set_payload, ec.ECDSA(hashes.SHA256()))
                            )
                        },
                        "inclusionProof": {
                            "logIndex": "0",
                            "rootHash": _b64(leaf),
                            "treeSize": "1",
                            "hashes": [],
                            "checkpoint": {"envelope": checkpoint},
                        },
                    }
                ],
            },
            "dsseEnvelope": envelope,
        }
        return json.dumps(bundle, indent=2).encode()
