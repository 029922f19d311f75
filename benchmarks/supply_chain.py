"""Benchmark: model-signature and provenance on a synthetic multi-GB release, next to the peer tools.

Builds a release of several real safetensors shards (default 4 x 1 GB) in a
temporary directory on disk, signs model/ with model-signing's API (key),
writes SLSA v1 provenance bound to the signature's root digest, then runs,
alternating, several times each:

  A  model_signing verify key model/ --signature model.sig --public_key KEY
  B  model-gate check --only model-signature           (our signature check)
  C  sha256sum model/*                                  (the hash-speed floor, one stream)
  D  model-gate check   (policy requiring model-signature + provenance; every check it runs)
  E  openssl dgst -sha256 model/*                      (one stream, OpenSSL's SHA-256 as Python uses)

and prints medians, the ratios B/A and D/C, and each command's peak RSS
(/usr/bin/time). Peak memory is measured again on a release a quarter the size
to show it does not grow with the model. Everything is deleted afterwards.
With `--before DIR` (a checkout of an earlier commit) it also runs, in the same
alternation, F and G: D and B from that checkout, for before/after figures.

    python benchmarks/supply_chain.py [--shards 4] [--shard-gb 1.0] [--runs 5] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
BLOCK = 16 * 1024 * 1024


def write_safetensors(path: Path, nbytes: int, seed: int) -> None:
    """A valid safetensors file with one F32 tensor of nbytes, streamed (no big array in memory)."""
    n = nbytes // 4
    header = json.dumps({"weight": {"dtype": "F32", "shape": [n], "data_offsets": [0, n * 4]}}).encode()
    header += b" " * (-len(header) % 8)
    block = bytearray(os.urandom(BLOCK))
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        left, i = n * 4, 0
        while left:
            # Vary each block so no two are alike (no dedup or compression anywhere helps).
            block[:16] = (seed * 1_000_003 + i).to_bytes(16, "little")
            take = min(left, BLOCK)
            fh.write(block[:take])
            left -= take
            i += 1


def build(root: Path, shards: int, shard_bytes: int) -> dict[str, Path]:
    import model_signing
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gate.signing.dsse import sign_envelope
    from gate.signing.keys import load_private_key

    model = root / "release" / "model"
    model.mkdir(parents=True)
    for i in range(shards):
        write_safetensors(model / f"model-{i + 1:05d}-of-{shards:05d}.safetensors", shard_bytes, i)
    (model / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 4096}))
    (model / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"type": "BPE"}}))
    rel = model.parent
    (rel / "release.yaml").write_text(
        "schema_version: 1\nname: bench\nversion: 1.0.0\nmodel:\n  path: model/\n  format: safetensors\n"
        "  task: text-generation\ndeployment:\n  exposure: internal\n  data_sensitivity: none\n"
        "  autonomy: advisory\nsignature: model.sig\nprovenance: provenance.json\n"
    )
    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = root / "key.pem", root / "key.pub"
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    model_signing.signing.Config().use_elliptic_key_signer(private_key=priv).sign(model, rel / "model.sig")
    import base64

    payload = json.loads(
        base64.b64decode(json.loads((rel / "model.sig").read_text())["dsseEnvelope"]["payload"])
    )
    root_digest = payload["subject"][0]["digest"]["sha256"]
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "model", "digest": {"sha256": root_digest}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://example.com/bench/v1",
                "externalParameters": {
                    "workflow": {"repository": "https://github.com/acme/models", "ref": "refs/heads/main"}
                },
                "resolvedDependencies": [],
            },
            "runDetails": {"builder": {"id": "https://builders.example.com/trainer@v1"}},
        },
    }
    (rel / "provenance.json").write_bytes(
        sign_envelope(json.dumps(statement).encode(), load_private_key(priv))
    )
    policy = root / "policy.yaml"
    policy.write_text(
        "version: 1\nname: bench\nextends: [default]\ndefaults:\n  required: [model-signature, provenance]\n"
        "  checks:\n    model-signature:\n      trusted_keys: [key.pub]\n    provenance:\n"
        "      trusted_keys: [key.pub]\n"
        "      allowed_builders: [{id: 'https://builders.example.com/*', level: 2}]\n"
        "      allowed_sources: [{repository: 'https://github.com/acme/models', refs: [refs/heads/main]}]\n"
    )
    # The signature check alone: a policy of its own that requires only it.
    sig_only = root / "sig-only.yaml"
    sig_only.write_text(
        "version: 1\nname: sig-only\ndefaults:\n  required: [model-signature]\n"
        "  checks:\n    model-signature:\n      trusted_keys: [key.pub]\n"
    )
    return {"release": rel, "model": model, "pub": pub, "policy": policy, "sig_only": sig_only}


def commands(p: dict[str, Path], before: Path | None = None) -> dict[str, list[str]]:
    shards = sorted(str(x) for x in p["model"].iterdir())
    gate = [PY, "-m", "gate", "check", str(p["release"]), "--policy", str(p["policy"]), "--offline"]
    sig = [PY, "-m", "gate", "check", str(p["release"]), "--policy", str(p["sig_only"]), "--offline",
           "--only", "model-signature"]  # fmt: skip
    old = {} if before is None else {
        "F gate check, before": ["env", f"PYTHONPATH={before}", *gate],
        "G gate --only model-signature, before": ["env", f"PYTHONPATH={before}", *sig],
    }  # fmt: skip
    return old | {
        "A model_signing verify": [
            PY, "-m", "model_signing", "verify", "key", str(p["model"]),
            "--signature", str(p["release"] / "model.sig"), "--public_key", str(p["pub"]),
        ],
        "B gate --only model-signature": sig,
        "C sha256sum": ["sha256sum", *shards],
        # Not in the goal; shown because coreutils' sha256sum may not use the CPU's SHA extensions.
        "E openssl dgst -sha256": ["openssl", "dgst", "-sha256", *shards],
        "D gate check (signature+provenance)": gate,
    }  # fmt: skip


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user+sys) and peak RSS (KiB) of one run; a failure aborts."""
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S %M", *cmd], check=False, capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    user, system, rss = proc.stderr.strip().splitlines()[-1].split()
    return wall, float(user) + float(system), int(rss)


def bench(
    p: dict[str, Path], runs: int, env: dict[str, str], only: str = "ABCDE", before: Path | None = None
) -> dict[str, dict[str, float]]:
    cmds = {k: v for k, v in commands(p, before).items() if k[0] in only or k[0] in "FG"}
    walls: dict[str, list[float]] = {k: [] for k in cmds}
    cpus: dict[str, list[float]] = {k: [] for k in cmds}
    rss: dict[str, int] = dict.fromkeys(cmds, 0)
    subprocess.run(
        ["cat", *(str(x) for x in p["model"].iterdir())], stdout=subprocess.DEVNULL, check=True
    )  # warm
    for r in range(runs):
        order = list(cmds) if r % 2 == 0 else list(reversed(cmds))
        for name in order:
            wall, cpu, peak = timed(cmds[name], env)
            walls[name].append(wall)
            cpus[name].append(cpu)
            rss[name] = max(rss[name], peak)
    return {
        k: {
            "median": statistics.median(v),
            "min": min(v),
            "max": max(v),
            "cpu": statistics.median(cpus[k]),
            "rss_mib": rss[k] / 1024,
        }
        for k, v in walls.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--shard-gb", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="where to write the release (default: a temp dir)")
    ap.add_argument("--only", default="ABCDE", help="letters of the commands to run, e.g. AB (default: all)")
    ap.add_argument("--before", type=Path, default=None, help="an earlier checkout to run beside this one")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    shard_bytes = int(args.shard_gb * 1e9)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        t0 = time.perf_counter()
        big = build(Path(tmp) / "big", args.shards, shard_bytes)
        total = sum(f.stat().st_size for f in big["model"].iterdir())
        print(f"built {total / 1e9:.2f} GB in {args.shards} shards ({time.perf_counter() - t0:.0f} s)")
        res = bench(big, args.runs, env, args.only, args.before)
        shutil.rmtree(Path(tmp) / "big")
        small = build(Path(tmp) / "small", args.shards, shard_bytes // 4)
        small_res = bench(small, 1, env, args.only, args.before)
    head = f"{'command':40} {'median s':>9} {'min':>7} {'max':>7} {'CPU s':>7}"
    head += f" {'peak RSS MiB':>13} {'at 1/4':>7}"
    print("\n" + head)
    for k, v in res.items():
        quarter = small_res[k]["rss_mib"]
        print(
            f"{k:40} {v['median']:9.2f} {v['min']:7.2f} {v['max']:7.2f} {v['cpu']:7.2f} "
            f"{v['rss_mib']:13.0f} {quarter:7.0f}"
        )

    def ratio(x: str, y: str, label: str, key: str = "median") -> None:
        names = {k[0]: k for k in res}
        if x in names and y in names:
            print(f"{label}: {res[names[x]][key] / res[names[y]][key]:.2f}x")

    print()
    ratio("B", "A", "B / A wall (signature check vs model_signing verify; goal <= 1.0)")
    ratio("B", "A", "B / A CPU seconds (less sensitive to other load than wall time)", "cpu")
    ratio("D", "C", "D / C wall (whole check vs sha256sum; goal <= 1.3)")
    ratio("D", "E", "D / E wall (whole check vs openssl dgst; not a goal)")
    ratio("F", "C", "F / C wall (whole check before vs sha256sum)")
    ratio("D", "F", "D / F wall (whole check, this checkout vs before)")
    ratio("G", "A", "G / A wall (signature check before vs model_signing verify)")
    whole = res.get("D gate check (signature+provenance)")
    if whole:
        print(f"throughput of the whole check: {total / whole['median'] / 1e9:.2f} GB/s")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
