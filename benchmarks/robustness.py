"""Benchmark: the classifier-robustness check against the same attack run directly with ART.

Builds the demo classifiers (tests/support/robustness_models.py: an MLP on scikit-learn's digits,
naturally and adversarially trained, written as ONNX), then runs side by side, alternating:

- the gate: `python -m gate check REL --policy P --only model-files,classifier-robustness`
  (whole CLI: manifest, inventory, model-files scan, evaluation set, child process with limits,
  onnxruntime predictions, judging, JSON report), cache off;
- ART directly: `python benchmarks/robustness.py --direct ...`, what a person would write: the
  same trained weights as a torch module, ART's PyTorchClassifier, FGSM and PGD with the same
  budget, steps, restarts and seeds, predictions from the torch model.

Prints robust accuracy from both with the gate's 95% interval (they must agree within it), the
median times and their ratio (goal: gate / direct <= 1.1), and peak memory.

    python benchmarks/robustness.py [--runs 3] [--samples 397] [--steps 20] [--restarts 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EPS = 0.1


def direct(weights: Path, eval_npz: Path, out: Path, steps: int, restarts: int, seed: int) -> None:
    """The attack as a person would run it with ART on their own torch model."""
    import numpy as np
    import torch
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    torch.set_num_threads(1)
    w = np.load(weights)
    d = np.load(eval_npz)
    x, y = d["x"].astype(np.float32), d["y"].astype(np.int64)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    with torch.no_grad():
        for p, k in zip(model.parameters(), ("w1", "b1", "w2", "b2"), strict=True):
            p.copy_(torch.from_numpy(w[k]))
    clf = PyTorchClassifier(
        model=model.eval(),
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(1, 8, 8),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )
    onehot = np.eye(10, dtype=np.float32)[y]
    clean = clf.predict(x).argmax(1)
    robust = clean == y
    for a, attack in enumerate(
        (
            FastGradientMethod(clf, norm=np.inf, eps=EPS, batch_size=256),
            ProjectedGradientDescent(
                clf,
                norm=np.inf,
                eps=EPS,
                eps_step=EPS * 0.25,
                max_iter=steps,
                num_random_init=restarts,
                batch_size=256,
                verbose=False,
            ),
        )
    ):
        np.random.seed(seed * 1000 + a)
        torch.manual_seed(seed * 1000 + a)
        adv = attack.generate(x=x, y=onehot)
        robust &= clf.predict(adv).argmax(1) == y
    out.write_text(json.dumps({"clean": float((clean == y).mean()), "robust": float(robust.mean())}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--direct", nargs=3, metavar=("WEIGHTS", "EVAL", "OUT"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--samples", type=int, default=397)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.direct:
        direct(*map(Path, args.direct), args.steps, args.restarts, args.seed)
        return

    import numpy as np

    from benchmarks.harness import compare, machine
    from tests.support.robustness_models import digits, digits_onnx, mlp_weights, write_release

    _, _, xte, yte = digits()
    x, y = xte[: args.samples], yte[: args.samples]
    work = Path(tempfile.mkdtemp(prefix="bench-robustness-"))
    policy = work / "policy.yaml"
    policy.write_text(
        "version: 1\nname: bench\ndefaults:\n"
        "  required: [release-integrity, model-files, classifier-robustness]\n"
        "  checks:\n    classifier-robustness:\n"
        f"      image_eps: [{EPS}]\n      samples: {args.samples}\n      pgd_steps: {args.steps}\n"
        f"      restarts: {args.restarts}\n      seed: {args.seed}\n      cache: false\n",
        "utf-8",
    )
    np.savez(work / "eval.npz", x=x.reshape(-1, 1, 8, 8), y=y)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODEL_GATE_CACHE_DIR": str(work / "cache")}
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.1f}")
    for name, adversarial in (("natural", False), ("adversarial", True)):
        rel = write_release(work / name, digits_onnx(adversarial), x, y)
        w1, b1, w2, b2 = mlp_weights(adversarial)
        np.savez(work / f"{name}-weights.npz", w1=w1, b1=b1, w2=w2, b2=b2)
        report, direct_out = work / f"{name}-report.json", work / f"{name}-direct.json"
        gate_cmd = [sys.executable, "-m", "gate", "check", str(rel), "--policy", str(policy)]
        gate_cmd += [
            "--only",
            "model-files,classifier-robustness",
            "--format",
            "json",
            "--output",
            str(report),
        ]
        gate_cmd += ["--no-decision-log"]
        direct_cmd = [sys.executable, __file__, "--direct", str(work / f"{name}-weights.npz")]
        direct_cmd += [str(work / "eval.npz"), str(direct_out), "--steps", str(args.steps)]
        direct_cmd += ["--restarts", str(args.restarts), "--seed", str(args.seed)]
        res = compare({"gate": gate_cmd, "direct": direct_cmd}, runs=args.runs, env=env)
        rep = json.loads(report.read_text())
        check = next(c for c in rep["checks"] if c["id"] == "classifier-robustness")
        tm = check["details"]["threat_models"][0]
        d = json.loads(direct_out.read_text())
        low, high = tm["robust_ci95"]
        agree = low <= d["robust"] <= high
        g, r = res["gate"], res["direct"]
        print(
            f"{name}: clean gate {tm['clean_accuracy']:.4f} direct {d['clean']:.4f}; robust linf:{EPS} "
            f"gate {tm['robust_accuracy']:.4f} (95% CI {low:.4f}-{high:.4f}) direct {d['robust']:.4f} "
            f"agree={agree}"
        )
        print(
            f"  time median gate {g.median:.2f} s, direct {r.median:.2f} s, ratio {g.median / r.median:.3f}; "
            f"runs gate {[round(t, 2) for t in g.times]} direct {[round(t, 2) for t in r.times]}"
        )
        print(f"  peak RSS gate {max(g.peak_rss_mb):.0f} MiB, direct {max(r.peak_rss_mb):.0f} MiB")


if __name__ == "__main__":
    main()
