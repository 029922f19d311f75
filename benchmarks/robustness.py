"""Benchmark: the classifier-robustness check against the same attack run directly with ART.

Builds the demo classifiers (tests/support/robustness_models.py: an MLP on scikit-learn's digits,
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


def direct(source: Path, eval_csv: Path, out: Path, eps: float, steps: int, restarts: int, seed: int) -> None:
    """The attack as a person would run it with ART on their own torch model.

    `source`: the release's ONNX file (its weights read with the onnx package, as anyone holding
    only the release must), or an .npz of the same weights handed over directly (a lower bound:
    no ONNX reading at all). The evaluation set is the release's CSV file."""
    import numpy as np
    import torch
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    torch.set_num_threads(1)
    if source.suffix == ".npz":
        w: Any = np.load(source)
    else:
        import onnx
        from onnx import numpy_helper

        w = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(source)).graph.initializer}
    table = np.loadtxt(eval_csv, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    x, y = table[:, :-1].reshape(-1, 1, 8, 8), table[:, -1].astype(np.int64)
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
    # Only what differs from the settings' defaults: a previous release (--other) reads it too.
    return {**cfg.model_dump(mode="json", exclude_defaults=True), "cache": False}


def cpu_of(res: Any) -> float:
    return statistics.median(res.cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--direct", nargs=3, metavar=("MODEL", "EVAL_CSV", "OUT"))
    ap.add_argument("--tier", default="critical")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--other", type=Path, help="A checkout of a previous release, run as a third column.")
    args = ap.parse_args()
    if args.direct:
        direct(*map(Path, args.direct), args.eps, args.steps, args.restarts, args.seed)
        return

    import numpy as np

    from benchmarks.harness import compare, machine
    from gate.checks.classifier_robustness import ClassifierRobustnessConfig
    from tests.support.robustness_models import digits, digits_onnx, mlp_weights, write_release

    policy_settings = tier_settings(args.tier)
    settings = ClassifierRobustnessConfig.model_validate(policy_settings).model_dump(mode="json")
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
                    "checks": {"classifier-robustness": policy_settings},
                },
            }
        ),
        "utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": str(ROOT), "MODEL_GATE_CACHE_DIR": str(work / "cache")}
    for tree in (ROOT, *([args.other] if args.other else [])):
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "gate")], check=True, env=env)
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
        report = work / f"{name}-report.json"
        gate_cmd = [sys.executable, "-m", "gate", "check", str(rel), "--policy", str(policy)]
        gate_cmd += ["--only", "model-files,classifier-robustness", "--format", "json"]
        gate_cmd += ["--output", str(report), "--no-decision-log"]
        settings_args = ["--eps", str(eps), "--steps", str(settings["pgd_steps"])]
        settings_args += ["--restarts", str(settings["restarts"]), "--seed", str(settings["seed"])]
        commands: dict[str, list[str]] = {"gate": gate_cmd}
        if args.other:
            # -P: not the current directory first on sys.path, only the other checkout.
            previous = [sys.executable, "-P", *gate_cmd[1:-2], str(work / f"{name}-previous.json")]
            commands["previous"] = ["env", f"PYTHONPATH={args.other}", *previous, "--no-decision-log"]
        for variant, source in (
            ("direct", rel / "model" / "classifier.onnx"),
            ("direct-npz", work / f"{name}-weights.npz"),
        ):
            out = work / f"{name}-{variant}.json"
            commands[variant] = [sys.executable, __file__, "--direct", str(source)]
            commands[variant] += [str(rel / "data" / "eval.csv"), str(out), *settings_args]
        load_before = os.getloadavg()[0]
        res = compare(commands, runs=args.runs, env=env)
        load_after = os.getloadavg()[0]
        rep = json.loads(report.read_text())
        check = next(c for c in rep["checks"] if c["id"] == "classifier-robustness")
        tm = check["details"]["threat_models"][0]
        low, high = tm["robust_ci95"]
        g = res["gate"]
        print(
            f"{name}: gate clean {tm['clean_accuracy']:.4f}, robust linf:{eps:g} {tm['robust_accuracy']:.4f} "
            f"(95% CI {low:.4f}-{high:.4f}); load {load_before:.1f} -> {load_after:.1f}"
        )
        print(
            f"  gate: wall median {g.median:.2f} s, CPU median {cpu_of(g):.2f} s, "
            f"runs {[round(t, 2) for t in g.times]}, peak RSS {max(g.peak_rss_mb):.0f} MiB"
        )
        if args.other:
            o = res["previous"]
            print(
                f"  previous release: wall median {o.median:.2f} s, CPU median {cpu_of(o):.2f} s, "
                f"runs {[round(t, 2) for t in o.times]}"
            )
        for variant in ("direct", "direct-npz"):
            d = json.loads((work / f"{name}-{variant}.json").read_text())
            r = res[variant]
            agree = low <= d["robust"] <= high
            print(
                f"  {variant}: clean {d['clean']:.4f}, robust {d['robust']:.4f}, agree={agree}; wall median "
                f"{r.median:.2f} s (gate/{variant} {g.median / r.median:.3f}), CPU median {cpu_of(r):.2f} s "
                f"(gate/{variant} {cpu_of(g) / cpu_of(r):.3f}), runs {[round(t, 2) for t in r.times]}, "
                f"peak RSS {max(r.peak_rss_mb):.0f} MiB"
            )


if __name__ == "__main__":
    main()
