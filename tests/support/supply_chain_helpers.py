"""Builders for signed releases: real keys, CAs and signatures made by model-signing's own API."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from safetensors.numpy import save

from tests.support import DATA, MINIMAL_MANIFEST, run_json

SIGSTORE = DATA / "sigstore"
MT_SIG = SIGSTORE / "model-transparency-v1.1.0-sigstore"
CONFORMANCE = SIGSTORE / "conformance-happy-path-intoto-in-dsse-v3"
TRUSTED_ROOT = SIGSTORE / "trusted_root.json"
MT_IDENTITY = {"identity": "stefanb@us.ibm.com", "issuer": "https://sigstore.verify.ibm.com/oauth2"}
BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"

MANIFEST = MINIMAL_MANIFEST


def weights(seed: int = 0) -> bytes:
    """A real safetensors file (written by the safetensors library)."""
    rng = np.random.default_rng(seed)
    return bytes(save({"w": rng.standard_normal((16, 8)).astype(np.float32), "b": np.zeros(8, np.float32)}))


def model_files(seed: int = 0) -> dict[str, bytes]:
    return {
        "model.safetensors": weights(seed),
        "config.json": json.dumps({"model_type": "bert", "hidden_size": 8}).encode(),
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"vocab": {"a": 0}}}).encode(),
    }


def make_release(root: Path, files: dict[str, bytes] | None = None, extra: str = "") -> Path:
    (root / "model").mkdir(parents=True, exist_ok=True)
    for rel, data in (files if files is not None else model_files()).items():
        p = root / "model" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "release.yaml").write_text(MANIFEST + textwrap.dedent(extra), "utf-8")
    return root


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> tuple[Path, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pub = path.with_suffix(".pub")
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path, pub


def sign_key(model_dir: Path, sig: Path, key_pem: Path, hashing: Any = None) -> None:
    import model_signing

    cfg = model_signing.signing.Config().use_elliptic_key_signer(private_key=key_pem)
    if hashing is not None:
        cfg = cfg.set_hashing_config(hashing)
    cfg.sign(model_dir, sig)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        b = b.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        b = b.add_extension(
            x509.ExtendedKeyUsage(eku if eku is not None else [ExtendedKeyUsageOID.CODE_SIGNING]),
            critical=False,
        )
    return b.sign(issuer_key, hashes.SHA256())


def pem(cert: x509.Certificate, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


class PKI:
    """A root CA, an intermediate and a code-signing leaf (P-384), written as PEM files."""

    def __init__(self, d: Path, **leaf_kw: Any) -> None:
        self.dir = d
        self.root_key, self.int_key, self.leaf_key = ec_key(), ec_key(), ec_key(ec.SECP384R1())
        self.root = make_cert("Test Root CA", self.root_key, "Test Root CA", self.root_key, ca=True)
        self.inter = make_cert("Test Intermediate", self.int_key, "Test Root CA", self.root_key, ca=True)
        self.leaf = make_cert(
            "release-signer", self.leaf_key, "Test Intermediate", self.int_key, ca=False, **leaf_kw
        )
        self.root_pem = pem(self.root, d / "root.pem")
        self.int_pem = pem(self.inter, d / "int.pem")
        self.leaf_pem = pem(self.leaf, d / "leaf.pem")
        self.leaf_key_pem, _ = write_key(self.leaf_key, d / "leaf-key.pem")

    def sign(self, model_dir: Path, sig: Path) -> None:
        import model_signing

        model_signing.signing.Config().use_certificate_signer(
            private_key=self.leaf_key_pem,
            signing_certificate=self.leaf_pem,
            certificate_chain=[self.int_pem, self.root_pem],
        ).sign(model_dir, sig)

    def fingerprint(self) -> str:
        return "sha256:" + self.leaf.fingerprint(hashes.SHA256()).hex()


def write_policy(
    path: Path, checks: dict[str, Any], *, required: list[str] | None = None, extends: bool = False
) -> Path:
    """A policy requiring these checks. Standalone by default, so `--only` leaves nothing required out."""
    doc: dict[str, Any] = {"version": 1, "name": "test"}
    if extends:
        doc["extends"] = ["default"]
    doc["defaults"] = {
        "required": required or list(checks),
        "checks": checks,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return path


def check(release: Path, policy: Path, *only: str, offline: bool = True) -> tuple[int, dict[str, Any]]:
    args = ["check", str(release), "--policy", str(policy)]
    for o in only:
        args += ["--only", o]
    if offline:
        args.append("--offline")
    return run_json(*args)


def result(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == check_id)


def findings(report: dict[str, Any], check_id: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check"] == check_id]


def rules(report: dict[str, Any], check_id: str) -> set[tuple[str, str | None]]:
    return {(f["rule"]["name"], f["location"]["path"]) for f in findings(report, check_id)}


def copy_keyless_release(root: Path, with_ignored: bool = False) -> Path:
    """A release whose model is model-transparency's keyless-signed test model."""
    make_release(root, {}, "signature: model.sig\n")
    for name in ("signme-1", "signme-2", *(["ignore-me"] if with_ignored else [])):
        shutil.copyfile(MT_SIG / name, root / "model" / name)
    shutil.copyfile(MT_SIG / "model.sig", root / "model.sig")
    return root
