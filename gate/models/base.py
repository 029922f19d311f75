"""The base model and the translation of validation errors into one-line reasons."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from gate.models.yamlpath import YamlPath, format_path


class StrictModel(BaseModel):
    """Frozen, unknown keys rejected: what every boundary model inherits."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class LineIndex(Protocol):
    """A parsed document that knows the line of each value (gate.yamlsafe.YamlDoc)."""

    def line_of(self, path: YamlPath) -> int | None: ...


def describe_validation_error(
    exc: ValidationError, source: str, doc: LineIndex | None = None, prefix: tuple[Any, ...] = ()
) -> list[str]:
    """Each validation problem as 'file:line: field: reason'."""
    out = []
    # Unknown keys first: a typo shows up as both, and the unknown key names the cause.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    for err in errors:
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        full = (*prefix, *loc)
        line = doc.line_of(full) if doc else None
        where = f"{source}:{line}" if line else source
        kind = err["type"]
        if kind == "extra_forbidden":
            reason = "unknown key"
        elif kind == "missing":
            reason = "required field is missing"
        else:
            reason = err["msg"]
            if "input" in err and kind not in ("model_type", "dict_type") and _short(err["input"]):
                reason += f" (got {_short(err['input'])})"
        out.append(f"{where}: {format_path(full)}: {reason}")
    return out


def _short(value: Any) -> str:
    if isinstance(value, dict | list):
        return ""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
