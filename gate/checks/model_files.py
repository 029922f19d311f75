"""Check `model-files`: no file in the release runs code when it is loaded.

Thin on purpose: it walks the release inventory, hands each file (identified
by content, starting from the inventory's magic bytes) to the scanner in
`gate.scanner`, and turns what the scanner saw into findings. The same
conversion serves `model-gate scan`.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from pydantic import Field, field_validator

from gate.checks.interface import Check, CheckContext, CheckOutcome
from gate.checks.model_format import FORMAT_RULES, format_findings
from gate.errors import CheckError
from gate.models.base import StrictModel
from gate.models.finding import Finding, Severity, rule_maker
from gate.models.policy import Stricter
from gate.wording import count

CHECK = "model-files"
MB = 1024 * 1024
PICKLE_TECH = ("LLM03:2025", "AML.T0010.003", "AML.T0011.000")


_rule = rule_maker(CHECK)


RULES = (
    _rule(
        "GATE-MF001",
        "unsafe-pickle-import",
        Severity.CRITICAL,
        "A pickle in a model file imports a callable that is not on the allowlist.",
        "Loading a pickle (torch.load, joblib.load, pickle.load, np.load with allow_pickle) imports every "
        "name it references and calls what the stream tells it to: a name outside what weights need "
        "(os.system, builtins.exec, importlib, marshal, runpy, ...) is how a model file runs code.",
        "`data.pkl` inside pytorch_model.bin with GLOBAL 'posix system' followed by REDUCE.",
        "Do not load the file. Re-export the weights as safetensors from a trusted copy; if the name is a "
        "class of your own that is safe to construct, add its exact name to `allow_pickle_callables`.",
        technique=PICKLE_TECH,
        waivable=False,
    ),
    _rule(
        "GATE-MF002",
        "unresolved-pickle-import",
        Severity.CRITICAL,
        "A pickle imports a name that is computed while loading, or through the copyreg extension registry.",
        "Legitimate pickles name what they import with constant strings. A module or attribute name taken "
        "from the result of a call, or an extension code, hides the real target from any static review.",
        "STACK_GLOBAL whose module name is the result of `getattr(...)`.",
        "Do not load the file; obtain the model in a format without code (safetensors).",
        technique=PICKLE_TECH,
        waivable=False,
    ),
    _rule(
        "GATE-MF003",
        "pickle-mutates-imported-object",
        Severity.CRITICAL,
        "A pickle sets attributes or items on an imported class or function itself (`BUILD`, "
        "`SETITEM` or `APPEND` on it).",
        "BUILD, SETITEM or APPEND on an imported object changes library code for the whole process, e.g. to "
        "plant a string that a later import resolves; weights never need it.",
        "GLOBAL 'numpy prod' then BUILD with {'a': 'os'}.",
        "Do not load the file.",
        technique=PICKLE_TECH,
        waivable=False,
    ),
    _rule(
        "GATE-MF004",
        "pickle-indirect-call",
        Severity.CRITICAL,
        "A pickle calls something that is not an imported name (a call result, a constant, a method).",
        "Calling the result of another call is how gadget chains turn an allowed lookup into code execution; "
        "ordinary model pickles only call allowlisted names directly.",
        "REDUCE whose callable is the result of `operator.attrgetter('system')(os)`.",
        "Do not load the file.",
        technique=PICKLE_TECH,
        waivable=False,
    ),
    _rule(
        "GATE-MF005",
        "malformed-model-file",
        Severity.HIGH,
        "A model file is truncated or does not follow its format (pickle, zip, npy, GGUF, ONNX, JSON, ...).",
        "Loaders act on what they read before an error: a truncated pickle can run its payload, then fail. "
        "A broken file also cannot be reviewed by tools that expect the format.",
        "A pickle that stops after `REDUCE` without STOP; a zip whose central directory is damaged.",
        "Re-export the file from the source; check the transfer was complete (compare digests).",
    ),
    _rule(
        "GATE-MF006",
        "scan-limit-exceeded",
        Severity.HIGH,
        "A file goes past a resource bound of the scanner (size, nesting, memo, header size, "
        "expansion ratio).",
        "Decompression bombs, deeply nested archives and giant pickles are used to exhaust scanners and "
        "loaders alike; what the scanner could not finish it cannot vouch for.",
        "A 20 KB gzip that expands to 10 GB; a pickle with ten million memo entries.",
        "Check the file; if it is genuine, raise the matching limit in the policy (`checks.model-files`).",
    ),
    _rule(
        "GATE-MF007",
        "unrecognised-model-file",
        Severity.MEDIUM,
        "A file's content matches no format the scanner knows.",
        "A file that cannot be classified cannot be vouched for; unknown binaries next to a model are where "
        "payloads hide. Whether that blocks is up to the policy.",
        "`model/weights.bin` holding random-looking bytes with no known header.",
        "Remove the file, convert it to a known format, or set a rule override for GATE-MF007.",
    ),
    _rule(
        "GATE-MF008",
        "suspicious-archive-structure",
        Severity.HIGH,
        "A zip or tar archive has structure loaders read differently: name mismatches between the central "
        "directory and local headers, duplicate names, encrypted members, bad CRCs, unusual flags, links.",
        "Scanners and loaders that read different headers see different files: the scanner passes one member "
        "while the loader runs another.",
        "pytorch_model.bin whose local header names `archive/data.pkl` but the directory names "
        "`archive/data.pk_`.",
        "Re-save the checkpoint with the library that made it.",
    ),
    _rule(
        "GATE-MF009",
        "invalid-safetensors-layout",
        Severity.HIGH,
        "A safetensors header breaks the format: bounds, duplicate keys, unknown dtypes, overlapping "
        "tensors, holes, sizes that do not match shapes.",
        "Parsers differ on malformed headers (which duplicate wins, what overlaps mean); a file that is not "
        "exactly valid may load as different weights in different tools, or crash them.",
        "Two tensors whose data_offsets overlap, or a header length past the end of the file.",
        "Re-save the tensors with the safetensors library.",
    ),
    _rule(
        "GATE-MF010",
        "onnx-external-data-escapes",
        Severity.CRITICAL,
        "An ONNX model reads external tensor data from outside its own directory (a `..` or absolute "
        "path, a symbolic or hard link).",
        "`location` paths with `..`, absolute paths or links make the runtime read arbitrary files "
        "(keys, credentials) into tensors that outputs can leak.",
        "An initializer with external data location `../../home/user/.ssh/id_rsa`.",
        "Save the model with its external data next to it (`onnx.save_model(..., location='model.data')`).",
        technique=("LLM03:2025", "AML.T0010"),
    ),
    _rule(
        "GATE-MF011",
        "onnx-custom-operator-domain",
        Severity.MEDIUM,
        "An ONNX model uses operators from a custom domain.",
        "Custom operators are native code that the runtime must load from a library; the model only works "
        "with that library and inherits its risk.",
        "A node with domain `com.example.ops`.",
        "Use standard operators, or list the reviewed domain under `onnx_allowed_domains`.",
    ),
    _rule(
        "GATE-MF012",
        "template-reaches-python-internals",
        Severity.CRITICAL,
        "A chat template (GGUF metadata, tokenizer_config.json, .jinja file) reaches Python internals, or "
        "uses what a chat template never needs: an attribute or item key computed at render time, a name "
        "starting with `_`, a filter or test outside transformers' sandbox, another template.",
        "Templates are rendered when the model is used. Attribute chains such as `__class__.__mro__` or "
        "`cycler.__init__.__globals__.os` execute code in loaders that render without a sandbox "
        "(CVE-2024-34359) and probe the limits of those that do; the names can be assembled while "
        "rendering (`'_' * 2 ~ 'init' ~ '_' * 2`, `join`, `replace`, the caller's variables), so only an "
        "allowlist of constant keys holds.",
        "`{% set k = '_' * 2 ~ 'globals' ~ '_' * 2 %}{{ namespace.__init__[k] }}` in a chat template.",
        "Replace the template with one that only reads message fields.",
        technique=("LLM03:2025", "AML.T0011.000"),
        waivable=False,
    ),
    _rule(
        "GATE-MF013",
        "keras-lambda-layer",
        Severity.CRITICAL,
        "A Keras model (.keras or .h5) contains a Lambda layer or a serialized Python function.",
        "Lambda layers store Python bytecode or source that runs when the model is loaded with "
        "safe_mode off, in every Keras 2 load, and through known bypasses of safe mode.",
        "A `Lambda` layer nested inside a functional sub-model.",
        "Replace the Lambda layer with a registered custom layer whose code you ship and review separately.",
        technique=("LLM03:2025", "AML.T0011.000"),
        waivable=False,
    ),
    _rule(
        "GATE-MF014",
        "keras-external-reference",
        Severity.CRITICAL,
        "A Keras config references a module or function outside Keras.",
        "Keras imports the named module and looks up the named object when it deserialises the config, "
        "so a reference to `builtins`, `os` or a third-party package runs that code.",
        '`{"module": "builtins", "class_name": "function", "config": "exec"}` in config.json.',
        "Use only Keras layers; ship custom objects as reviewed code, not config references.",
        technique=("LLM03:2025", "AML.T0011.000"),
    ),
    _rule(
        "GATE-MF015",
        "torchscript-embedded-code",
        Severity.MEDIUM,
        "A TorchScript archive carries code that runs when it is loaded.",
        "torch.jit.load compiles and runs the archive's code/ files; TorchScript is a restricted language "
        "but it can call registered native operators, so the code needs a review like any other.",
        "A `model.pt` produced by torch.jit.save with `code/__torch__/...py` members.",
        "Ship weights (safetensors) and model code separately, or accept the review with a rule override.",
    ),
    _rule(
        "GATE-MF016",
        "remote-code-in-model-files",
        Severity.MEDIUM,
        "Model files include Python modules or an `auto_map` that loaders import with trust_remote_code.",
        "transformers imports `modeling_*.py` and classes named in `auto_map` when trust_remote_code is on: "
        "that code runs with the serving process's rights. Medium, so the policy decides: in a release, "
        "release-integrity already blocks shipped code and auto_map (GATE-RI005, GATE-RI006).",
        "`modeling_custom.py` next to config.json with `auto_map`.",
        "Use a model class that ships with transformers, or review the code and override the rule.",
    ),
    _rule(
        "GATE-MF017",
        "numpy-object-array",
        Severity.MEDIUM,
        "A .npy file (or .npz member) holds an array of Python objects, stored as a pickle (which is "
        "analysed too).",
        "np.load(allow_pickle=True) unpickles it; numeric weights never need object arrays. The embedded "
        "pickle is also analysed and reported on its own.",
        "`embeddings.npy` with dtype `object`.",
        "Save numeric arrays with a numeric dtype.",
    ),
    _rule(
        "GATE-MF018",
        "trailing-data",
        Severity.LOW,
        "A file carries bytes after the end of its format's structure.",
        "Loaders ignore them, so they are a place to smuggle data or a second payload past reviewers.",
        "Bytes after the last storage of a legacy PyTorch checkpoint.",
        "Re-save the file with the library that made it.",
    ),
    _rule(
        "GATE-MF019",
        "polyglot-model-file",
        Severity.HIGH,
        "A file is valid as two or more formats at once (a zip found from its end record behind an image "
        "or pickle, a tar header by checksum in front of a pickle, ...).",
        "Loaders look in different places: zip readers (Keras, zipfile) find the archive from the end, "
        "torch.load tries a tar header at offset 0 before anything else, pickle.load starts at byte 0, "
        "image viewers read the head. A reviewer or scanner that reads one of these sees an inert file "
        "while another loader runs the payload. Each format is also analysed on its own.",
        "`preview.gif` that is a GIF to an image viewer and a `.keras` archive with a Lambda layer to "
        "`keras.saving.load_model`.",
        "Ship each artefact as one plain file in its own format; re-save the model with its library.",
        technique=("LLM03:2025", "AML.T0010"),
    ),
    _rule(
        "GATE-MF020",
        "file-changed-while-checked",
        Severity.CRITICAL,
        "Bytes the scanner read differ from the bytes the release inventory hashed (and signatures "
        "verified): the file was replaced or rewritten during the check.",
        "Signatures, provenance and the verdict are bound to the inventory's digests. If the scanner judged "
        "other bytes, a writer swapping the file mid-run gets malicious bytes signed and benign bytes "
        "scanned. Every chunk the scanner reads is proved against the hash states of the inventory's "
        "single pass, so any difference is caught, however the file was changed.",
        "A process renames a benign copy over `model.bin` after it was hashed and before it is scanned.",
        "Check a release directory nothing else writes to (a fresh checkout or a read-only copy), then run "
        "the check again.",
        technique=("LLM03:2025", "AML.T0010"),
        waivable=False,
    ),
)


class ModelFilesConfig(StrictModel):
    # An allowlist, so it narrows; the default policy delegates it to the policy that extends it.
    # Entries are bounded by the validator: only vetted inert constructors, never an arbitrary name.
    allow_pickle_callables: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        (),
        description="Exact names (module.Class) pickles may also import, from the vetted list of inert "
        "constructors (gate/data/pickle_vetted_callables.yaml). No wildcards, nothing else.",
    )
    onnx_allowed_domains: Annotated[tuple[str, ...], Stricter.INTERSECTION] = Field(
        (), description="Custom ONNX operator domains that were reviewed."
    )
    max_decompressed_mb: Annotated[float, Stricter.MIN] = Field(
        4096, gt=0, description="Most bytes one compressed payload or archive may expand to, in MiB."
    )
    max_compression_ratio: Annotated[int, Stricter.MIN] = Field(
        200, gt=1, description="Largest expansion ratio before a payload counts as a decompression bomb."
    )
    max_nesting_depth: Annotated[int, Stricter.MIN] = Field(
        4, ge=0, le=32, description="Archives and wrappers inside each other, at most."
    )
    max_memo_entries: Annotated[int, Stricter.MIN] = Field(
        1_000_000, gt=0, description="Pickle memo entries, at most."
    )
    max_pickle_mb: Annotated[float, Stricter.MIN] = Field(
        2048, gt=0, description="Largest pickle stream analysed, in MiB."
    )
    max_header_mb: Annotated[float, Stricter.MIN] = Field(
        100, gt=0, description="Largest safetensors/GGUF/npy header, in MiB."
    )
    max_json_mb: Annotated[float, Stricter.MIN] = Field(
        64, gt=0, description="Largest JSON config or template file analysed, in MiB."
    )
    max_archive_members: Annotated[int, Stricter.MIN] = Field(
        100_000, gt=0, description="Members in one zip or tar archive, at most."
    )

    @field_validator("allow_pickle_callables")
    @classmethod
    def _exact_names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from gate.scanner.vetted import policy_entry_problem

        for name in v:
            problem = policy_entry_problem(name)
            if problem:
                raise ValueError(problem)
        return v

    def settings(self) -> Any:
        from gate.scanner.allowlist import effective, shipped
        from gate.scanner.interface import settings_from

        return settings_from(
            self.model_dump(), effective(self.allow_pickle_callables), shipped().reference_only
        )


def findings_for(result: Any, sha256: str | None = None) -> list[Finding]:
    """The findings for one file's scan result; shared by the check and `model-gate scan`."""
    from gate.scanner.allowlist import fix_hint

    out: list[Finding] = []
    for issue in result.issues:
        evidence: dict[str, Any] = {"formats": list(result.formats)}
        for k in ("member", "offset", "opcode", "name"):
            v = getattr(issue, k)
            if v not in (None, ""):
                evidence[k] = v
        evidence.update(issue.evidence)
        if sha256:
            evidence["sha256"] = sha256
        where = issue.where()
        key = "|".join(str(x) for x in (issue.member, issue.name or issue.message, issue.opcode or ""))
        out.append(
            ModelFilesCheck.finding(
                issue.kind.value,
                f"{result.path}{' (' + issue.member + ')' if issue.member else ''}: {issue.message}",
                path=result.path,
                detail=where or None,
                key=key,
                evidence=evidence,
                reproduction=f"model-gate scan {result.path}" if result.path else None,
                mitigation=fix_hint(issue.name) if issue.kind.value == "unsafe-pickle-import" else None,
            )
        )
    return out


def _main_format(formats: list[str]) -> str:
    """The most telling name for a file's format: a torch checkpoint rather than 'zip'."""
    if not formats:
        return "?"
    if formats[0] == "zip" and len(formats) > 1 and formats[1] in ("torch-zip", "torchscript", "keras"):
        return formats[1]
    return formats[0]


class ModelFilesCheck(Check[ModelFilesConfig]):
    id = CHECK
    title = "Model files"
    description = (
        "Every file is identified by its content and analysed without being loaded: pickle opcodes "
        "against an allowlist, archive structure, safetensors layout, ONNX external data, chat templates, "
        "Keras configs."
    )
    rules = (*RULES, *FORMAT_RULES)

    def run(self, ctx: CheckContext[ModelFilesConfig]) -> CheckOutcome:
        from gate.scanner.allowlist import shipped
        from gate.scanner.interface import AnalysisError
        from gate.scanner.scan import FileInfo, analyse_file, resolve_claims

        cfg = ctx.config
        settings = cfg.settings()
        results = []
        digests: dict[str, str | None] = {}
        errors: list[str] = []
        links = 0
        for e in ctx.release.inventory.entries:
            if e.kind != "file":
                links += e.kind == "symlink"
                continue
            digests[e.path] = e.sha256
            seal = ctx.release.inventory.seal(e.path)
            info = FileInfo(ctx.release.path(e.path), e.path, e.size, bytes.fromhex(e.magic), seal)
            try:
                results.append(analyse_file(info, settings))
            except AnalysisError as exc:
                errors.append(str(exc))
        if errors:
            raise CheckError(
                f"{len(errors)} file(s) could not be analysed: " + "; ".join(errors[:5]),
                hint="A model file that cannot be analysed is not passed.",
            )
        findings: list[Finding] = []
        formats: Counter[str] = Counter()
        read = 0
        resolved = resolve_claims(results)
        for r in resolved:
            findings += findings_for(r, digests.get(r.path))
            formats[_main_format(r.formats)] += 1
            read += r.bytes_read
        declared, declared_details = format_findings(ctx.manifest, resolved, self.finding)
        findings += declared
        total = ctx.release.inventory.total_bytes
        summary = (
            f"{len(results)} files analysed ({', '.join(f'{n} {k}' for k, n in formats.most_common())}); "
            f"read {read / MB:.1f} of {total / MB:.1f} MiB; {count(len(findings), 'problem')}"
        )
        return CheckOutcome(
            findings=findings,
            summary=summary,
            details={
                "files": len(results),
                "formats": dict(formats),
                "bytes_analysed": read,
                "symlinks_not_followed": links,
                "allowlist_revision": shipped().revision,
                "extra_allowed": list(cfg.allow_pickle_callables),
                **declared_details,
            },
        )
