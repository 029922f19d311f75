"""classifier-robustness: real ONNX classifiers trained here, attacked through ART in the sandbox.

The naturally trained digits model fails the policy and the adversarially trained one passes;
the boundary holds (nothing runs before model-files passes, other formats are not run, limits
stop a model); bad input ends the run with exit 2 naming file and field; runs are reproducible
and cached.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("art")
pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from gate.checks.interface import RedteamOptions, RunOptions
from gate.engine import RunRequest, run
from gate.errors import InputError
from gate.models.report import CheckStatus, Verdict
from tests.support import run_cli
from tests.support.robustness_models import (
    digits,
    digits_onnx,
    sha256,
    tabular_onnx,
    write_release,
)

CHECK = "classifier-robustness"
N = 60  # examples attacked: enough to tell the two models apart, small enough to stay fast

POLICY = """version: 1
name: robustness-test
extends: [default]
defaults:
  required: [classifier-robustness]
  checks:
    classifier-robustness:
      min_robust_accuracy: {"linf:0.1": 0.6, "feature:0.05": 0.4}
      max_accuracy_drop: 0.35
      min_samples: 50
      pgd_steps: 10
      square_queries: 200
{extra}"""


def policy(tmp: Path, extra: str = "", *, optional: bool = False, samples: int = N) -> Path:
    """A policy that requires (or runs optionally) the check with small, fast settings.

    It does not extend the packaged default: `samples` composes by "higher wins" and the
    default attacks 200 examples."""
    lists = (
        "  required: [release-integrity, model-files]\n  optional: [classifier-robustness]"
        if optional
        else "  required: [release-integrity, model-files, classifier-robustness]"
    )
    text = POLICY.replace("{extra}", extra).replace("extends: [default]\n", "")
    text = text.replace("  required: [classifier-robustness]", lists)
    text += f"      samples: {samples}\n"
    p = tmp / f"policy-{'optional' if optional else 'required'}-{abs(hash(extra))}.yaml"
    p.write_text(text, "utf-8")
    return p


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_GATE_CACHE_DIR", str(tmp_path / "cache"))


def eval_split() -> tuple[Any, Any]:
    _, _, xte, yte = digits()
    return xte[:N], yte[:N]


def check_run(rel: Path, pol: Path, **redteam: Any) -> Any:
    options = RunOptions(redteam=RedteamOptions(**redteam))
    report = run(RunRequest(release_dir=rel, policy=str(pol), options=options))
    result = next(c for c in report.checks if c.id == CHECK)
    return report, result


def rules_of(report: Any) -> set[str]:
    return {f.rule.code for f in report.findings if f.check == CHECK}


# --- the point of it ----------------------------------------------------------------------------


def test_natural_model_fails_the_policy_and_the_adversarially_trained_one_passes(tmp_path: Path) -> None:
    x, y = eval_split()
    pol = policy(tmp_path)
    natural = write_release(tmp_path / "natural", digits_onnx(adversarial=False), x, y)
    robust = write_release(tmp_path / "robust", digits_onnx(adversarial=True), x, y)

    report, result = check_run(natural, pol)
    assert result.status is CheckStatus.FAILED
    assert "GATE-CR001" in rules_of(report)
    tm = result.details["threat_models"][0]
    assert tm["threat_model"] == "linf:0.1" and tm["samples"] == N
    assert set(tm["attacks"]) == {"fgsm", "pgd"} and result.details["gradients"] is True
    assert tm["robust_accuracy"] < 0.6 <= tm["clean_accuracy"]
    low, high = tm["robust_ci95"]
    assert low <= tm["robust_accuracy"] <= high and high - low < 0.35
    asr_low, asr_high = tm["asr_ci95"]
    assert asr_low <= tm["attack_success_rate"] <= asr_high
    # Reproduction: the flipped examples with their labels and perturbation norms (≤ the budget).
    flipped = tm["flipped_examples"]
    assert flipped and all(e["label"] != e["adversarial_label"] for e in flipped)
    assert all(e["linf"] <= 0.1 + 1e-5 for e in flipped)
    assert all(str(y[e["index"]]) == e["label"] for e in flipped)
    finding = next(f for f in report.findings if f.rule.code == "GATE-CR001")
    assert set(finding.technique) == {"AML.T0015", "AML.T0043"}
    assert finding.reproduction and f"#{flipped[0]['index']}:" in finding.reproduction

    report, result = check_run(robust, pol)
    assert result.status is CheckStatus.PASSED, result.summary
    assert rules_of(report) == set()
    assert result.details["threat_models"][0]["robust_accuracy"] >= 0.6


def test_same_seed_same_result_and_the_second_run_comes_from_the_cache(tmp_path: Path) -> None:
    x, y = eval_split()
    pol = policy(tmp_path)
    rel = write_release(tmp_path / "r", digits_onnx(adversarial=False), x, y)
    _, first = check_run(rel, pol)  # computed, and stored in the cache
    _, second = check_run(rel, pol, no_cache=True)  # computed again with the same seed
    _, third = check_run(rel, pol)  # served from the cache

    def measured(d: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                **tm,
                "attacks": {
                    a: {k: v for k, v in r.items() if k != "seconds"} for a, r in tm["attacks"].items()
                },
            }
            for tm in d["threat_models"]
        ]

    assert first.details["cached"] is False and second.details["cached"] is False
    assert measured(first.details) == measured(second.details)
    assert third.details["cached"] is True and "from cache" in third.summary
    assert measured(third.details) == measured(first.details)


def test_tabular_model_from_skl2onnx_is_attacked_black_box_with_its_query_budget(tmp_path: Path) -> None:
    data, x, y, ranges = tabular_onnx()
    rel = write_release(
        tmp_path / "tab",
        data,
        x[:N],
        y[:N],
        task="tabular-classification",
        input_shape=[8],
        labels=["even", "odd"],
        feature_ranges=ranges,
    )
    report, result = check_run(rel, policy(tmp_path))
    assert result.details["gradients"] is False
    assert "ai.onnx.ml" in (result.details["gradients_unavailable"] or "") or "operators" in (
        result.details["gradients_unavailable"] or ""
    )
    tm = result.details["threat_models"][0]
    assert tm["threat_model"] == "feature:0.05"
    assert tm["attacks"]["square"]["queries_per_example"] == 200
    assert "GATE-CR005" in rules_of(report)
    assert all(e["linf"] <= 0.05 + 1e-5 for e in tm["flipped_examples"])


# --- the execution boundary ---------------------------------------------------------------------


# GLOBAL posix.system, the argument, REDUCE: what a poisoned checkpoint does (written, never loaded).
EVIL_PICKLE = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."


def _never_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def refuse(*args: Any, **kw: Any) -> Any:
        calls.append("run")
        raise AssertionError("the classifier must not run")

    monkeypatch.setattr("gate.robustness.sandbox.run_child", refuse)
    return calls


def test_a_malicious_pickle_beside_the_classifier_means_the_classifier_never_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = eval_split()
    pol = policy(tmp_path)
    evil = write_release(
        tmp_path / "evil", digits_onnx(True), x, y, extra_files={"model/extra.pkl": EVIL_PICKLE}
    )
    calls = _never_run(monkeypatch)
    report, result = check_run(evil, pol)
    assert calls == []
    assert result.status is CheckStatus.ERROR  # required here: not judged is not passed
    assert "model-files did not pass" in result.summary
    assert report.verdict is Verdict.ERROR
    # Optional: skipped with the same reason, and the model-files finding blocks.
    optional = policy(tmp_path / "opt") if (tmp_path / "opt").mkdir() is None else tmp_path
    optional.write_text(
        optional.read_text().replace(", classifier-robustness]", "]\n  optional: [classifier-robustness]")
    )
    report, result = check_run(evil, optional)
    assert calls == [] and result.status is CheckStatus.SKIPPED
    assert "model-files did not pass" in result.summary and report.verdict is Verdict.FAIL


def test_the_benign_twin_without_the_pickle_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = eval_split()
    benign = write_release(
        tmp_path / "benign", digits_onnx(True), x, y, extra_files={"model/notes.txt": b"hi\n"}
    )
    calls = _never_run(monkeypatch)
    check_run(benign, policy(tmp_path))
    assert calls == ["run"]  # it reached the child: the boundary opened for a release that passed


def test_without_model_files_in_the_run_the_classifier_is_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = eval_split()
    rel = write_release(tmp_path / "r", digits_onnx(True), x, y)
    calls = _never_run(monkeypatch)
    report = run(RunRequest(release_dir=rel, policy=str(policy(tmp_path)), only=("classifier-robustness",)))
    result = next(c for c in report.checks if c.id == CHECK)
    assert calls == [] and result.status is CheckStatus.ERROR
    assert "model-files did not pass" in result.summary


def test_a_custom_operator_domain_is_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx

    x, y = eval_split()
    model = onnx.load_model_from_string(digits_onnx(True))
    model.graph.node[2].domain = "com.example.ops"  # the Relu, now an operator from a library
    model.opset_import.append(onnx.helper.make_opsetid("com.example.ops", 1))
    rel = write_release(tmp_path / "r", model.SerializeToString(), x, y)
    pol = policy(tmp_path)
    pol.write_text(
        pol.read_text().replace(", classifier-robustness]", "]\n  optional: [classifier-robustness]")
    )
    calls = _never_run(monkeypatch)
    _, result = check_run(rel, pol)
    assert calls == [] and result.status is CheckStatus.SKIPPED
    assert "model/classifier.onnx" in result.summary


def test_a_classifier_in_another_format_is_skipped_or_an_error_when_required(tmp_path: Path) -> None:
    x, y = eval_split()
    rel = write_release(tmp_path / "r", digits_onnx(True), x, y)
    text = (rel / "release.yaml").read_text()
    (rel / "model" / "classifier.onnx").rename(rel / "model" / "weights.safetensors")
    (rel / "model" / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (rel / "release.yaml").write_text(
        text.replace("format: onnx", "format: safetensors").replace("    file: model/classifier.onnx\n", "")
    )
    report, result = check_run(rel, policy(tmp_path))
    assert result.status is CheckStatus.ERROR and "only ONNX classifiers are run" in result.summary
    assert report.verdict is Verdict.ERROR
    pol = policy(tmp_path)
    pol.write_text(
        pol.read_text().replace(", classifier-robustness]", "]\n  optional: [classifier-robustness]")
    )
    _, result = check_run(rel, pol)
    assert result.status is CheckStatus.SKIPPED and "only ONNX classifiers are run" in result.summary


def _blowup_model(kind: str) -> bytes:
    """The digits model plus a branch that exhausts memory or time; its result is multiplied by 0
    and added to the scores, so onnxruntime must compute it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_model_from_string(digits_onnx(False, softmax=False))
    g = model.graph
    nodes = list(g.node)
    inits = [numpy_helper.from_array(np.zeros((1,), np.float32), "zero")]
    if kind == "memory":  # 64 values per example tiled to 11.5 M: 2.7 GB for a batch of 60
        inits.append(numpy_helper.from_array(np.array([1, 180_000], np.int64), "reps"))
        nodes += [
            helper.make_node("Tile", ["flat", "reps"], ["big"]),
            helper.make_node("ReduceSum", ["big"], ["side"], keepdims=1),
        ]
    else:  # 400 products of 2048 x 2048 matrices per batch: minutes of CPU
        inits.append(numpy_helper.from_array(np.array([64, 2048], np.int64), "shape"))
        inits.append(numpy_helper.from_array(np.array([1, 32], np.int64), "reps"))
        inits.append(numpy_helper.from_array(np.full((2048, 2048), 1e-4, np.float32), "w"))
        nodes.append(helper.make_node("Tile", ["flat", "reps"], ["t0"]))
        for i in range(400):
            nodes.append(helper.make_node("MatMul", [f"t{i}", "w"], [f"t{i + 1}"]))
        nodes.append(helper.make_node("ReduceSum", ["t400"], ["side"], keepdims=1))
    nodes += [
        helper.make_node("Mul", ["side", "zero"], ["nothing"]),
        helper.make_node("Add", ["logits", "nothing"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes,
        "blowup",
        list(g.input),
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 10])],
        [*g.initializer, *inits],
    )
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    out.ir_version = 8
    return bytes(out.SerializeToString())


@pytest.mark.parametrize(
    ("kind", "settings", "reason"),
    [
        ("memory", "      memory_mb: 2500\n", "memory limit"),
        ("time", "      timeout_s: 4\n", "stopped after 4 s"),
    ],
)
def test_a_model_over_the_memory_or_time_limit_is_stopped_and_reported_as_an_error(
    tmp_path: Path, kind: str, settings: str, reason: str
) -> None:
    x, y = eval_split()
    rel = write_release(tmp_path / "r", _blowup_model(kind), x, y)
    report, result = check_run(rel, policy(tmp_path, extra=settings))
    assert result.status is CheckStatus.ERROR, result.summary
    assert reason in result.summary
    assert report.verdict is Verdict.ERROR


def test_the_child_refuses_sockets_and_new_processes() -> None:
    code = (
        "import socket, subprocess, sys\n"
        "from gate.robustness.child import deny, NET_EVENTS, PROC_EVENTS\n"
        "deny(NET_EVENTS); deny(PROC_EVENTS)\n"
        "out = []\n"
        "for f in (lambda: socket.socket(), lambda: socket.create_connection(('127.0.0.1', 9)),\n"
        "          lambda: subprocess.run(['true'])):\n"
        "    try: f(); out.append('allowed')\n"
        "    except PermissionError: out.append('refused')\n"
        "print(','.join(out))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert r.stdout.strip() == "refused,refused,refused", r.stderr
    # The benign twin: the same process without the hooks may open a socket.
    with socket.socket() as s:
        assert s.fileno() >= 0


def test_staged_bytes_must_be_the_bytes_hashed(tmp_path: Path) -> None:
    from gate.robustness.sandbox import Changed, copy_verified

    src = tmp_path / "m.onnx"
    src.write_bytes(b"judged bytes")
    copy_verified(src, tmp_path / "ok.onnx", sha256(b"judged bytes").split(":")[1])
    assert (tmp_path / "ok.onnx").read_bytes() == b"judged bytes"
    src.write_bytes(b"swapped bytes")
    with pytest.raises(Changed):
        copy_verified(src, tmp_path / "bad.onnx", sha256(b"judged bytes").split(":")[1])


# --- bad input: exit 2, naming file and field -----------------------------------------------------


def test_an_evaluation_set_that_does_not_match_the_input_shape_exits_2(tmp_path: Path) -> None:
    x, y = eval_split()
    rel = write_release(tmp_path / "r", digits_onnx(True), x[:, :63], y, input_shape=[1, 8, 8])
    with pytest.raises(InputError, match=r"data/eval.csv: 63 feature columns.*input_shape"):
        check_run(rel, policy(tmp_path))
    r = run_cli("check", str(rel), "--policy", str(policy(tmp_path)))
    assert r.exit_code == 2 and "data/eval.csv" in r.output and "input_shape" in r.output
    assert "Traceback" not in r.output


def test_a_declared_shape_the_model_does_not_have_exits_2(tmp_path: Path) -> None:
    _, _, xte, yte = digits()
    x = np.concatenate([xte[:N], np.zeros((N, 8), np.float32)], axis=1)  # 72 values: [1, 8, 9]
    rel = write_release(tmp_path / "r", digits_onnx(True), x, yte[:N], input_shape=[1, 8, 9])
    with pytest.raises(InputError, match=r"release.yaml: model.classifier.input_shape: \[1, 8, 9\]"):
        check_run(rel, policy(tmp_path))


def test_labels_that_do_not_match_the_scores_exit_2(tmp_path: Path) -> None:
    x, y = eval_split()
    keep = y < 9
    rel = write_release(
        tmp_path / "r", digits_onnx(True), x[keep], y[keep], labels=[str(i) for i in range(9)]
    )
    with pytest.raises(InputError, match=r"model.classifier.labels: 9 labels"):
        check_run(rel, policy(tmp_path))


def test_a_wrong_evaluation_set_digest_exits_2(tmp_path: Path) -> None:
    x, y = eval_split()
    rel = write_release(tmp_path / "r", digits_onnx(True), x, y, digest=sha256(b"other bytes"))
    with pytest.raises(
        InputError, match=r"release.yaml:\d+: datasets\[0\].digest: data/eval.csv has sha256:"
    ):
        check_run(rel, policy(tmp_path))
    r = run_cli("check", str(rel), "--policy", str(policy(tmp_path)))
    assert r.exit_code == 2 and "datasets[0].digest" in r.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("task: image-classification", "task: text-generation"), "classifier section needs task"),
        (("input_shape: [1, 8, 8]", "input_shape: []"), "input_shape"),
        (("labels: [", "labels: ['0', "), "labels must be unique"),
    ],
)
def test_a_malformed_classifier_section_exits_2(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    x, y = eval_split()
    rel = write_release(tmp_path / "r", digits_onnx(True), x, y)
    p = rel / "release.yaml"
    p.write_text(p.read_text().replace(*change, 1))
    r = run_cli("check", str(rel), "--policy", str(policy(tmp_path)))
    assert r.exit_code == 2 and "release.yaml" in r.output and message in r.output, r.output


def test_too_few_examples_cannot_pass(tmp_path: Path) -> None:
    x, y = eval_split()
    rel = write_release(tmp_path / "r", digits_onnx(True), x[:10], y[:10])
    report, result = check_run(rel, policy(tmp_path))
    assert "GATE-CR003" in rules_of(report) and result.status is CheckStatus.FAILED
    assert result.details["samples"] == 10


# --- the torch translation agrees with onnxruntime ---------------------------------------------


def test_the_gradient_translation_of_a_small_cnn_matches_onnxruntime() -> None:
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper

    from gate.robustness.torch_graph import build_module

    rng = np.random.default_rng(1)
    inits = {
        "cw": rng.normal(size=(4, 1, 3, 3)).astype(np.float32),
        "cb": rng.normal(size=(4,)).astype(np.float32),
        "scale": rng.uniform(0.5, 1.5, size=(4,)).astype(np.float32),
        "bias": rng.normal(size=(4,)).astype(np.float32),
        "mean": rng.normal(size=(4,)).astype(np.float32),
        "var": rng.uniform(0.5, 1.5, size=(4,)).astype(np.float32),
        "fw": rng.normal(size=(64, 10)).astype(np.float32),
        "fb": rng.normal(size=(10,)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["n"]),
        helper.make_node("LeakyRelu", ["n"], ["r"], alpha=0.1),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "fw"], ["m"]),
        helper.make_node("Add", ["m", "fb"], ["o"]),
        helper.make_node("LogSoftmax", ["o"], ["out"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = rng.uniform(size=(5, 1, 8, 8)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (want,) = sess.run(["out"], {"x": x})
    with torch.no_grad():
        got = build_module(model, "out")(torch.from_numpy(x)).numpy()
    assert np.allclose(got, want, atol=1e-4)


# --- policy composition -------------------------------------------------------------------------


def test_a_child_policy_can_only_tighten_the_robustness_settings(tmp_path: Path) -> None:
    from gate.policy import load_policy
    from gate.risk import Tier

    parent = tmp_path / "parent.yaml"
    parent.write_text(
        "version: 1\nname: parent\nextends: [default]\n"
        "defaults:\n  required: [classifier-robustness]\n  checks:\n    classifier-robustness:\n"
        '      min_robust_accuracy: {"linf:0.1": 0.6}\n'
        "      min_samples: 100\n      max_accuracy_drop: 0.3\n",
        "utf-8",
    )
    child = tmp_path / "child.yaml"
    child.write_text(
        "version: 1\nname: child\nextends: [parent.yaml]\n"
        "defaults:\n  optional: [classifier-robustness]\n  checks:\n    classifier-robustness:\n"
        '      min_robust_accuracy: {"linf:0.1": 0.2, "linf:0.05": 0.8}\n      min_samples: 5\n'
        "      max_accuracy_drop: 0.9\n      decide_on: upper\n      restarts: 3\n",
        "utf-8",
    )
    tp = load_policy(str(child)).for_tier(Tier.LOW)
    cfg = tp.checks["classifier-robustness"]
    assert cfg["min_robust_accuracy"] == {"linf:0.1": 0.6, "linf:0.05": 0.8}
    assert cfg["min_samples"] == 100 and cfg["max_accuracy_drop"] == 0.3 and cfg["restarts"] == 3
    assert cfg.get("decide_on", "point") == "point"
    assert "classifier-robustness" in tp.required and "classifier-robustness" not in tp.optional


def test_the_packaged_policy_needs_more_examples_and_robustness_at_higher_tiers() -> None:
    from gate.policy import config_for, load_policy
    from gate.risk import Tier

    pol = load_policy("default")
    low, high, critical = (config_for(pol.for_tier(t), CHECK) for t in (Tier.LOW, Tier.HIGH, Tier.CRITICAL))
    assert low.min_samples < high.min_samples <= critical.min_samples
    assert high.min_samples >= 100  # a 10-example run cannot pass tier high
    assert high.min_robust_accuracy["linf:0.1"] <= critical.min_robust_accuracy["linf:0.1"]
    assert CHECK in pol.for_tier(Tier.HIGH).fail_closed


def test_report_details_are_json(tmp_path: Path) -> None:
    x, y = eval_split()
    rel = write_release(tmp_path / "r", digits_onnx(True), x, y)
    _, result = check_run(rel, policy(tmp_path))
    json.dumps(result.details)
    assert (
        result.details["evaluation_set"]["sha256"]
        == sha256((rel / "data" / "eval.csv").read_bytes()).split(":")[1]
    )
    assert result.details["isolation"]


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        (b"", "is empty"),
        (b"f0,f1\n", "no column 'label'"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        ("f{i},".join("" for _ in range(2)).encode() + b"label\n", "feature columns"),
        (None, "not a finite number"),  # a NaN cell
        (None, "is not one of model.classifier.labels"),  # an unknown label
        (None, "columns, the header has"),  # a short row
        (None, "not a readable CSV file"),  # one field over the csv module's limit
    ],
)
def test_a_hostile_evaluation_set_exits_2_naming_the_file(
    tmp_path: Path, csv_text: bytes | None, message: str
) -> None:
    from tests.support.robustness_models import csv_text as to_csv

    x, y = eval_split()
    good = to_csv(x[:3], y[:3], [str(i) for i in range(10)])
    head, *rows = good.splitlines()
    if csv_text is None:
        if "finite" in message:
            rows[0] = "nan" + rows[0][rows[0].index(",") :]
        elif "labels" in message:
            rows[0] = rows[0][: rows[0].rindex(",")] + ",eleven"
        elif "header has" in message:
            rows[0] = rows[0][: rows[0].rindex(",")]
        else:
            rows[0] = '"' + "1" * 200_000 + '"' + rows[0][rows[0].index(",") :]
        csv_text = ("\n".join([head, *rows]) + "\n").encode()
    rel = write_release(tmp_path / "r", digits_onnx(True), x[:3], y[:3], digest=sha256(csv_text))
    (rel / "data" / "eval.csv").write_bytes(csv_text)
    with pytest.raises(InputError, match=message) as info:
        check_run(rel, policy(tmp_path))
    assert "eval.csv" in info.value.message or "release.yaml" in info.value.message
