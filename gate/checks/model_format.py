"""The model format release.yaml declares, compared with the formats found in the model's files.

Part of the `model-files` check, which identifies every file by its content: a
release that declares `format: safetensors` while its model directory holds a
pickle checkpoint tells reviewers (and tools that trust the declaration) that
loading it cannot run code when it can.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePosixPath
from typing import Any, Protocol

from gate.models.finding import Finding, Severity, rule_maker
from gate.models.manifest import Manifest, ModelFormat

CHECK = "model-files"

_rule = rule_maker(CHECK, technique=("LLM03:2025", "AML.T0010"))

FORMAT_RULES = (
    _rule(
        "GATE-MF030",
        "model-format-mismatch",
        Severity.MEDIUM,
        "A file in the model directory is in a model format other than the one release.yaml declares.",
        "Reviewers, serving code and other tools act on the declared format: a release declared as "
        "safetensors (which cannot run code when loaded) that ships a pickle checkpoint, or a Keras "
        "model declared as ONNX, is not what it says, and the loader that is actually used may run "
        "code. A file in a format that can run code is reported at medium severity, any other "
        "mismatch at low.",
        "`model: {format: safetensors}` with `model/pytorch_model.bin` (a torch pickle checkpoint).",
        "Declare the format the model is actually in, or remove the files in other formats "
        "(convert pickles to safetensors); use `format: other` for a model in several formats.",
    ),
)

# Scanner formats (gate.scanner.interface.Format values, plus the main-format names the check
# reports) that hold model weights or graphs. Configs, text, templates, data and wrappers that
# only contain something else are not model formats.
PICKLE_FAMILY = frozenset({"pickle", "torch-zip", "torch-legacy", "torch-tar", "joblib-zfile"})
CODE_CAPABLE = PICKLE_FAMILY | {"keras", "torchscript"}
MODEL_FORMATS = CODE_CAPABLE | {"numpy", "safetensors", "onnx", "gguf", "hdf5"}

ACCEPTS: dict[ModelFormat, frozenset[str]] = {
    ModelFormat.SAFETENSORS: frozenset({"safetensors"}),
    ModelFormat.PYTORCH: PICKLE_FAMILY | {"torchscript"},
    ModelFormat.TORCHSCRIPT: frozenset({"torchscript", "torch-zip"}),
    ModelFormat.ONNX: frozenset({"onnx"}),
    ModelFormat.GGUF: frozenset({"gguf"}),
    ModelFormat.KERAS: frozenset({"keras", "hdf5"}),
    ModelFormat.HDF5: frozenset({"hdf5", "keras"}),
    ModelFormat.SKLEARN: PICKLE_FAMILY | {"numpy"},
    ModelFormat.JOBLIB: PICKLE_FAMILY | {"numpy"},
    ModelFormat.NUMPY: frozenset({"numpy"}),
    ModelFormat.PICKLE: PICKLE_FAMILY,
}


class ScanResult(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def formats(self) -> Sequence[str]: ...


def _in_model(path: str, scope: str) -> bool:
    return scope in ("", ".") or path == scope or path.startswith(scope.rstrip("/") + "/")


def format_findings(
    manifest: Manifest, results: Iterable[ScanResult], finding: Callable[..., Finding]
) -> tuple[list[Finding], dict[str, Any]]:
    """Findings for model files whose detected format the declared one does not cover, and the
    detected model formats per file (for the report's details)."""
    declared = manifest.model.format
    accepted = ACCEPTS.get(declared)
    scope = PurePosixPath(manifest.model.path).as_posix()
    detected: dict[str, list[str]] = {}
    out: list[Finding] = []
    for r in results:
        if not _in_model(r.path, scope):
            continue
        found = [f for f in dict.fromkeys(r.formats) if f in MODEL_FORMATS]
        if not found:
            continue
        detected[r.path] = found
        if accepted is None or accepted & set(found):
            continue
        runs_code = bool(CODE_CAPABLE & set(found))
        out.append(
            finding(
                "model-format-mismatch",
                f"'{r.path}' is {', '.join(found)}; release.yaml declares model.format {declared.value}",
                path=r.path,
                key=declared.value,
                evidence={"declared": declared.value, "detected": found, "can_run_code": runs_code},
                severity=Severity.MEDIUM if runs_code else Severity.LOW,
            )
        )
    return out, {"declared_format": declared.value, "detected_model_formats": detected}
