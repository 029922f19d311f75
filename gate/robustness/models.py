"""What the parent hands the child (`Job`) and what the child reports back (`RunResult`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gate.models.base import StrictModel

AttackName = Literal["fgsm", "pgd", "square", "hopskipjump"]
WHITE_BOX: tuple[AttackName, ...] = ("fgsm", "pgd")
BLACK_BOX: tuple[AttackName, ...] = ("square", "hopskipjump")


class AttackSpec(StrictModel):
    """One attack at one budget. `eps` is an L∞ bound on inputs scaled to [0, 1] per value
    (so a fraction of each value's declared range)."""

    attack: AttackName
    eps: float = Field(gt=0, le=1)
    steps: int = Field(1, ge=1, le=100_000)  # PGD and HopSkipJump iterations; Square queries per restart
    restarts: int = Field(1, ge=1, le=100)
    evaluations: int | None = Field(None, ge=1, le=100_000)  # HopSkipJump: queries per gradient estimate
    step_fraction: float = Field(0.25, gt=0, le=1)  # PGD step size as a fraction of eps
    seed: int


class Job(StrictModel):
    model_file: str  # relative to the job's staging directory
    input_name: str
    output_name: str
    logits_name: str | None = None  # for gradients: the Softmax input when the scores are its output
    white_box: bool  # every operator is in the torch translation's allowlist
    input_shape: tuple[int, ...]
    batch_input_rank: int  # rank of the model's input (with the batch dimension)
    classes: int
    low: list[float]  # per input value (flattened), the declared range
    high: list[float]
    attacks: tuple[AttackSpec, ...]  # gradient attacks, run when the translation matches onnxruntime
    black_box: tuple[AttackSpec, ...]  # run instead when gradients are not available
    batch_size: int = Field(ge=1, le=100_000)
    fidelity_tolerance: float = Field(ge=0)


class AttackRun(StrictModel):
    attack: AttackName
    eps: float
    steps: int
    restarts: int
    seed: int
    adversarial: tuple[int, ...]  # predicted class of each adversarial example (onnxruntime)
    linf: tuple[float, ...]  # L∞ norm of each perturbation, in the [0, 1] scale
    l2: tuple[float, ...]
    queries: int | None = None  # black-box: model queries allowed per example
    seconds: float


class RunResult(StrictModel):
    clean: tuple[int, ...]  # predicted class of each example (onnxruntime)
    white_box: bool
    white_box_reason: str | None = None  # why gradients were not used
    fidelity_max_abs: float | None = None  # translation against onnxruntime, on the clean examples
    runs: tuple[AttackRun, ...]
    versions: dict[str, str]
    isolation: str = ""
    cached: bool = False
