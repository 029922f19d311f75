"""Builders shared by the waiver, attestation, decision-log and protected-policy tests.

Keys are generated here, in the tests; releases are tiny and written by code.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gate import engine
from gate.models.report import Report
from gate.policy import Policy, load_policy
from gate.release import Release
from gate.waivers import WaiverSet, load_waiver_applier, new_waiver, sign_waiver
from tests.support import write_release

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)

CODE_RELEASE = {"model/weights.bin": b"\x00" * 64, "model/helper.py": b"print('hi')\n"}

CRITICAL_MANIFEST = """\
schema_version: 1
name: risky
version: 2.0.0
model:
  path: model/
  format: safetensors
  task: text-classification
deployment:
  exposure: public
  data_sensitivity: special-category
  autonomy: autonomous
  safety_critical: true
  user_scale: 5000000
"""


def pem_public(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def pem_private(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


@dataclass
class Keys:
    alice: Any
    bob: Any
    carol: Any
    dave: Any  # Ed25519
    mallory: Any  # trusted by nobody


def make_keys() -> Keys:
    return Keys(
        alice=ec.generate_private_key(ec.SECP256R1()),
        bob=ec.generate_private_key(ec.SECP384R1()),
        carol=ec.generate_private_key(ec.SECP256R1()),
        dave=ed25519.Ed25519PrivateKey.generate(),
        mallory=ec.generate_private_key(ec.SECP256R1()),
    )


def write_keys(keys: Keys, directory: Path) -> dict[str, Path]:
    """Public and private PEM files for every key; returns name -> private key path."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in ("alice", "bob", "carol", "dave", "mallory"):
        k = getattr(keys, name)
        (directory / f"{name}.pub").write_text(pem_public(k))
        (directory / f"{name}.key").write_bytes(pem_private(k))
        out[name] = directory / f"{name}.key"
    return out


def write_policy(
    directory: Path,
    keys: Keys,
    *,
    waivers: str = "",
    reviewers: tuple[str, ...] = ("alice", "bob", "carol", "dave"),
    extends: str = "default",
    tiers: str = "",
) -> Path:
    """A policy extending the default one with key-file reviewers (keys/NAME.pub)."""
    write_keys(keys, directory / "keys")
    lines = [
        "version: 1",
        "name: team",
        f"extends: [{extends}]",
        "defaults:",
        "  waivers:",
        "    reviewers:",
    ]
    for r in reviewers:
        lines += [f"      - id: {r}@example.com", f"        keys: [keys/{r}.pub]"]
    if waivers:
        lines += textwrap.indent(textwrap.dedent(waivers).strip(), "    ").splitlines()
    if tiers:
        lines += ["tiers:", *textwrap.indent(textwrap.dedent(tiers).strip(), "  ").splitlines()]
    path = directory / "policy.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def policy_from(directory: Path, keys: Keys, **kw: Any) -> Policy:
    return load_policy(str(write_policy(directory, keys, **kw)))


def code_release(root: Path, manifest: str | None = None, files: dict[str, bytes] | None = None) -> Path:
    if manifest is None:
        return write_release(root, files=files or CODE_RELEASE)
    return write_release(root, manifest, files=files or CODE_RELEASE)


def run(
    release_dir: Path,
    policy: Policy,
    waivers: Path | WaiverSet | None = None,
    now: dt.datetime = T0,
) -> Report:
    ws = load_waiver_applier(waivers) if isinstance(waivers, Path) else waivers
    return engine.run(
        engine.RunRequest(release_dir=release_dir, policy=policy, waivers=ws, clock=lambda: now)
    )


def loaded(release_dir: Path, policy: Policy) -> tuple[Release, Report]:
    """The release object and the report without waivers."""
    result = engine.check_release(engine.RunRequest(release_dir=release_dir, policy=policy, clock=lambda: T0))
    return result.release, result.report


def blocking_ids(report: Report) -> list[str]:
    return [f.id for f in report.findings if f.effective_blocking]


def unsigned_waiver(
    release: Release,
    findings: list[str],
    *,
    created: dt.datetime = T0,
    days: float = 10,
    requester: str = "erin@example.com",
    **kw: Any,
) -> bytes:
    kw.setdefault("reason", "helper.py is reviewed tooling, never loaded by the server")
    kw.setdefault("justification", "vulnerable_code_not_in_execute_path")
    return new_waiver(
        release,
        findings,
        expires=created + dt.timedelta(days=days),
        requester=requester,
        now=created,
        **kw,
    )


def signed(raw: bytes, *signers: Any, now: dt.datetime = T0) -> bytes:
    out = raw
    for key in signers:
        out = sign_waiver(out, key, "w.json", now)
    return out


def put(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    p.write_bytes(data)
    return p


def statement_of(envelope: bytes) -> dict[str, Any]:
    import base64

    payload = json.loads(envelope)["payload"]
    return dict(json.loads(base64.b64decode(payload)))
