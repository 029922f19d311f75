"""Value types shared by every format analyser.

An analyser reads one file (or one member of a container) and returns what it
saw as `Issue`s: plain values that the `model-files` check and `model-gate scan`
turn into findings. "Could not analyse" is an exception (`AnalysisError`); a
hostile or broken file is an issue, never an exception.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from gate.scanner.stream import OverLimit


class Format(StrEnum):
    """What a file is, decided from its content (magic bytes and structure)."""

    PICKLE = "pickle"
    TORCH_ZIP = "torch-zip"
    TORCH_LEGACY = "torch-legacy"
    TORCH_TAR = "torch-tar"
    ZIP = "zip"  # npz, .keras and any other zip: members are identified one by one
    NUMPY = "numpy"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    LZMA = "lzma"
    ZLIB = "zlib"
    JOBLIB_ZFILE = "joblib-zfile"
    SAFETENSORS = "safetensors"
    ONNX = "onnx"
    GGUF = "gguf"
    HDF5 = "hdf5"
    JSON = "json"
    JINJA = "jinja"
    PYTHON = "python"
    TEXT = "text"
    DATA = "data"  # inert data with a known layout: images, sentencepiece tokenizer models
    EMPTY = "empty"
    UNKNOWN = "unknown"


class IssueKind(StrEnum):
    """The problems an analyser can report; each maps to one rule of the check."""

    UNSAFE_IMPORT = "unsafe-pickle-import"
    UNRESOLVED_IMPORT = "unresolved-pickle-import"
    MUTATES_IMPORT = "pickle-mutates-imported-object"
    INDIRECT_CALL = "pickle-indirect-call"
    MALFORMED = "malformed-model-file"
    LIMIT = "scan-limit-exceeded"
    UNRECOGNISED = "unrecognised-model-file"
    ARCHIVE = "suspicious-archive-structure"
    SAFETENSORS = "invalid-safetensors-layout"
    ONNX_EXTERNAL = "onnx-external-data-escapes"
    ONNX_DOMAIN = "onnx-custom-operator-domain"
    TEMPLATE = "template-reaches-python-internals"
    KERAS_LAMBDA = "keras-lambda-layer"
    KERAS_EXTERNAL = "keras-external-reference"
    TORCHSCRIPT = "torchscript-embedded-code"
    REMOTE_CODE = "remote-code-in-model-files"
    OBJECT_ARRAY = "numpy-object-array"
    TRAILING = "trailing-data"
    POLYGLOT = "polyglot-model-file"
    CHANGED = "file-changed-while-checked"


@dataclass(frozen=True)
class Issue:
    kind: IssueKind
    message: str
    member: str = ""  # path inside an archive or wrapper, "" for the file itself
    offset: int | None = None  # byte offset inside the member (or file)
    opcode: str | None = None
    name: str | None = None  # resolved import, template attribute, layer class, ...
    evidence: dict[str, Any] = field(default_factory=dict)

    def where(self) -> str:
        parts = [p for p in (self.member, f"offset {self.offset}" if self.offset is not None else "") if p]
        return ", ".join(parts)


def limit_issue(exc: OverLimit, member: str) -> Issue:
    """The issue for an analysis that a resource bound stopped."""
    return Issue(IssueKind.LIMIT, f"analysis stopped: {exc}", member=member, evidence={"limit": exc.what})


@dataclass(frozen=True)
class Limits:
    """Resource bounds: exceeding one ends that analysis with a `scan-limit-exceeded` issue."""

    max_decompressed_bytes: int = 4 * 1024**3
    max_compression_ratio: int = 200
    max_nesting_depth: int = 4
    max_memo_entries: int = 1_000_000
    max_stack_depth: int = 1_000_000
    max_container_items: int = 100_000  # items kept per symbolic container (the rest are counted)
    max_pickle_bytes: int = 2 * 1024**3
    max_header_bytes: int = 100 * 1024**2  # safetensors header, GGUF metadata, npy header
    max_json_bytes: int = 64 * 1024**2
    max_archive_members: int = 100_000
    max_template_bytes: int = 1024**2


@dataclass(frozen=True)
class Settings:
    """Everything an analysis depends on besides the bytes."""

    allowlist: frozenset[str]
    limits: Limits = field(default_factory=Limits)
    onnx_allowed_domains: frozenset[str] = frozenset()
    reference_only: frozenset[str] = frozenset()  # importable as values, never called (numpy ufuncs)


MB = 1024 * 1024


def settings_from(
    cfg: Mapping[str, Any], allowlist: frozenset[str], reference_only: frozenset[str] = frozenset()
) -> Settings:
    """Settings from the `model-files` policy section (validated, as `ModelFilesConfig` dumps it)."""
    return Settings(
        allowlist=allowlist,
        limits=Limits(
            max_decompressed_bytes=int(cfg["max_decompressed_mb"] * MB),
            max_compression_ratio=cfg["max_compression_ratio"],
            max_nesting_depth=cfg["max_nesting_depth"],
            max_memo_entries=cfg["max_memo_entries"],
            max_pickle_bytes=int(cfg["max_pickle_mb"] * MB),
            max_header_bytes=int(cfg["max_header_mb"] * MB),
            max_json_bytes=int(cfg["max_json_mb"] * MB),
            max_archive_members=cfg["max_archive_members"],
        ),
        onnx_allowed_domains=frozenset(cfg["onnx_allowed_domains"]),
        reference_only=reference_only - allowlist,
    )


@dataclass
class Result:
    """What the analysis of one file found. `formats` lists what was recognised, outermost first."""

    path: str
    formats: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)  # files this one loads (ONNX external data), relative


class AnalysisError(Exception):
    """The file could not be analysed at all (I/O error, missing parser library)."""


@dataclass
class Target:
    """One thing to analyse: a file on disk or a member of a container already opened."""

    display: str  # for messages: the member path inside the outer file, "" for the file itself
    size: int
    head: bytes  # the first bytes, for identification
    open: Callable[[], IO[bytes]]
    path: Path | None = None  # set when the target is a real file (ONNX external data, h5py)
    name: str = ""  # base name, a hint only (jinja templates, remote code modules)
    depth: int = 0


def bytes_target(display: str, data: bytes, name: str = "", depth: int = 0) -> Target:
    return Target(display, len(data), data[:512], lambda: io.BytesIO(data), None, name, depth)


class Context:
    """Passed through the analysers: settings, the result being filled, and dispatch for nesting."""

    def __init__(self, settings: Settings, result: Result, dispatch: Callable[[Target, Context], None]):
        self.settings = settings
        self.result = result
        self._dispatch = dispatch

    @property
    def limits(self) -> Limits:
        return self.settings.limits

    def add(self, issue: Issue) -> None:
        self.result.issues.append(issue)

    def nested(self, target: Target) -> None:
        """Analyse a member or a decompressed payload, one nesting level deeper."""
        if target.depth > self.limits.max_nesting_depth:
            self.add(
                Issue(
                    IssueKind.LIMIT,
                    f"nesting deeper than {self.limits.max_nesting_depth} levels; not analysed",
                    member=target.display,
                    evidence={"limit": "max_nesting_depth"},
                )
            )
            return
        self._dispatch(target, self)
