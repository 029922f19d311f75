"""release.yaml: what a model release declares about itself."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from gate.models.base import StrictModel

MANIFEST_NAME = "release.yaml"
MANIFEST_SCHEMA_VERSION = 1
# What `model-gate init` (or a person) leaves where a value is still to be written.
# Upper case as written in templates ("TODO who uses it"); any case when the value is only the word.
_PLACEHOLDER = re.compile(r"^\s*(?:TODO|TBD|FIXME|XXX+|CHANGEME)(?![A-Za-z0-9])|^\s*<[^<>]*>\s*$")
_PLACEHOLDER_WORD = re.compile(r"^\s*(?:todo|tbd|fixme|xxx+|change[ _-]?me)\s*[:.!]*\s*$", re.I)


def is_placeholder(value: str) -> bool:
    """'TODO ...', 'TBD', 'FIXME', 'CHANGEME', '<your model>': a value nobody filled in."""
    return bool(_PLACEHOLDER.search(value) or _PLACEHOLDER_WORD.match(value))


def release_path_problem(value: str) -> str | None:
    """Why a string cannot name a path inside the release (relative, POSIX, no '..'), or None.
    Symlinks are checked on disk, not here."""
    if not value or value.strip() != value:
        return "path must be a non-empty string without surrounding spaces"
    if "\x00" in value or "\\" in value:
        return "path must use '/' separators and contain no NUL or backslash"
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).drive:
        return "path must be relative to the release directory"
    if ".." in PurePosixPath(value).parts:
        return "path must not contain '..' (it would leave the release directory)"
    return None


def _relative_path(value: str) -> str:
    problem = release_path_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


RelPath = Annotated[str, AfterValidator(_relative_path)]

DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")


def _digest(value: str) -> str:
    if not DIGEST.match(value):
        raise ValueError("digest must be 'sha256:<64 hex>' (or sha384/sha512)")
    return value


Digest = Annotated[str, AfterValidator(_digest)]


class Exposure(StrEnum):
    INTERNAL = "internal"
    PARTNER = "partner"
    PUBLIC = "public"


class DataSensitivity(StrEnum):
    NONE = "none"
    INTERNAL = "internal"
    PERSONAL = "personal"
    FINANCIAL = "financial"
    SPECIAL_CATEGORY = "special-category"


class Autonomy(StrEnum):
    ADVISORY = "advisory"
    HUMAN_IN_THE_LOOP = "human-in-the-loop"
    AUTONOMOUS = "autonomous"


class ModelFormat(StrEnum):
    SAFETENSORS = "safetensors"
    PYTORCH = "pytorch"
    TORCHSCRIPT = "torchscript"
    ONNX = "onnx"
    GGUF = "gguf"
    KERAS = "keras"
    HDF5 = "hdf5"
    SKLEARN = "sklearn"
    JOBLIB = "joblib"
    NUMPY = "numpy"
    PICKLE = "pickle"
    OTHER = "other"


CLASSIFIER_TASKS = ("image-classification", "tabular-classification")
MAX_INPUT_VALUES = 1_000_000  # values in one example: far above any classifier the gate can attack on CPU


class Classifier(StrictModel):
    """What the classifier-robustness check needs to run a classifier: nothing here is trusted
    beyond its shape; the model's own graph must agree with it (checked before anything runs)."""

    file: RelPath | None = Field(
        None,
        description="The ONNX file to run, relative to the release; unset: the only .onnx file "
        "under model.path.",
    )
    input_shape: tuple[Annotated[int, Field(ge=1, le=MAX_INPUT_VALUES)], ...] = Field(
        min_length=1, max_length=4, description="Shape of one example, without the batch dimension."
    )
    labels: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = Field(
        min_length=2, max_length=10_000, description="Class labels in the order of the model's scores."
    )
    input_range: tuple[float, float] = Field(
        (0.0, 1.0), description="Valid range of every input value (images); attacks stay inside it."
    )
    feature_ranges: tuple[tuple[float, float], ...] | None = Field(
        None,
        max_length=MAX_INPUT_VALUES,
        description="Valid range of each feature (tabular data), in input order; replaces input_range. "
        "Per-feature attack budgets are fractions of these ranges.",
    )
    label_column: str = Field(
        "label", min_length=1, max_length=200, description="The evaluation set's label column."
    )

    @field_validator("labels")
    @classmethod
    def _unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("labels must be unique")
        return v

    @model_validator(mode="after")
    def _ranges(self) -> Classifier:
        size = 1
        for d in self.input_shape:
            size *= d
        if size > MAX_INPUT_VALUES:
            raise ValueError(f"input_shape has {size} values per example, over {MAX_INPUT_VALUES}")
        ranges = [self.input_range, *(self.feature_ranges or ())]
        if any(not (lo < hi) or abs(lo) > 1e12 or abs(hi) > 1e12 for lo, hi in ranges):
            raise ValueError("every range must be [low, high] with low < high (finite)")
        if self.feature_ranges is not None and len(self.feature_ranges) != size:
            raise ValueError(
                f"feature_ranges has {len(self.feature_ranges)} entries, input_shape {size} values"
            )
        return self

    @property
    def size(self) -> int:
        n = 1
        for d in self.input_shape:
            n *= d
        return n


class ModelSection(StrictModel):
    path: RelPath = Field(description="Directory (or file) holding the model files.")
    format: ModelFormat
    task: str | None = Field(None, description="e.g. text-generation, text-classification.")
    architecture: str | None = None
    generative: bool | None = Field(
        None, description="Whether the model generates content; derived from `task` when unset."
    )
    parameters: int | None = Field(None, ge=0)
    classifier: Classifier | None = Field(
        None,
        description="Input shape, class labels and value ranges of a classifier the "
        "classifier-robustness check attacks (task image-classification or tabular-classification).",
    )

    @model_validator(mode="after")
    def _classifier_task(self) -> ModelSection:
        if self.classifier is not None and self.task not in CLASSIFIER_TASKS:
            raise ValueError(f"a classifier section needs task {' or '.join(CLASSIFIER_TASKS)}")
        return self


class BaseModelRef(StrictModel):
    source: str = Field(description="URI of the base model, e.g. hf://org/name.")
    revision: str | None = Field(None, description="Commit or tag of the base model.")
    digest: Digest | None = None


class Dataset(StrictModel):
    name: str
    source: str | None = None
    digest: Digest | None = None
    path: RelPath | None = None
    role: Literal["fine-tuning", "evaluation", "reference", "pre-training"] = "fine-tuning"
    format: Literal["jsonl", "csv", "parquet"] | None = None


class IntendedUse(StrictModel):
    description: str
    users: tuple[str, ...] = ()
    use_cases: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()


class Deployment(StrictModel):
    exposure: Exposure
    data_sensitivity: DataSensitivity
    autonomy: Autonomy
    safety_critical: bool = False
    domains: tuple[str, ...] = Field(
        (),
        description="Application domains by their ids in gate/data/risk.yaml: EU AI Act Art. 5 "
        "practices, Annex III areas and other domains. An unknown id is an error.",
    )
    user_scale: int = Field(0, ge=0, description="Expected number of users.")


class EndpointType(StrEnum):
    OPENAI = "openai"
    REST = "rest"
    HUGGINGFACE = "huggingface"
    CALLABLE = "callable"


class Endpoint(StrictModel):
    type: EndpointType
    url: str | None = Field(None, description="Base URL (openai) or full URL (rest).")
    model: str | None = Field(None, description="Model name sent to an OpenAI-compatible API.")
    api_key_env: str | None = Field(
        None,
        description="A request, not a choice: when set it must equal the variable the policy names "
        "(checks.adversarial.credential_env), else the check refuses to send any key.",
    )
    request_template: str | None = Field(None, description="REST body with $INPUT where the prompt goes.")
    response_field: str | None = Field(None, description="JSON field (or JSONPath) of the reply.")
    headers: dict[str, str] = Field(default_factory=dict)
    path: RelPath | None = Field(None, description="Local Hugging Face model folder.")
    callable: str | None = Field(None, description="module:function returning a list of str.")
    timeout_s: float = Field(30.0, gt=0, le=600)
    output: Literal["text", "labels", "scores", "logits"] | None = Field(
        None,
        description="What a response may carry: generated text (no log-probabilities), class labels "
        "only, scores or probabilities, or raw logits. Unset: text. The live-controls probe checks it.",
    )

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError("must be an environment variable name")
        return v


class Guard(StrictModel):
    """The runtime guard production puts in front of the endpoint.

    A NeMo Guardrails configuration ships in the release (`config`, a folder); an external guard
    speaking the Lakera-Guard-compatible API is only named here: its URL and credential come
    from the policy, never from the release.
    """

    type: Literal["nemo-guardrails", "lakera-compatible"]
    config: RelPath | None = Field(
        None, description="NeMo Guardrails configuration folder inside the release (config.yml, rails)."
    )

    @model_validator(mode="after")
    def _config_for_nemo(self) -> Guard:
        if self.type == "nemo-guardrails" and self.config is None:
            raise ValueError("a 'nemo-guardrails' guard needs `config`, its folder inside the release")
        if self.type == "lakera-compatible" and self.config is not None:
            raise ValueError(
                "a 'lakera-compatible' guard takes no `config`: the policy names its URL and credential"
            )
        return self


class Serving(StrictModel):
    requirements: RelPath | None = None
    lockfile: RelPath | None = None
    manifests: tuple[RelPath, ...] = Field(
        (), description="Kubernetes manifests or serving.yaml describing how it is served."
    )


class Monitoring(StrictModel):
    config: RelPath | None = Field(None, description="The gate's monitoring.yaml.")
    prometheus_rules: tuple[RelPath, ...] = ()
    alertmanager: RelPath | None = None
    otel_collector: RelPath | None = None


class Manifest(StrictModel):
    schema_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    version: str = Field(min_length=1, max_length=100)
    description: str | None = None
    model: ModelSection
    base_model: BaseModelRef | None = None
    datasets: tuple[Dataset, ...] = ()
    intended_use: IntendedUse | None = None
    limitations: tuple[str, ...] = ()
    deployment: Deployment
    endpoint: Endpoint | None = None
    guard: Guard | None = Field(None, description="The runtime guard in front of the endpoint.")
    signature: RelPath | None = Field(None, description="model-signing signature bundle.")
    provenance: RelPath | None = Field(None, description="SLSA provenance (DSSE or bundle).")
    serving: Serving = Field(default_factory=Serving)
    monitoring: Monitoring = Field(default_factory=Monitoring)

    def declared_paths(self) -> list[tuple[str, str]]:
        """Every (field, path) the manifest declares, for existence and escape checks."""
        out: list[tuple[str, str]] = [("model.path", self.model.path)]
        out += [(f"datasets[{i}].path", d.path) for i, d in enumerate(self.datasets) if d.path]
        if self.model.classifier is not None and self.model.classifier.file:
            out.append(("model.classifier.file", self.model.classifier.file))
        if self.endpoint and self.endpoint.path:
            out.append(("endpoint.path", self.endpoint.path))
        if self.guard and self.guard.config:
            out.append(("guard.config", self.guard.config))
        for name in ("signature", "provenance"):
            value = getattr(self, name)
            if value:
                out.append((name, value))
        if self.serving.requirements:
            out.append(("serving.requirements", self.serving.requirements))
        if self.serving.lockfile:
            out.append(("serving.lockfile", self.serving.lockfile))
        out += [(f"serving.manifests[{i}]", p) for i, p in enumerate(self.serving.manifests)]
        if self.monitoring.config:
            out.append(("monitoring.config", self.monitoring.config))
        out += [
            (f"monitoring.prometheus_rules[{i}]", p) for i, p in enumerate(self.monitoring.prometheus_rules)
        ]
        if self.monitoring.alertmanager:
            out.append(("monitoring.alertmanager", self.monitoring.alertmanager))
        if self.monitoring.otel_collector:
            out.append(("monitoring.otel_collector", self.monitoring.otel_collector))
        return out
