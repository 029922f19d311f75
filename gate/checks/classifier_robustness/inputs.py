"""What will run: the classifier file and the evaluation set, read once from verified bytes, and
the job the child is given (attacks, budgets, seeds) with the cache key that names its result.

Nothing here executes the model: the ONNX graph is parsed (protobuf only) and inspected, and
the bytes kept are the ones whose sha256 the inventory recorded, so that the bytes staged for
the child later are the bytes judged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import PurePosixPath
from typing import Any

from gate.checks.classifier_robustness.config import KIND_OF_TASK, ClassifierRobustnessConfig
from gate.errors import CheckError, InputError
from gate.models.manifest import Classifier
from gate.release import Release

KEY_VERSION = 1
MAX_MODEL_BYTES = 2 * 1024**3


def classifier_file(release: Release) -> str:
    """The ONNX file to run: declared, or the only .onnx file under model.path."""
    m = release.manifest
    assert m.model.classifier is not None
    if m.model.classifier.file:
        rel = m.model.classifier.file
        field = "model.classifier.file"
    else:
        found = [e.path for e in release.inventory.under(m.model.path) if e.path.lower().endswith(".onnx")]
        if len(found) != 1:
            raise InputError(
                f"release.yaml: model.classifier.file: {len(found)} .onnx files under {m.model.path}; "
                "name the one to run"
            )
        rel, field = found[0], "model.path"
    entry = release.inventory.by_path().get(rel)
    if entry is None or entry.kind != "file" or not entry.sha256:
        line = release.line_of(field)
        where = f"release.yaml:{line}" if line else "release.yaml"
        raise InputError(f"{where}: {field}: {rel} is not a regular file of the release")
    return rel


def model_bytes(release: Release, rel: str) -> bytes:
    from gate.robustness.sandbox import Changed, read_verified

    entry = release.inventory.by_path()[rel]
    assert entry.sha256 is not None
    try:
        return read_verified(release.path(rel), entry.sha256, MAX_MODEL_BYTES)
    except Changed as exc:
        raise CheckError(f"{rel}: {exc}", hint="Check a release directory nothing else writes to.") from None


def parse(data: bytes, rel: str) -> Any:
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    from gate.onnx_proto import parse_model

    try:
        return parse_model(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{rel}: not an ONNX model: {str(exc)[:120]}") from None


@dataclass(frozen=True)
class Inputs:
    """The model's verified bytes, what its graph says, and the parsed evaluation set."""

    rel: str  # the ONNX file, relative to the release
    data: bytes  # its bytes, hashed to the inventory's sha256
    info: Any  # gate.robustness.graph.GraphInfo
    external: tuple[str, ...]  # its external data files, relative to the release
    evalset: Any  # gate.robustness.evalset.EvalSet
    kind: str  # "linf" (images) or "feature" (tabular)


def gather(release: Release, clf: Classifier) -> Inputs:
    """Read and check everything the run needs. Bad input raises InputError (exit 2); a model
    outside what the check runs raises gate.robustness.graph.NotRunnable; bytes that changed
    since the inventory hashed them raise CheckError."""
    from gate.robustness.evalset import load_eval_set
    from gate.robustness.graph import NotRunnable, inspect

    evalset = load_eval_set(release, clf)
    rel = classifier_file(release)
    data = model_bytes(release, rel)
    try:
        model = parse(data, rel)
        info = inspect(model, model_label=rel, input_shape=clf.input_shape, classes=len(clf.labels))
    except NotRunnable as exc:
        raise NotRunnable(f"{rel} is not run: {exc}") from None
    base = PurePosixPath(rel).parent
    external = tuple((base / loc).as_posix() for loc in info.external)
    inv = release.inventory.by_path()
    for ext in external:
        e = inv.get(ext)
        if e is None or e.kind != "file":
            raise NotRunnable(
                f"{rel} is not run: its external data {ext} is not a regular file of the release"
            )
    kind = KIND_OF_TASK[release.manifest.model.task or ""]
    return Inputs(rel, data, info, external, evalset, kind)


def versions() -> dict[str, str]:
    out = {}
    for dist in ("adversarial-robustness-toolbox", "onnxruntime", "torch", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


@dataclass(frozen=True)
class Plan:
    job: Any  # gate.robustness.models.Job
    samples: int
    key: str  # the cache key: model and evaluation-set digests, settings, library versions


def plan(release: Release, cfg: ClassifierRobustnessConfig, clf: Classifier, inputs: Inputs) -> Plan:
    from gate.robustness.models import AttackSpec, Job

    n = min(cfg.samples, len(inputs.evalset.y))
    ranges = clf.feature_ranges or [clf.input_range] * clf.size
    specs: list[AttackSpec] = []
    black: list[AttackSpec] = []
    for b, eps in enumerate(cfg.budgets(inputs.kind)):
        for a, name in enumerate(cfg.attacks):
            specs.append(
                AttackSpec(
                    attack=name,
                    eps=eps,
                    steps=cfg.pgd_steps if name == "pgd" else 1,
                    restarts=cfg.restarts if name == "pgd" else 1,
                    step_fraction=cfg.pgd_step_fraction,
                    seed=cfg.seed * 1000 + b * 10 + a,
                )
            )
        for a, bb_name in enumerate(cfg.black_box_attacks):
            seed = cfg.seed * 1000 + b * 10 + 5 + a
            if bb_name == "hopskipjump":
                spec = AttackSpec(
                    attack=bb_name,
                    eps=eps,
                    steps=cfg.hopskipjump_iterations,
                    evaluations=cfg.hopskipjump_evaluations,
                    seed=seed,
                )
            else:
                spec = AttackSpec(
                    attack=bb_name, eps=eps, steps=cfg.square_queries, restarts=cfg.restarts, seed=seed
                )
            black.append(spec)
    info = inputs.info
    job = Job(
        model_file=PurePosixPath(inputs.rel).name,
        input_name=info.input_name,
        output_name=info.output_name,
        logits_name=info.logits_name,
        white_box=info.white_box,
        input_shape=clf.input_shape,
        batch_input_rank=info.input_rank,
        classes=len(clf.labels),
        low=[float(lo) for lo, _ in ranges],
        high=[float(hi) for _, hi in ranges],
        attacks=tuple(specs),
        black_box=tuple(black),
        batch_size=cfg.batch_size,
        fidelity_tolerance=cfg.fidelity_tolerance,
    )
    inv = release.inventory.by_path()
    base = PurePosixPath(inputs.rel).parent
    material = {
        "v": KEY_VERSION,
        "files": {
            PurePosixPath(p).relative_to(base).as_posix(): inv[p].sha256
            for p in sorted((inputs.rel, *inputs.external))
        },
        "eval": inputs.evalset.digest,
        "samples": n,
        "job": job.model_dump(mode="json"),
        "versions": versions(),
    }
    key = hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return Plan(job, n, key)
