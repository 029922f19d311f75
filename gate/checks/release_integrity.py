"""Check `release-integrity`: the release is what its manifest says, and nothing else."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import Field

from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.escape import printable
from gate.inventory import Entry
from gate.models.base import StrictModel
from gate.models.finding import Finding, Severity, rule_maker
from gate.models.manifest import is_placeholder
from gate.models.policy import Stricter
from gate.wording import count
from gate.yamlsafe import YamlPath, format_path

CHECK = "release-integrity"

CODE_SUFFIXES = frozenset(
    {
        ".py",
        ".pyc",
        ".pyo",
        ".pyx",
        ".pyd",
        ".so",
        ".dylib",
        ".dll",
        ".exe",
        ".sh",
        ".bash",
        ".zsh",
        ".ps1",
        ".bat",
        ".cmd",
        ".js",
        ".mjs",
        ".rb",
        ".pl",
        ".jar",
        ".class",
        ".whl",
    }
)
# Magic numbers of native executables and scripts, so a renamed binary is still code.
CODE_MAGIC = {
    "7f454c46": "ELF executable or shared library",
    "4d5a": "Windows PE executable",
    "cffaedfe": "Mach-O binary",
    "feedfacf": "Mach-O binary",
    "cafebabe": "Mach-O universal binary or Java class",
    "2321": "script with a #! interpreter line",
}
HF_CONFIG_NAMES = frozenset(
    {
        "config.json",
        "tokenizer_config.json",
        "processor_config.json",
        "preprocessor_config.json",
        "generation_config.json",
    }
)
CONFIG_MAX_BYTES = 4 * 1024 * 1024


_rule = rule_maker(CHECK)


RULES = (
    _rule(
        "GATE-RI001",
        "declared-path-missing",
        Severity.HIGH,
        "A path that release.yaml declares does not exist in the release.",
        "Checks that rely on the file (signature, provenance, monitoring) cannot run, and a "
        "manifest that points at nothing usually means the release was assembled wrongly.",
        "`signature: model.sig` in release.yaml, with no model.sig in the release.",
        "Add the file, or correct or remove the path in release.yaml.",
    ),
    _rule(
        "GATE-RI002",
        "link-escapes-release",
        Severity.CRITICAL,
        "A symbolic link in the release points outside it, or nowhere.",
        "A link out of the release lets files nobody reviewed or signed be loaded as part of "
        "the model (for example ~/.ssh or a shared cache), and the digests describe the link, "
        "not what it reaches.",
        "`model/weights.bin -> /mnt/shared/weights.bin`.",
        "Replace the link with the file itself, or remove it.",
        technique=("LLM03:2025", "AML.T0010"),
        waivable=False,
    ),
    _rule(
        "GATE-RI003",
        "hard-linked-file",
        Severity.MEDIUM,
        "A file in the release has more than one hard link.",
        "A hard link can be changed through its other name, from outside the release, after "
        "the release was hashed and signed.",
        "`model.safetensors` with link count 2.",
        "Copy the file (`cp --no-preserve=links`) so the release owns its own bytes.",
    ),
    _rule(
        "GATE-RI004",
        "file-over-size-limit",
        Severity.HIGH,
        "A file is larger than the policy's size limit.",
        "Unexpectedly large files are how data dumps, caches and smuggled payloads ride along "
        "with a model, and they slow every later step.",
        "A 40 GB `checkpoint.tar` in a release whose policy allows 20 GB per file.",
        "Remove the file, shard it, or raise `max_file_size_mb` in the policy.",
    ),
    _rule(
        "GATE-RI005",
        "executable-code-in-release",
        Severity.HIGH,
        "The release contains executable code (Python, native libraries, scripts).",
        "Code shipped with a model runs with the serving process's rights when the model is "
        "loaded (e.g. Hugging Face remote code) or when someone runs it; it needs its own "
        "review.",
        "`modeling_custom.py` or `libops.so` next to the weights.",
        "Remove the code, or list its exact path under `allowed_code` in the policy after a code review.",
        technique=("LLM03:2025", "AML.T0011.000"),
    ),
    _rule(
        "GATE-RI006",
        "remote-code-reference",
        Severity.HIGH,
        "A Hugging Face config maps model classes to code in a repository (`auto_map`).",
        "With `trust_remote_code=True`, transformers imports and runs that code when the "
        "model loads; the code may live in another repository that can change at any time.",
        '`"auto_map": {"AutoModel": "other/repo--modeling.MyModel"}` in config.json.',
        "Use a model class that ships with transformers and remove `auto_map`, or review the "
        "code and allow the file in the policy.",
        technique=("LLM03:2025", "AML.T0011.000"),
    ),
    _rule(
        "GATE-RI007",
        "special-file-in-release",
        Severity.HIGH,
        "The release contains a device, FIFO or socket.",
        "Reading a FIFO or device can hang or feed arbitrary data to any tool that opens it.",
        "A named pipe `model/weights.bin` created with mkfifo.",
        "Remove it: a release holds regular files only.",
    ),
    _rule(
        "GATE-RI008",
        "model-path-empty",
        Severity.HIGH,
        "The model path declared in release.yaml holds no files.",
        "Every other check would judge an empty model and pass.",
        "`model: {path: model/}` with an empty model/ directory.",
        "Point `model.path` at the model files.",
    ),
    _rule(
        "GATE-RI009",
        "manifest-field-not-filled-in",
        Severity.HIGH,
        "A field of release.yaml still holds a placeholder (`TODO ...`, `TBD`, `FIXME`, `<...>`).",
        "The manifest is what reviewers, the model card, the BOM and the risk tier read: a "
        "placeholder where the description, the task or the intended use belongs means nobody "
        "stated what the model is for, and the tier may be scored from a guess. It blocks at "
        "every tier, whatever the policy says.",
        "`description: TODO one line on what the model does`, as `model-gate init` writes it.",
        "Write the real value, or delete an optional field you do not need.",
        always_blocks=True,
        waivable=False,
    ),
    _rule(
        "GATE-RI012",
        "file-name-not-printable",
        Severity.MEDIUM,
        "A file name in the release is not UTF-8, or holds control or invisible characters.",
        "Tools disagree about such names (some skip them, some cannot encode them), and a name "
        "with a newline or a bidirectional override reads differently in a log than on disk. "
        "The name is reported with each unprintable byte or character escaped.",
        "A file named `weights\\xff.bin` (byte 0xff) or `model\\n::error::x.pkl`.",
        "Rename the file to plain UTF-8 without control characters.",
    ),
)
MAX_PLACEHOLDER_FINDINGS = 50


class ReleaseIntegrityConfig(StrictModel):
    max_file_size_mb: Annotated[float, Stricter.MIN] = Field(
        51200, gt=0, description="Largest file allowed, in MiB."
    )
    allowed_code: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        (),
        description="Exact release-relative paths (or globs below a directory) of reviewed code.",
    )
    allow_remote_code: Annotated[bool, Stricter.ALL_TRUE] = Field(
        False, description="Whether an `auto_map` in Hugging Face configs is acceptable."
    )


def code_kind(entry: Entry) -> str | None:
    """Why this file counts as executable code, or None."""
    suffix = PurePosixPath(entry.path).suffix.lower()
    if suffix in CODE_SUFFIXES:
        return f"'{suffix}' file"
    for magic, what in CODE_MAGIC.items():
        if entry.magic.startswith(magic):
            return what
    return None


class ReleaseIntegrityCheck(Check[ReleaseIntegrityConfig]):
    id = CHECK
    title = "Release integrity"
    description = (
        "The manifest is valid and filled in, every declared path exists, nothing links out of the "
        "release, no file is over the size limit, and any code shipped with the model is declared."
    )
    rules = RULES

    def run(self, ctx: CheckContext[ReleaseIntegrityConfig]) -> CheckOutcome:
        cfg = ctx.config
        inv = ctx.release.inventory
        findings: list[Finding] = []
        mpath = "release.yaml"
        for field, rel in ctx.manifest.declared_paths():
            norm = PurePosixPath(rel).as_posix().rstrip("/")
            if not ctx.release.path(rel).exists():
                findings.append(
                    self.finding(
                        "declared-path-missing",
                        f"{field} points at '{rel}', which does not exist",
                        path=mpath,
                        line=ctx.release.line_of(field),
                        key=field,
                        detail=field,
                        evidence={"field": field, "path": rel},
                    )
                )
            elif field == "model.path" and not any(e.kind == "file" for e in inv.under(norm)):
                findings.append(
                    self.finding(
                        "model-path-empty",
                        f"model.path '{rel}' holds no files",
                        path=mpath,
                        line=ctx.release.doc.line_of(("model", "path")),
                        key=rel,
                    )
                )
        findings += self._placeholders(ctx)
        limit = int(cfg.max_file_size_mb * 1024 * 1024)
        for e in inv.entries:
            if printable(e.path) != e.path:
                findings.append(
                    self.finding(
                        "file-name-not-printable",
                        f"file name '{printable(e.path)}' is not printable UTF-8",
                        path=e.path,
                        evidence={"escaped": printable(e.path)},
                    )
                )
            if e.kind == "symlink":
                if e.link_escapes:
                    findings.append(
                        self.finding(
                            "link-escapes-release",
                            f"symlink '{e.path}' points outside the release ('{e.link_target}')",
                            path=e.path,
                            evidence={"target": e.link_target},
                        )
                    )
                continue
            if e.kind == "other":
                findings.append(
                    self.finding("special-file-in-release", f"'{e.path}' is not a regular file", path=e.path)
                )
                continue
            if e.nlink > 1:
                findings.append(
                    self.finding(
                        "hard-linked-file",
                        f"'{e.path}' has {e.nlink} hard links",
                        path=e.path,
                        evidence={"links": e.nlink},
                    )
                )
            if e.size > limit:
                findings.append(
                    self.finding(
                        "file-over-size-limit",
                        f"'{e.path}' is {e.size / 2**20:.0f} MiB, "
                        f"over the {cfg.max_file_size_mb:g} MiB limit",
                        path=e.path,
                        evidence={"bytes": e.size, "limit_bytes": limit},
                    )
                )
            kind = code_kind(e)
            if kind and not _allowed(e.path, cfg.allowed_code):
                findings.append(
                    self.finding(
                        "executable-code-in-release",
                        f"'{e.path}' is executable code ({kind})",
                        path=e.path,
                        evidence={"kind": kind, "sha256": e.sha256},
                    )
                )
            if PurePosixPath(e.path).name in HF_CONFIG_NAMES and not cfg.allow_remote_code:
                found = _auto_map(ctx.release.path(e.path), e.size)
                if found is not None:
                    findings.append(
                        self.finding(
                            "remote-code-reference",
                            f"'{e.path}' maps model classes to remote code: {found}",
                            path=e.path,
                            detail="auto_map",
                            evidence={"auto_map": found},
                        )
                    )
        n = len(inv.entries)
        summary = f"{count(n, 'file')}, {inv.total_bytes / 2**20:.1f} MiB; {count(len(findings), 'problem')}"
        return CheckOutcome(
            findings=findings,
            summary=summary,
            details={"files": n, "bytes": inv.total_bytes, "excluded": list(inv.excluded)},
        )

    def _placeholders(self, ctx: CheckContext[ReleaseIntegrityConfig]) -> list[Finding]:
        out = []
        for path, value in _strings(ctx.release.doc.data, ()):
            if not is_placeholder(value):
                continue
            field = format_path(path)
            shown = value if len(value) <= 80 else value[:77] + "..."
            out.append(
                self.finding(
                    "manifest-field-not-filled-in",
                    f"release.yaml field {field} is not filled in ({shown!r})",
                    path="release.yaml",
                    line=ctx.release.doc.line_of(path),
                    key=field,
                    detail=field,
                    evidence={"field": field, "value": shown},
                )
            )
            if len(out) >= MAX_PLACEHOLDER_FINDINGS:
                break
        return out


def _strings(node: Any, path: YamlPath) -> Iterator[tuple[YamlPath, str]]:
    """Every string value of a YAML document with its path (the manifest is bounded in size)."""
    stack: list[tuple[Any, YamlPath]] = [(node, path)]
    while stack:
        value, at = stack.pop()
        if isinstance(value, str):
            yield at, value
        elif isinstance(value, dict):
            stack.extend((v, (*at, str(k))) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((v, (*at, i)) for i, v in reversed(list(enumerate(value))))


def _allowed(path: str, allowed: tuple[str, ...]) -> bool:
    return any(path == a or fnmatch.fnmatchcase(path, a) for a in allowed)


def _auto_map(path: Any, size: int) -> str | None:
    """The `auto_map` of a Hugging Face JSON config, summarised; None when absent or unreadable."""
    if size > CONFIG_MAX_BYTES:
        return None
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None  # not our concern here: the model-file scanner reports unparsable files
    if isinstance(data, dict) and data.get("auto_map"):
        text = json.dumps(data["auto_map"], sort_keys=True)
        return text if len(text) <= 300 else text[:297] + "..."
    return None
