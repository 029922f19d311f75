"""Real classifiers for the classifier-robustness tests, trained at test time in seconds.

An image classifier on scikit-learn's digits (8x8 grey levels scaled to [0, 1]), trained with
torch on the CPU, naturally or adversarially (PGD in the training loop), and written as ONNX
with onnx.helper (Flatten, Gemm, Relu, Softmax); a tabular classifier from scikit-learn written
with skl2onnx (its `ai.onnx.ml` operators have no gradients here: it is attacked black-box).
Releases are written as a person would: release.yaml, the model file, an evaluation CSV.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

LABELS = [str(i) for i in range(10)]


@functools.cache
def digits() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


@functools.cache
def mlp_weights(adversarial: bool, eps: float = 0.1, epochs: int = 20) -> tuple[Any, ...]:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    xtr, ytr, _, _ = digits()
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for k in range(0, len(xt), 100):
            xb, yb = xt[perm[k : k + 100]], yt[perm[k : k + 100]]
            if adversarial:  # PGD-3 inside the training loop (Madry et al.)
                delta = (torch.rand_like(xb) * 2 - 1) * eps
                for _ in range(3):
                    delta.requires_grad_(True)
                    loss = loss_fn(model(torch.clamp(xb + delta, 0, 1)), yb)
                    (g,) = torch.autograd.grad(loss, delta)
                    delta = torch.clamp(delta.detach() + eps / 1.5 * g.sign(), -eps, eps)
                xb = torch.clamp(xb + delta, 0, 1).detach()
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    w1, b1, w2, b2 = (p.detach().numpy().copy() for p in model.parameters())
    return w1, b1, w2, b2


def digits_onnx(adversarial: bool, *, softmax: bool = True) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1, b1, w2, b2 = mlp_weights(adversarial)
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Gemm", ["hr", "w2", "b2"], ["logits"], transB=1),
    ]
    out = "logits"
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
        out = "probabilities"
    graph = helper.make_graph(
        nodes,
        "digits-mlp",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def tabular_onnx() -> tuple[bytes, Any, Any, list[tuple[float, float]]]:
    """A logistic regression on 8 standardised features of the digits (even/odd), via skl2onnx."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    xtr, ytr, xte, yte = digits()
    cols = [18, 19, 20, 26, 27, 28, 36, 44]
    model = LogisticRegression(max_iter=500).fit(xtr[:, cols], ytr % 2)
    onx = to_onnx(model, xtr[:1, cols], options={id(model): {"zipmap": False}}, target_opset=17)
    ranges = [(0.0, 1.0)] * len(cols)
    return onx.SerializeToString(), xte[:, cols], yte % 2, ranges


def csv_text(x: Any, y: Any, labels: list[str]) -> str:
    flat = x.reshape(len(x), -1)
    head = ",".join([f"f{i}" for i in range(flat.shape[1])] + ["label"])
    rows = [",".join([f"{v:.6g}" for v in r] + [labels[int(t)]]) for r, t in zip(flat, y, strict=True)]
    return "\n".join([head, *rows]) + "\n"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_release(
    root: Path,
    model: bytes,
    x: Any,
    y: Any,
    *,
    task: str = "image-classification",
    input_shape: list[int] | None = None,
    labels: list[str] | None = None,
    feature_ranges: list[tuple[float, float]] | None = None,
    digest: str | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    labels = labels or LABELS
    root.mkdir(parents=True, exist_ok=True)
    (root / "model").mkdir(exist_ok=True)
    (root / "model" / "classifier.onnx").write_bytes(model)
    (root / "data").mkdir(exist_ok=True)
    text = csv_text(x, y, labels).encode()
    (root / "data" / "eval.csv").write_bytes(text)
    for rel, data in (extra_files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    shape = input_shape or [1, 8, 8]
    ranges = ""
    if feature_ranges is not None:
        ranges = "    feature_ranges: [" + ", ".join(f"[{a}, {b}]" for a, b in feature_ranges) + "]\n"
    (root / "release.yaml").write_text(
        "name: digits\nversion: 1.0.0\n"
        "model:\n  path: model\n  format: onnx\n"
        f"  task: {task}\n"
        "  classifier:\n"
        "    file: model/classifier.onnx\n"
        f"    input_shape: {shape}\n"
        f"    labels: [{', '.join(repr(s) for s in labels)}]\n"
        f"{ranges}"
        "datasets:\n"
        "  - name: digits-eval\n    role: evaluation\n    path: data/eval.csv\n    format: csv\n"
        f"    digest: {digest or sha256(text)}\n"
        "deployment:\n  exposure: internal\n  data_sensitivity: none\n  autonomy: advisory\n",
        "utf-8",
    )
    return root
