"""The policy settings of `classifier-robustness`: budgets, thresholds per tier, attack settings
and the limits of the process that runs the model."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from gate.models.base import StrictModel
from gate.models.policy import Ordered, Stricter

BUDGET_KEY = re.compile(r"^(linf|feature):(0(\.\d+)?|1(\.0+)?)$")
KIND_OF_TASK = {"image-classification": "linf", "tabular-classification": "feature"}

Budget = Annotated[float, Field(gt=0, le=1)]


class ClassifierRobustnessConfig(StrictModel):
    image_eps: Annotated[tuple[Budget, ...], Stricter.UNION] = Field(
        (0.1,), description="L∞ budgets for image classifiers, as fractions of the input range."
    )
    tabular_eps: Annotated[tuple[Budget, ...], Stricter.UNION] = Field(
        (0.05,),
        description="Per-feature budgets for tabular classifiers, as fractions of each feature's range.",
    )
    min_robust_accuracy: Annotated[dict[str, Annotated[float, Field(ge=0, le=1)]], Stricter.MAX] = Field(
        default_factory=dict,
        description="Lowest acceptable robust accuracy per threat model, keyed `linf:EPS` (images) or "
        "`feature:EPS` (tabular); a threat model named here is always attacked.",
    )
    max_accuracy_drop: Annotated[float, Stricter.MIN] = Field(
        1.0, ge=0, le=1, description="Largest drop from clean to robust accuracy, per threat model."
    )
    min_clean_accuracy: Annotated[float, Stricter.MAX] = Field(
        0.0, ge=0, le=1, description="Lowest acceptable accuracy on the evaluation set without attack."
    )
    min_samples: Annotated[int, Stricter.MAX] = Field(
        0, ge=0, le=1_000_000, description="Fewest examples that must be attacked."
    )
    samples: Annotated[int, Stricter.MAX] = Field(
        200, ge=1, le=1_000_000, description="Examples attacked: the first N of the evaluation set."
    )
    decide_on: Annotated[Literal["upper", "point", "lower"], Ordered(("upper", "point", "lower"))] = Field(
        "point",
        description="Which end of robust accuracy's 95% Wilson interval is compared with the minimum: "
        "'lower' blocks unless it is above beyond reasonable doubt.",
    )
    attacks: Annotated[tuple[Literal["fgsm", "pgd"], ...], Stricter.UNION] = Field(
        ("fgsm", "pgd"), description="Gradient attacks, run when the graph can be differentiated."
    )
    black_box_attacks: Annotated[tuple[Literal["square", "hopskipjump"], ...], Stricter.UNION] = Field(
        ("square",),
        description="Black-box attacks, run when it cannot: Square (score-based) and HopSkipJump "
        "(decision-based: it sees only the predicted label).",
    )
    pgd_steps: Annotated[int, Stricter.MAX] = Field(20, ge=1, le=10_000, description="PGD iterations.")
    pgd_step_fraction: Annotated[float, Stricter.FIXED] = Field(
        0.25, gt=0, le=1, description="PGD step size as a fraction of the budget."
    )
    restarts: Annotated[int, Stricter.MAX] = Field(
        1, ge=1, le=100, description="Random restarts of PGD and Square."
    )
    square_queries: Annotated[int, Stricter.MAX] = Field(
        1000,
        ge=1,
        le=100_000,
        description="Square attack iterations (model queries) per example and restart.",
    )
    hopskipjump_iterations: Annotated[int, Stricter.MAX] = Field(
        10, ge=1, le=1000, description="HopSkipJump iterations per example."
    )
    hopskipjump_evaluations: Annotated[int, Stricter.MAX] = Field(
        200,
        ge=1,
        le=100_000,
        description="HopSkipJump's largest number of model queries for one gradient estimate.",
    )
    seed: Annotated[int, Stricter.FIXED] = Field(
        0, ge=0, le=2**31 - 1, description="Seed of every attack: the same seed gives the same result."
    )
    batch_size: Annotated[int, Stricter.FIXED] = Field(
        256, ge=1, le=100_000, description="Examples per model call and attack batch."
    )
    fidelity_tolerance: Annotated[float, Stricter.MIN] = Field(
        1e-4,
        ge=0,
        le=1,
        description="Largest score difference between the gradient translation and onnxruntime before "
        "gradients are distrusted (black-box attacks instead).",
    )
    memory_mb: Annotated[int, Stricter.MIN] = Field(
        4096, ge=256, le=1_048_576, description="Address-space limit of the process that runs the model."
    )
    timeout_s: Annotated[float, Stricter.MIN] = Field(
        900, gt=0, le=86_400, description="Wall-clock limit of one model run (CPU time is limited alike)."
    )
    require_network_namespace: Annotated[bool, Stricter.ANY_TRUE] = Field(
        False,
        description="Refuse to run the model unless it gets a network namespace of its own (`unshare`); "
        "otherwise audit hooks refuse sockets inside the process.",
    )
    max_reproductions: Annotated[int, Stricter.TUNING] = Field(
        10, ge=0, le=1000, description="Flipped examples listed per threat model."
    )
    cache: Annotated[bool, Stricter.ALL_TRUE] = Field(
        True, description="Reuse results for an unchanged model, evaluation set and settings."
    )
    cache_dir: Annotated[str | None, Stricter.FIXED] = Field(
        None, description="Cache directory; default ~/.cache/model-gate/robustness."
    )

    @field_validator("min_robust_accuracy")
    @classmethod
    def _keys(cls, v: dict[str, float]) -> dict[str, float]:
        for key in v:
            if not BUDGET_KEY.match(key):
                raise ValueError(
                    f"{key[:60]!r}: threat models are named linf:EPS or feature:EPS (EPS in (0, 1])"
                )
            if float(key.partition(":")[2]) <= 0:
                raise ValueError(f"{key}: the budget must be above 0")
        return v

    def budgets(self, kind: str) -> list[float]:
        own = self.image_eps if kind == "linf" else self.tabular_eps
        named = [float(k.partition(":")[2]) for k in self.min_robust_accuracy if k.startswith(kind + ":")]
        return sorted({round(e, 6) for e in (*own, *named)})


def budget_key(kind: str, eps: float) -> str:
    return f"{kind}:{eps:g}"
