"""`model-gate init`: a commented release.yaml for an existing model folder.

It looks at what the folder already holds (model files by their bytes, a model-signing signature,
provenance, requirements and lock files, serving manifests, monitoring configuration, datasets, a
Hugging Face config) and fills release.yaml from it, saying in a comment where each value came
from. What it cannot know is left as `TODO`, which the release-integrity check blocks on until
someone writes the real value.

The folder is read, never executed or loaded: file heads are identified by the model-file
scanner's `identify`, YAML goes through the safe loader, and only regular files are opened.
"""

from __future__ import annotations

import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from gate.errors import InputError
from gate.models.manifest import MANIFEST_NAME, release_path_problem
from gate.safewrite import write_file
from gate.scanner.identify import HEAD_LARGE, identify
from gate.scanner.interface import Format

MAX_FILES = 20_000  # files looked at; a larger folder is probably not a model release
MAX_DEPTH = 12
MAX_YAML_BYTES = 1024 * 1024
MAX_JSON_BYTES = 4 * 1024 * 1024
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".cache"})

# Scanner formats that are model weights, and the release.yaml format they stand for.
WEIGHT_FORMATS = {
    Format.SAFETENSORS: "safetensors",
    Format.ONNX: "onnx",
    Format.GGUF: "gguf",
    Format.HDF5: "hdf5",
    Format.NUMPY: "numpy",
    Format.TORCH_LEGACY: "pytorch",
    Format.TORCH_TAR: "pytorch",
    Format.TORCH_ZIP: "pytorch",
}
# Pickles and zips are many things: the name (never the only evidence) says which.
PICKLE_SUFFIX_FORMAT = {
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".bin": "pytorch",
    ".ckpt": "pytorch",
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
}
COMPRESSED = frozenset({Format.JOBLIB_ZFILE, Format.ZLIB, Format.GZIP, Format.BZIP2, Format.XZ, Format.LZMA})
DATASET_SUFFIXES = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
LOCKFILES = ("pylock.toml", "uv.lock", "poetry.lock")
PROVENANCE_NAMES = ("provenance.json", "provenance.jsonl")
# Hugging Face architecture suffixes -> pipeline task.
ARCH_TASKS = (
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForConditionalGeneration", "text2text-generation"),
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForImageClassification", "image-classification"),
    ("ForObjectDetection", "object-detection"),
    ("ForCTC", "automatic-speech-recognition"),
    ("ForAudioClassification", "audio-classification"),
)


@dataclass
class Found:
    """What the folder holds, by release-relative POSIX path."""

    weights: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (format, bytes)
    signature: str | None = None
    provenance: str | None = None
    requirements: str | None = None
    lockfile: str | None = None
    serving: list[str] = field(default_factory=list)
    monitoring_config: str | None = None
    prometheus_rules: list[str] = field(default_factory=list)
    alertmanager: str | None = None
    otel_collector: str | None = None
    datasets: list[tuple[str, str]] = field(default_factory=list)  # (path, format)
    architecture: str | None = None
    task: str | None = None
    skipped: int = 0  # files not looked at (limits)
    # Files whose names a release.yaml path cannot hold (" x.bin", "a\\b"): left out, listed.
    unnameable: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Model:
    path: str
    format: str
    source: str  # how it was found, for the comment


def _walk(root: Path) -> list[tuple[str, os.stat_result]]:
    """Regular files below root (no symlinks followed, bounded), as (relative path, stat)."""
    out: list[tuple[str, os.stat_result]] = []
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack and len(out) < MAX_FILES:
        directory, depth = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if entry.name not in SKIP_DIRS and depth < MAX_DEPTH:
                    stack.append((Path(entry.path), depth + 1))
            elif stat.S_ISREG(st.st_mode):  # not links, FIFOs or devices: opening one could hang
                out.append((Path(entry.path).relative_to(root).as_posix(), st))
    return sorted(out)


def _head(path: Path, size: int = HEAD_LARGE) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, size)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _read_small(path: Path, limit: int) -> bytes | None:
    data = _head(path, limit + 1)
    return data if 0 < len(data) <= limit else None


def _zip_format(path: Path, name: str) -> str | None:
    if name.endswith(".keras"):
        return "keras"
    if name.endswith(".npz"):
        return "numpy"
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()[:10_000]
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    if any(n.endswith("/constants.pkl") or n.startswith("code/") for n in names):
        return "torchscript"
    if any(n.endswith("data.pkl") for n in names):
        return "pytorch"
    return None


def _weights_format(path: Path, rel: str, head: bytes, size: int) -> str | None:
    name = PurePosixPath(rel).name.lower()
    fmt = identify(head, size, name)
    if fmt in WEIGHT_FORMATS:
        return WEIGHT_FORMATS[fmt]
    if fmt is Format.ZIP:
        return _zip_format(path, name)
    suffix = PurePosixPath(name).suffix
    if fmt is Format.PICKLE:
        return PICKLE_SUFFIX_FORMAT.get(suffix, "pickle")
    if fmt in COMPRESSED and suffix == ".joblib":
        return "joblib"
    return None


def _yaml_docs(path: Path) -> list[Any]:
    from gate.yamlsafe import load_file_all

    try:
        return [d.data for d in load_file_all(path, max_bytes=MAX_YAML_BYTES)]
    except (InputError, OSError, RecursionError, ValueError):
        return []


def _classify_yaml(path: Path, rel: str, found: Found) -> None:
    from gate.checks.monitoring.spec import MonitoringSpec

    docs = [d for d in _yaml_docs(path) if isinstance(d, dict)]
    if not docs:
        return
    keys = set().union(*(d.keys() for d in docs))
    first = docs[0]
    if any("apiVersion" in d and "kind" in d for d in docs) or PurePosixPath(rel).name == "serving.yaml":
        found.serving.append(rel)
    elif isinstance(first.get("groups"), list) and any(
        isinstance(g, dict) and "rules" in g for g in first["groups"]
    ):
        found.prometheus_rules.append(rel)
    elif {"route", "receivers"} <= keys and found.alertmanager is None:
        found.alertmanager = rel
    elif {"receivers", "exporters", "service"} <= keys and found.otel_collector is None:
        found.otel_collector = rel
    elif (
        first.get("version") == 1
        and len((keys - {"version"}) & set(MonitoringSpec.model_fields)) >= 2
        and found.monitoring_config is None
    ):
        found.monitoring_config = rel


def _json_kind(path: Path) -> str | None:
    """'signature' for a Sigstore bundle or DSSE envelope of model-signing, 'provenance' for an
    in-toto statement about a build, else None. Only the document's own fields are read."""
    data = _read_small(path, MAX_JSON_BYTES)
    if data is None:
        return None
    try:
        doc = json.loads(data.splitlines()[0] if path.name.endswith(".jsonl") else data)
    except (ValueError, RecursionError, IndexError):
        return None
    if not isinstance(doc, dict):
        return None
    envelope = doc.get("dsseEnvelope") if isinstance(doc.get("dsseEnvelope"), dict) else doc
    payload = ""
    if isinstance(envelope, dict) and isinstance(envelope.get("payload"), str):
        import base64
        import binascii

        try:
            payload = base64.b64decode(envelope["payload"][:2_000_000], validate=False).decode(
                "utf-8", "replace"
            )
        except (binascii.Error, ValueError):
            payload = ""
    if "model_signing" in payload:
        return "signature"
    if "slsa.dev/provenance" in payload or "buildDefinition" in payload:
        return "provenance"
    return None


def detect(root: Path) -> Found:
    found = Found()
    files = _walk(root)
    if len(files) >= MAX_FILES:
        found.skipped = 1
    for rel, st in files:
        if rel == MANIFEST_NAME:
            continue
        if release_path_problem(rel) is not None:
            found.unnameable.append(rel)
            continue
        path = root / rel
        name = PurePosixPath(rel).name
        lname = name.lower()
        suffix = PurePosixPath(lname).suffix
        if _is_requirements(lname):
            # requirements.txt nearest the top wins over requirements-dev.txt and deeper ones
            rank = (lname != "requirements.txt", rel.count("/"), rel)
            if found.requirements is None or rank < _req_rank(found.requirements):
                found.requirements = rel
            continue
        if lname in LOCKFILES or (lname.startswith("pylock.") and lname.endswith(".toml")):
            found.lockfile = found.lockfile or rel
            continue
        if suffix in DATASET_SUFFIXES:
            found.datasets.append((rel, DATASET_SUFFIXES[suffix]))
            continue
        if suffix in (".yaml", ".yml"):
            _classify_yaml(path, rel, found)
            continue
        if lname == "config.json" and found.architecture is None:
            _hf_config(path, found)
            continue
        if lname.endswith((".intoto.jsonl", ".intoto.json")) or lname in (
            "provenance.json",
            "provenance.jsonl",
        ):
            found.provenance = found.provenance or rel
            continue
        if lname.endswith((".sig", ".sigstore", ".sigstore.json")):
            found.signature = rel if lname == "model.sig" else (found.signature or rel)
            continue
        head = _head(path)
        fmt = _weights_format(path, rel, head, st.st_size)
        if fmt is not None:
            found.weights[rel] = (fmt, st.st_size)
        elif suffix in (".json", ".jsonl") and head.lstrip()[:1] == b"{":
            kind = _json_kind(path)
            if kind == "signature" and found.signature is None:
                found.signature = rel
            elif kind == "provenance" and found.provenance is None:
                found.provenance = rel
    return found


def _is_requirements(lname: str) -> bool:
    return lname.startswith("requirements") and lname.endswith(".txt")


def _req_rank(rel: str) -> tuple[bool, int, str]:
    return (PurePosixPath(rel).name.lower() != "requirements.txt", rel.count("/"), rel)


def _hf_config(path: Path, found: Found) -> None:
    data = _read_small(path, MAX_JSON_BYTES)
    try:
        doc = json.loads(data) if data else None
    except (ValueError, RecursionError):
        return
    if not isinstance(doc, dict):
        return
    if isinstance(doc.get("model_type"), str):
        found.architecture = doc["model_type"][:100]
    archs = doc.get("architectures")
    if isinstance(archs, list) and archs and isinstance(archs[0], str):
        found.task = next((t for suffix, t in ARCH_TASKS if archs[0].endswith(suffix)), None)


def choose_model(found: Found) -> Model | None:
    """The directory (or single file) holding most weight bytes, and its main format."""
    by_dir: dict[str, dict[str, int]] = {}
    for rel, (fmt, size) in found.weights.items():
        parent = PurePosixPath(rel).parent.as_posix()
        key = rel if parent == "." else parent + "/"
        by_dir.setdefault(key, {}).setdefault(fmt, 0)
        by_dir[key][fmt] += size + 1
    if not by_dir:
        return None
    path, fmts = max(by_dir.items(), key=lambda kv: (sum(kv[1].values()), kv[0]))
    fmt = max(fmts.items(), key=lambda kv: (kv[1], kv[0]))[0]
    n = sum(1 for rel in found.weights if rel == path or rel.startswith(path))
    return Model(path=path, format=fmt, source=f"{n} {fmt} file(s) identified by their bytes")


_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n"})


def q(value: str) -> str:
    """A YAML scalar for any string (file names are the folder's, not ours): plain when it cannot
    be read as anything else, else double-quoted with every character outside printable ASCII
    escaped. JSON's form is not enough: it writes characters beyond the BMP as surrogate pairs,
    which YAML rejects. A lone surrogate (a non-UTF-8 byte of a file name) has no YAML form and
    becomes U+FFFD."""
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS and not _number(value):
        return value
    out = []
    for ch in value:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\uFFFD")
        elif code < 0x10000:
            out.append(f"\\u{code:04X}")
        else:
            out.append(f"\\U{code:08X}")
    return '"' + "".join(out) + '"'


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return value[:1].isdigit()  # 1_000, 0x1f, 1e3 and dates are YAML numbers or timestamps
    return True


def render(root: Path) -> str:
    """The release.yaml text for a folder."""
    found = detect(root)
    model = choose_model(found)
    name = root.resolve().name or "model"
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("-.") or "model"
    out = [
        "# release.yaml: what this model release declares about itself.",
        "# Written by `model-gate init` from what the folder holds; every value it could not find",
        "# says TODO, and `model-gate check` blocks until each is written (or the field deleted).",
        "# Every path is relative to this directory and must stay inside it.",
        '# Reference: README.md, section "release.yaml". Validate with: model-gate check .',
        "schema_version: 1",
        f"name: {q(safe)}            # a stable name for the model (from the folder name)",
        "version: 0.1.0          # the release version",
        "description: TODO one line on what the model does",
        "",
        "model:",
    ]
    if model is not None:
        out.append(f"  path: {q(model.path)}    # {model.source}")
        out.append(f"  format: {model.format}         # safetensors | pytorch | onnx | gguf | keras | ...")
    else:
        out.append("  path: TODO              # directory (or file) holding the model files: none found")
        out.append("  format: other           # safetensors | pytorch | onnx | gguf | keras | hdf5 | ...")
    if found.task:
        out.append(f"  task: {found.task}    # from the architecture in config.json")
    else:
        out.append("  task: TODO            # e.g. text-generation, text-classification")
    if found.architecture:
        out.append(f"  architecture: {q(found.architecture)}   # model_type in config.json")
    out.append("  # generative: false   # derived from task when unset")
    out += [
        "",
        "# base_model:           # what it was fine-tuned from, pinned",
        "#   source: hf://org/base-model",
        "#   revision: 0123abcd  # commit",
        "#   digest: sha256:...",
        "",
    ]
    if found.datasets:
        out.append("datasets:                 # data files found in the folder")
        for i, (rel, fmt) in enumerate(found.datasets):
            stem = PurePosixPath(rel).stem
            role = "evaluation" if any(w in rel.lower() for w in ("eval", "test", "valid")) else "fine-tuning"
            out += [
                f"  - name: {q(stem or f'dataset-{i + 1}')}",
                f"    role: {role}",
                f"    path: {q(rel)}",
                f"    format: {fmt}",
            ]
    else:
        out += [
            "# datasets:",
            "#   - name: fine-tuning-set",
            "#     source: s3://bucket/data.jsonl",
            "#     digest: sha256:...",
            "#     path: data/train.jsonl   # when shipped with the release",
        ]
    out += [
        "",
        "intended_use:",
        "  description: TODO who uses it, for what",
        "  users: []",
        "  use_cases: []",
        "  out_of_scope: []",
        "limitations: []",
        "",
        "# The deployment context decides the risk tier (model-gate tier .).",
        "deployment:",
        "  exposure: internal          # internal | partner | public",
        "  data_sensitivity: none      # none | internal | personal | financial | special-category",
        "  autonomy: advisory          # advisory | human-in-the-loop | autonomous",
        "  safety_critical: false",
        "  domains: []                 # ids of gate/data/risk.yaml, e.g. [employment]; others are errors",
        "  user_scale: 100             # expected users",
        "",
        "# endpoint:                   # what the adversarial suite attacks",
        "#   type: openai              # openai | rest | huggingface | callable",
        "#   url: http://127.0.0.1:8000/v1",
        "#   model: my-model",
        "#   api_key_env: MODEL_API_KEY",
        "",
    ]
    out.append(
        f"signature: {q(found.signature)}    # model-signing bundle found in the folder"
        if found.signature
        else "# signature: model.sig        # OpenSSF model-signing bundle (none found)"
    )
    out.append(
        f"provenance: {q(found.provenance)}   # in-toto / SLSA provenance found in the folder"
        if found.provenance
        else "# provenance: provenance.intoto.jsonl   # SLSA provenance (none found)"
    )
    out.append("serving:")
    if found.requirements:
        out.append(f"  requirements: {q(found.requirements)}   # found in the folder")
    else:
        out.append("  # requirements: requirements.txt")
    if found.lockfile:
        out.append(f"  lockfile: {q(found.lockfile)}   # found in the folder")
    out.append(_list("  manifests", found.serving, "Kubernetes manifests found in the folder"))
    out.append("monitoring:")
    out.append(
        f"  config: {q(found.monitoring_config)}   # the gate's monitoring declaration, found"
        if found.monitoring_config
        else "  # config: monitoring.yaml"
    )
    out.append(_list("  prometheus_rules", found.prometheus_rules, "Prometheus rule files found"))
    if found.alertmanager:
        out.append(f"  alertmanager: {q(found.alertmanager)}   # Alertmanager configuration, found")
    if found.otel_collector:
        out.append(f"  otel_collector: {q(found.otel_collector)}   # OpenTelemetry collector, found")
    if found.skipped:
        out.append(f"# The folder holds more than {MAX_FILES} files: only the first were looked at.")
    if found.unnameable:
        shown = ", ".join(repr(n) for n in found.unnameable[:5])
        more = f" and {len(found.unnameable) - 5} more" if len(found.unnameable) > 5 else ""
        out.append(
            f"# Left out, their names cannot be release paths (rename them to list them): {shown}{more}"
        )
    return "\n".join(out) + "\n"


def _list(key: str, items: list[str], comment: str) -> str:
    if not items:
        return f"{key}: []"
    return f"{key}: [{', '.join(q(i) for i in items)}]   # {comment}"


def write_template(path: Path, *, force: bool = False) -> Path:
    if not path.is_dir():
        raise InputError(f"{path}: not a directory")
    target = path / MANIFEST_NAME
    if target.exists() and not force:
        raise InputError(f"{target}: already exists", hint="Use --force to overwrite it.")
    text = render(path)
    write_file(target, text, what="release.yaml", overwrite=force)
    return target
