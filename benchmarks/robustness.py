"""Benchmark: the classifier-robustness check against the same attack run directly with ART.

Builds the demo classifiers (tests/robustness_models.py: an MLP on scikit-learn's digits,
naturally and adversarially trained, written as ONNX), then runs side by side, alternating, with
the attack budget of one tier of the packaged policy (default: critical, the largest: examples,
PGD steps, restarts, budget and seed exactly as that tier sets them; the examples are capped by
the 397 of digits' held-out split):

- the gate: `python -m gate check REL --policy P --only model-files,classifier-robustness`
  (whole CLI: policy, manifest, inventory, model-files scan, evaluation set, child process with
  limits, onnxruntime predictions, judging, JSON report), with P the tier's classifier-robustness
  settings and the cache off;
- ART directly: `python benchmarks/robustness.py --direct ...`, what a person would write: the
  same trained weights as a torch module, ART's PyTorchClassifier, FGSM and PGD with the same
  budget, steps, restarts and seeds, predictions from the torch model.

Both are fresh interpreters that import what they use (torch and ART on both sides) and read
their inputs from files. The gate's own modules are byte-compiled first, as an installed package
is. Prints robust accuracy from both with the gate's 95% interval (they must agree within it),
the median wall and CPU times and their ratios (goal: gate / direct <= 1.1), peak memory, and
the load average before and after.

    python benchmarks/robustness.py [--tier critical] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def direct(
    weights: Path, eval_npz: Path, out: Path, eps: float, steps: int, restarts: int, seed: int
) -> None:
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
            FastGradientMethod(clf, norm=np.inf, eps=eps, batch_size=256),
            ProjectedGradientDescent(
                clf,
                norm=np.inf,
                eps=eps,
                eps_step=eps * 0.25,
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


def tier_settings(tier: str) -> dict[str, Any]:
    """The packaged policy's classifier-robustness settings at this tier, cache off."""
    from gate.models.tier import Tier
    from gate.policy import config_for, load_policy

    cfg = config_for(load_policy("default").for_tier(Tier(tier)), "classifier-robustness")
    return {**cfg.model_dump(mode="json"), "cache": False}


def cpu_of(res: Any) -> float:
    return statistics.median(res.cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--direct", nargs=3, metavar=("WEIGHTS", "EVAL", "OUT"))
    ap.add_argument("--tier", default="critical")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.direct:
        direct(*map(Path, args.direct), args.eps, args.steps, args.restarts, args.seed)
        return

    import numpy as np

    from benchmarks.harness import compare, machine
    from tests.robustness_models import digits, digits_onnx, mlp_weights, write_release

    settings = tier_settings(args.tier)
    eps = settings["image_eps"][0]
    _, _, xte, yte = digits()
    samples = min(settings["samples"], len(xte))
    x, y = xte[:samples], yte[:samples]
    work = Path(tempfile.mkdtemp(prefix="bench-robustness-"))
    policy = work / "policy.yaml"
    policy.write_text(
        json.dumps(
            {
                "version": 1,
                "name": f"bench-{args.tier}",
                "defaults": {
                    "required": ["release-integrity", "model-files", "classifier-robustness"],
                    "checks": {"classifier-robustness": settings},
                },
            }
        ),
        "utf-8",
    )
    np.savez(work / "eval.npz", x=x.reshape(-1, 1, 8, 8), y=y)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": str(ROOT), "MODEL_GATE_CACHE_DIR": str(work / "cache")}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "gate")], check=True, env=env)
    budget = (
        f"tier {args.tier}: {samples} examples (tier: {settings['samples']}), linf eps {eps}, "
        f"{'+'.join(settings['attacks'])}, PGD {settings['pgd_steps']} steps x "
        f"{settings['restarts']} restart(s), seed {settings['seed']}"
    )
    print(f"machine: {machine()}; {budget}")
    for name, adversarial in (("natural", False), ("adversarial", True)):
        rel = write_release(work / name, digits_onnx(adversarial), x, y)
        w1, b1, w2, b2 = mlp_weights(adversarial)
        np.savez(work / f"{name}-weights.npz", w1=w1, b1=b1, w2=w2, b2=b2)
        report, direct_out = work / f"{name}-report.json", work / f"{name}-direct.json"
        gate_cmd = [sys.executable, "-m", "gate", "check", str(rel), "--policy", str(policy)]
        gate_cmd += ["--only", "model-files,classifier-robustness", "--format", "json"]
        gate_cmd += ["--output", str(report), "--no-decision-log"]
        direct_cmd = [sys.executable, __file__, "--direct", str(work / f"{name}-weights.npz")]
        direct_cmd += [str(work / "eval.npz"), str(direct_out), "--eps", str(eps)]
        direct_cmd += ["--steps", str(settings["pgd_steps"]), "--restarts", str(settings["restarts"])]
        direct_cmd += ["--seed", str(settings["seed"])]
        load_before = os.getloadavg()[0]
        res = compare({"gate": gate_cmd, "direct": direct_cmd}, runs=args.runs, env=env)
        load_after = os.getloadavg()[0]
        rep = json.loads(report.read_text())
        check = next(c for c in rep["checks"] if c["id"] == "classifier-robustness")
        tm = check["details"]["threat_models"][0]
        d = json.loads(direct_out.read_text())
        low, high = tm["robust_ci95"]
        agree = low <= d["robust"] <= high
        g, r = res["gate"], res["direct"]
        print(
            f"{name}: clean gate {tm['clean_accuracy']:.4f} direct {d['clean']:.4f}; robust linf:{eps:g} "
            f"gate {tm['robust_accuracy']:.4f} (95% CI {low:.4f}-{high:.4f}) direct {d['robust']:.4f} "
            f"agree={agree}"
        )
        gc, rc = cpu_of(g), cpu_of(r)
        print(
            f"  wall median gate {g.median:.2f} s, direct {r.median:.2f} s, ratio {g.median / r.median:.3f}; "
            f"CPU median gate {gc:.2f} s, direct {rc:.2f} s, ratio {gc / rc:.3f}; "
            f"load {load_before:.1f} -> {load_after:.1f}"
        )
        print(f"  runs gate {[round(t, 2) for t in g.times]} direct {[round(t, 2) for t in r.times]}")
        print(f"  peak RSS gate {max(g.peak_rss_mb):.0f} MiB, direct {max(r.peak_rss_mb):.0f} MiB")


if __name__ == "__main__":
    main()
