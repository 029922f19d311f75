"""The child process that runs the classifier: `python -m gate.robustness.child JOBDIR`.

Started by `gate.robustness.sandbox` only, with a scrubbed environment and (where the kernel
allows) in a network namespace of its own. It lowers its own limits before it imports anything
else, refuses sockets and new processes through audit hooks, runs the ONNX graph with
onnxruntime on the CPU provider without any custom operator library, and writes `result.json`
into the job directory. Nothing from the release reaches this process except the staged model
files and the evaluation arrays, whose bytes the parent verified.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

TRIES = 100  # random starting points drawn per example for HopSkipJump (ART's init_size)
NET_EVENTS = ("socket.", "http.", "urllib.", "ftplib.", "smtplib.", "ssl.")
PROC_EVENTS = (
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "pty.spawn",
    "ctypes.dlopen",
)


def limit(memory_mb: int, cpu_s: int, file_mb: int) -> None:
    for res, value in (
        (resource.RLIMIT_AS, memory_mb * 1024 * 1024),
        (resource.RLIMIT_CPU, cpu_s),
        (resource.RLIMIT_FSIZE, file_mb * 1024 * 1024),
        (resource.RLIMIT_CORE, 0),
    ):
        _soft, hard = resource.getrlimit(res)
        new = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(res, (new, new if hard == resource.RLIM_INFINITY else hard))


def deny(events: tuple[str, ...]) -> None:
    """Refuse audited actions from here on; an audit hook cannot be removed once added."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith(events):
            raise PermissionError(f"{event} is not allowed while a release's model runs")

    sys.addaudithook(hook)


def _seed(seed: int) -> None:
    import numpy as np
    import torch

    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _image_view(shape: tuple[int, ...]) -> tuple[tuple[int, ...], Any]:
    import math

    import numpy as np

    if len(shape) == 3:
        return shape, lambda v: v.reshape((-1, *shape))
    size = math.prod(shape)
    # Square's first windows cover ~90% of a side; below 5 positions a window fills the grid.
    side = max(5, math.isqrt(size - 1) + 1)
    view = (1, side, side)

    def from_view(v: Any) -> Any:
        return np.ascontiguousarray(v.reshape(len(v), -1)[:, :size]).reshape((-1, *shape))

    return view, from_view


def _to_view(z: Any, view: tuple[int, ...]) -> Any:
    import math

    import numpy as np

    if z.shape[1:] == view:
        return z
    flat = np.zeros((len(z), math.prod(view)), dtype=z.dtype)
    flat[:, : z[0].size] = z.reshape(len(z), -1)
    return flat.reshape((len(z), *view))


def load_libraries() -> None:
    """Import what a run needs. Nothing of the release is read here: the parent starts the child
    early so that this overlaps its own checks, and stages the model only once they passed."""
    import art  # noqa: F401
    import numpy  # noqa: F401
    import onnxruntime  # noqa: F401
    import torch
    from art.attacks.evasion import (  # noqa: F401
        FastGradientMethod,
        HopSkipJump,
        ProjectedGradientDescent,
        SquareAttack,
    )
    from art.estimators.classification import (  # noqa: F401
        BlackBoxClassifierNeuralNetwork,
        PyTorchClassifier,
    )

    import gate.onnx_proto
    import gate.robustness.torch_graph

    gate.onnx_proto.messages()
    # One thread: the same sums in the same order every run (reproducible), and the CPU limit
    # means what it says. (torch.use_deterministic_algorithms would import its compiler stack,
    # seconds of start-up, for operators the graphs here never use.)
    torch.set_num_threads(1)


def wait_for_go(stream: Any, wait_s: float) -> bool:
    """Block until the parent says `run` on standard input; anything else (end of input, when the
    parent ended the run or died, or silence for `wait_s`) means stop without running."""
    import select

    ready, _, _ = select.select([stream], [], [], wait_s)
    return bool(ready) and stream.readline().strip() == b"run"


def _hopskipjump(attack: Any, z: Any, clean: Any, scores: Any, seed: int) -> Any:
    """HopSkipJump from seeded starting points. ART draws its own starting points from an
    unseeded generator (np.random.seed does not reach it); given a misclassified start it uses
    that one, so the run is reproducible. Examples for which no start is found in `TRIES` draws
    are not attacked (ART gives them back unchanged in that case too)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    start = np.array(z, copy=True)
    found = np.zeros(len(z), dtype=bool)
    for _ in range(TRIES):
        todo = np.flatnonzero(~found)
        if not len(todo):
            break
        draw = rng.uniform(0.0, 1.0, size=(len(todo), *z.shape[1:])).astype(np.float32)
        preds = scores(draw).argmax(axis=1)  # in batches of the job's batch size
        hit = preds != clean[todo]
        start[todo[hit]] = draw[hit]
        found[todo[hit]] = True
    adv = np.array(z, copy=True)
    idx = np.flatnonzero(found)
    if len(idx):
        adv[idx] = attack.generate(x=z[idx], x_adv_init=start[idx]).astype(np.float32)
    return adv


def _view(value: Any) -> Any:
    """JSON objects as attribute views (`job.attacks[0].eps`), lists as tuples."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _view(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_view(v) for v in value)
    return value


def run(job_dir: Path) -> None:
    import art
    import numpy as np
    import onnxruntime as ort
    import torch
    from art.attacks.evasion import (
        FastGradientMethod,
        HopSkipJump,
        ProjectedGradientDescent,
        SquareAttack,
    )
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork, PyTorchClassifier

    from gate.onnx_proto import parse_model
    from gate.robustness.torch_graph import TranslationError, build_module

    # The parent wrote the job from gate.robustness.models.Job and validates the result against
    # RunResult; plain JSON here keeps pydantic out of the child's start-up.
    job = _view(json.loads((job_dir / "job.json").read_text("utf-8")))
    x = np.load(job_dir / "x.npy", allow_pickle=False).astype(np.float32)
    y = np.load(job_dir / "y.npy", allow_pickle=False).astype(np.int64)
    shape: tuple[int, ...] = tuple(job.input_shape)
    lo = np.asarray(job.low, dtype=np.float32).reshape(shape)
    span = (np.asarray(job.high, dtype=np.float32) - np.asarray(job.low, dtype=np.float32)).reshape(shape)
    z = np.clip((x - lo) / span, 0.0, 1.0).astype(np.float32)  # attacks work on [0, 1] per value

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    session = ort.InferenceSession(
        str(job_dir / "model" / job.model_file), so, providers=["CPUExecutionProvider"]
    )
    batch_rank: int = job.batch_input_rank

    def to_model(zb: np.ndarray) -> np.ndarray:
        xb = (lo + zb.reshape((-1, *shape)) * span).astype(np.float32)
        return xb.reshape((xb.shape[0], -1)) if batch_rank == 2 and len(shape) != 1 else xb

    def scores(zb: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(zb), job.batch_size):
            (s,) = session.run([job.output_name], {job.input_name: to_model(zb[i : i + job.batch_size])})
            out.append(np.asarray(s, dtype=np.float32).reshape(len(zb[i : i + job.batch_size]), -1))
        return np.concatenate(out) if out else np.zeros((0, job.classes), np.float32)

    clean_scores = scores(z)
    clean = clean_scores.argmax(axis=1)
    onehot = np.eye(job.classes, dtype=np.float32)[y]

    white = job.white_box
    reason = None if white else "the graph has operators without gradients here"
    fidelity = None
    module: Any = None
    if white:
        try:
            staged = job_dir / "model" / job.model_file
            model = parse_model(staged.read_bytes())
            module = build_module(model, job.logits_name or job.output_name, staged.parent)
            low_t, span_t = torch.from_numpy(lo), torch.from_numpy(span)

            class Scaled(torch.nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.inner = module

                def forward(self, zb: Any) -> Any:
                    xb = low_t + zb.reshape((-1, *shape)) * span_t
                    if batch_rank == 2 and len(shape) != 1:
                        xb = xb.reshape((xb.shape[0], -1))
                    return self.inner(xb)

            module = Scaled().eval()
            with torch.no_grad():
                got = module(torch.from_numpy(z)).numpy()
            if job.logits_name:
                got = torch.softmax(torch.from_numpy(got), dim=1).numpy()
            fidelity = float(np.max(np.abs(got - clean_scores))) if len(z) else 0.0
            if fidelity > job.fidelity_tolerance or not np.array_equal(got.argmax(axis=1), clean):
                white, reason = False, f"the torch translation differs from onnxruntime by {fidelity:.3g}"
        except (TranslationError, RuntimeError, ValueError, KeyError, IndexError) as exc:
            white, reason = False, f"the graph could not be translated for gradients: {str(exc)[:200]}"

    runs: list[dict[str, Any]] = []
    specs = job.attacks if white else job.black_box
    for spec in specs:
        start = time.perf_counter()
        _seed(spec.seed)
        queries = None
        if spec.attack in ("fgsm", "pgd"):
            clf = PyTorchClassifier(
                model=module,
                loss=torch.nn.CrossEntropyLoss(),
                input_shape=shape,
                nb_classes=job.classes,
                clip_values=(0.0, 1.0),
                device_type="cpu",
            )
            if spec.attack == "fgsm":
                attack: Any = FastGradientMethod(clf, norm=np.inf, eps=spec.eps, batch_size=job.batch_size)
            else:
                attack = ProjectedGradientDescent(
                    clf,
                    norm=np.inf,
                    eps=spec.eps,
                    eps_step=spec.eps * spec.step_fraction,
                    max_iter=spec.steps,
                    num_random_init=spec.restarts,
                    batch_size=job.batch_size,
                    verbose=False,
                )
        elif spec.attack == "hopskipjump":
            bb = BlackBoxClassifierNeuralNetwork(
                scores, input_shape=shape, nb_classes=job.classes, clip_values=(0.0, 1.0)
            )
            attack = HopSkipJump(
                bb,
                norm=np.inf,
                max_iter=spec.steps,
                max_eval=spec.evaluations,
                init_eval=max(1, min(100, spec.evaluations // 10)),
                batch_size=job.batch_size,
                verbose=False,
            )
            # Bounded by its iterations: each estimates a gradient from at most `evaluations` queries.
            queries = spec.steps * spec.evaluations
        else:
            # Square is defined on images (N, C, H, W). Other inputs (tabular features) are laid
            # out on a square grid whose padding the model never sees: the L∞ bound is the same.
            view, from_view = _image_view(shape)
            bb = BlackBoxClassifierNeuralNetwork(
                lambda v, back=from_view: scores(back(v)),
                input_shape=view,
                nb_classes=job.classes,
                clip_values=(0.0, 1.0),
            )
            attack = SquareAttack(
                bb,
                norm=np.inf,
                eps=spec.eps,
                max_iter=spec.steps,
                nb_restarts=spec.restarts,
                batch_size=job.batch_size,
                verbose=False,
            )
            queries = spec.steps * spec.restarts
        if spec.attack == "square" and len(z):
            adv = from_view(attack.generate(x=_to_view(z, view), y=onehot).astype(np.float32))
        elif spec.attack == "hopskipjump" and len(z):
            adv = _hopskipjump(attack, z, clean, scores, spec.seed)
        else:
            adv = attack.generate(x=z, y=onehot).astype(np.float32) if len(z) else z
        adv = np.clip(adv, np.maximum(z - spec.eps, 0.0), np.minimum(z + spec.eps, 1.0))
        pred = scores(adv).argmax(axis=1)
        diff = (adv - z).reshape(len(z), -1)
        runs.append(
            {
                "attack": spec.attack,
                "eps": spec.eps,
                "steps": spec.steps,
                "restarts": spec.restarts,
                "seed": spec.seed,
                "adversarial": [int(p) for p in pred],
                "linf": [float(v) for v in np.abs(diff).max(axis=1)] if len(z) else [],
                "l2": [float(v) for v in np.linalg.norm(diff, axis=1)] if len(z) else [],
                "queries": queries,
                "seconds": round(time.perf_counter() - start, 4),
            }
        )
    result = {  # gate.robustness.models.RunResult
        "clean": [int(c) for c in clean],
        "white_box": white,
        "white_box_reason": reason,
        "fidelity_max_abs": fidelity,
        "runs": runs,
        "versions": {
            "adversarial-robustness-toolbox": art.__version__,
            "onnxruntime": ort.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
    }
    (job_dir / "result.json").write_text(json.dumps(result), "utf-8")


def main(argv: list[str]) -> int:
    job_dir, memory_mb, cpu_s, file_mb = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    wait_s = float(argv[4])
    limit(memory_mb, cpu_s, file_mb)
    deny(NET_EVENTS)
    try:
        load_libraries()
        deny(PROC_EVENTS)  # everything is imported: from here on nothing starts a process
        if not wait_for_go(sys.stdin.buffer, wait_s):
            return 0  # the parent ended the run without executing the model
        run(job_dir)
    except MemoryError:
        print("memory-limit: the model run needed more memory than the limit allows", file=sys.stderr)
        return 4
    except Exception as exc:  # reported to the parent, which fails closed
        text = str(exc)
        if "bad_alloc" in text or "Failed to allocate" in text or "Cannot allocate" in text:
            print(f"memory-limit: {text[:300]}", file=sys.stderr)
            return 4
        print(f"error: {type(exc).__name__}: {text[:500]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
