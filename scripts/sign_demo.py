"""Sign the example releases with the DEMO key, the way a release pipeline would.

- examples/demo-release/model/ is signed with model-signing's own API (the
  same code as `model_signing sign key`), the signature written to
  examples/demo-release/model.sig;
- SLSA v1 provenance for the demo is written to
  examples/demo-release/provenance.intoto.json: its subject is the signature's
  root digest, its base model and datasets are those release.yaml declares, and
  it is signed (DSSE) with the same demo key;
- examples/bad-release/model.sig is a signature over OTHER content (the bad
  model as it looked before someone added code and swapped a file for a
  link), so the gate shows what a tampered release looks like.

Re-runnable: the key pair is created only when missing; a signature or
provenance that still matches is kept (so re-running changes nothing), and one
that no longer matches (files were added under model/, release.yaml changed)
is made again. `--force` re-signs everything. Run from the repository root:

    python scripts/sign_demo.py [--force]

The key under examples/keys/ is a DEMO key, public on purpose. Never trust it
outside the examples.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYS = ROOT / "examples" / "keys"
PRIVATE = KEYS / "DEMO-ONLY-signing-key.pem"
PUBLIC = KEYS / "DEMO-ONLY-signing-key.pub"
DEMO = ROOT / "examples" / "demo-release"
BAD = ROOT / "examples" / "bad-release"
SIGNATURE = "model.sig"
PROVENANCE = "provenance.intoto.json"

# What the demo build claims about itself; the demo policy allows exactly this.
DEMO_BUILDER = "https://builders.model-gate.example/demo-trainer@v1"
DEMO_REPOSITORY = "https://git.model-gate.example/demo/tiny-gpt2"
DEMO_REF = "refs/heads/main"
DEMO_COMMIT = "0" * 39 + "1"


def ensure_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if PRIVATE.exists() and PUBLIC.exists():
        return
    KEYS.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    PRIVATE.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    PUBLIC.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    print(f"created the demo key pair in {KEYS.relative_to(ROOT)}")


def verifies(model_dir: Path, signature: Path) -> bool:
    """Whether model-signing itself accepts the signature for these files with the demo key."""
    import model_signing

    if not signature.exists():
        return False
    try:
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=PUBLIC).verify(
            model_dir, signature
        )
    except Exception:  # any failure means: sign again
        return False
    return True


def sign(model_dir: Path, signature: Path, force: bool) -> bool:
    import model_signing

    if not force and verifies(model_dir, signature):
        print(f"kept   {signature.relative_to(ROOT)} (still matches {model_dir.name}/)")
        return False
    model_signing.signing.Config().use_elliptic_key_signer(private_key=PRIVATE).set_hashing_config(
        model_signing.hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=True)
    ).sign(model_dir, signature)
    print(f"signed {signature.relative_to(ROOT)}")
    return True


def signed_root(signature: Path) -> tuple[str, str]:
    """(subject name, root digest) of a signature this script just made or kept."""
    bundle = json.loads(signature.read_text("utf-8"))
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    subject = payload["subject"][0]
    return subject["name"], subject["digest"]["sha256"]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def provenance_statement(release: Path, signature: Path) -> dict[str, Any]:
    from gate.release import load_manifest

    manifest = load_manifest(release).manifest
    name, root = signed_root(signature)
    deps: list[dict[str, Any]] = [
        {"uri": f"git+{DEMO_REPOSITORY}@{DEMO_REF}", "digest": {"gitCommit": DEMO_COMMIT}},
    ]
    if manifest.base_model:
        b = manifest.base_model
        dep: dict[str, Any] = {"uri": b.source, "annotations": {"role": "base-model"}}
        if b.digest:
            alg, _, hexd = b.digest.partition(":")
            dep["digest"] = {alg: hexd}
        if b.revision:
            dep["annotations"]["revision"] = b.revision
        deps.append(dep)
    for d in manifest.datasets:
        if d.role not in ("fine-tuning", "pre-training"):
            continue
        digest: dict[str, str] = {}
        if d.digest:
            alg, _, hexd = d.digest.partition(":")
            digest = {alg: hexd}
        elif d.path and (release / d.path).is_file():
            digest = {"sha256": file_sha256(release / d.path)}
        entry: dict[str, Any] = {"name": d.name, "digest": digest, "annotations": {"role": "dataset"}}
        if d.source:
            entry["uri"] = d.source
        deps.append(entry)
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": root}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://builders.model-gate.example/demo-trainer/v1",
                "externalParameters": {
                    "workflow": {
                        "repository": DEMO_REPOSITORY,
                        "ref": DEMO_REF,
                        "path": "train.yaml",
                    }
                },
                "internalParameters": {},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": DEMO_BUILDER},
                "metadata": {"invocationId": "demo"},
            },
        },
    }


def write_provenance(release: Path, signature: Path, force: bool) -> None:
    from gate.signing.dsse import sign_envelope, verify_envelope
    from gate.signing.keys import load_private_key, load_public_key

    out = release / PROVENANCE
    payload = json.dumps(provenance_statement(release, signature), sort_keys=True).encode()
    if out.exists() and not force:
        try:
            verified = verify_envelope(
                out.read_bytes(), [load_public_key(PUBLIC.read_bytes(), str(PUBLIC))], str(out)
            )
        except Exception:
            verified = None
        if verified is not None and verified.key_ids and verified.payload == payload:
            print(f"kept   {out.relative_to(ROOT)} (still matches)")
            return
    out.write_bytes(sign_envelope(payload, load_private_key(PRIVATE)))
    print(f"wrote  {out.relative_to(ROOT)}")


def declare(release: Path, field: str, value: str) -> None:
    """Add `field: value` to release.yaml unless it is declared already (additive edit)."""
    from gate.release import load_manifest

    if getattr(load_manifest(release).manifest, field) == value:
        return
    manifest = release / "release.yaml"
    text = manifest.read_text("utf-8")
    if any(line.startswith(f"{field}:") for line in text.splitlines()):
        raise SystemExit(f"{manifest}: '{field}:' already names something else; fix it by hand")
    manifest.write_text(text.rstrip("\n") + f"\n\n{field}: {value}\n", "utf-8")
    print(f"declared {field}: {value} in {manifest.relative_to(ROOT)}")


def bad_original(tmp: Path) -> Path:
    """The bad release's model as it was signed: no custom code, no remote-code map, a real vocab."""
    model = tmp / "model"
    model.mkdir()
    (model / "config.json").write_text(
        '{\n  "architectures": ["BertForSequenceClassification"],\n  "model_type": "bert"\n}\n', "utf-8"
    )
    (model / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n", "utf-8")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="re-sign even when the signatures still match")
    args = parser.parse_args()
    ensure_key()

    declare(DEMO, "signature", SIGNATURE)
    declare(DEMO, "provenance", PROVENANCE)
    sign(DEMO / "model", DEMO / SIGNATURE, args.force)
    write_provenance(DEMO, DEMO / SIGNATURE, args.force)

    with tempfile.TemporaryDirectory() as tmp:
        original = bad_original(Path(tmp))
        sig = BAD / SIGNATURE
        if args.force or not verifies(original, sig):
            sign(original, sig, force=True)
        else:
            print(f"kept   {sig.relative_to(ROOT)} (signs the bad model's original files)")


if __name__ == "__main__":
    main()
