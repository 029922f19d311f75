"""One row model for every dataset shape, and the normalisation into it.

Instruction/response pairs (Alpaca, prompt/completion), chat transcripts
(`messages` with role/content, ShareGPT's from/value) and text + label rows
all become a `Row`: what the model is shown (`prompt`, `system`), what it
learns to produce (`response`) and the class it learns (`label`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from gate.models.base import StrictModel


@dataclass(slots=True)
class Row:
    n: int  # row number as reported: line for JSONL/CSV (where the record starts), 1-based index for Parquet
    prompt: str
    response: str = ""
    system: str = ""
    label: str | None = None
    offset: int | None = None  # byte offset of the row's first byte (JSONL, CSV); None for Parquet


class FieldMap(StrictModel):
    """Which columns or keys hold what, tried in order; the first one present wins."""

    messages: tuple[str, ...] = Field(
        ("messages", "conversations", "conversation", "chat"),
        description="Keys holding a chat transcript: a list of {role, content} (or {from, value}).",
    )
    prompt: tuple[str, ...] = Field(
        ("instruction", "prompt", "question", "query"),
        description="Keys holding the instruction or prompt.",
    )
    prompt_extra: tuple[str, ...] = Field(
        ("input", "context"),
        description="Keys appended to the prompt when present (Alpaca's `input`).",
    )
    text: tuple[str, ...] = Field(
        ("text", "sentence", "content", "document", "review", "body"),
        description="Keys holding the text of text + label rows (used when no prompt key is present).",
    )
    response: tuple[str, ...] = Field(
        ("output", "response", "completion", "answer", "chosen"),
        description="Keys holding the response the model learns to produce.",
    )
    system: tuple[str, ...] = Field(("system", "system_prompt"), description="Keys holding a system prompt.")
    label: tuple[str, ...] = Field(
        ("label", "labels", "class", "category", "target", "sentiment"),
        description="Keys holding the class label.",
    )

    def columns(self) -> tuple[str, ...]:
        return (
            *self.messages,
            *self.prompt,
            *self.prompt_extra,
            *self.text,
            *self.response,
            *self.system,
            *self.label,
        )


class RowError(ValueError):
    """A row that cannot be normalised; the message is the one-line reason."""


SYSTEM_ROLES = frozenset({"system", "developer"})
USER_ROLES = frozenset({"user", "human", "prompter", "tool", "function", "ipython"})
ASSISTANT_ROLES = frozenset({"assistant", "gpt", "bot", "model", "chatbot"})


def _text(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    raise RowError(f"field '{key}' is {_kind(value)}, expected text")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _label(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, list) and all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        return ",".join(sorted(str(v) for v in value))
    raise RowError(f"field '{key}' is {_kind(value)}, expected a label (text or integer)")


def _content(part: Any, key: str, i: int) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, list):  # multimodal content: [{"type": "text", "text": ...}, ...]
        texts = [p.get("text") for p in part if isinstance(p, dict)]
        return "\n".join(t for t in texts if isinstance(t, str))
    if part is None:
        return ""
    raise RowError(f"{key}[{i}] content is {_kind(part)}, expected text")


def _messages(value: Any, key: str) -> tuple[str, str, str]:
    if not isinstance(value, list):
        raise RowError(f"field '{key}' is {_kind(value)}, expected a list of messages")
    system: list[str] = []
    prompt: list[str] = []
    response: list[str] = []
    for i, msg in enumerate(value):
        if not isinstance(msg, Mapping):
            raise RowError(f"{key}[{i}] is {_kind(msg)}, expected a message object")
        role = msg.get("role", msg.get("from"))
        if not isinstance(role, str):
            raise RowError(f"{key}[{i}] has no role")
        text = _content(msg.get("content", msg.get("value")), key, i)
        r = role.lower()
        if r in SYSTEM_ROLES:
            system.append(text)
        elif r in ASSISTANT_ROLES:
            response.append(text)
        elif r in USER_ROLES:
            prompt.append(text)
        else:
            raise RowError(f"{key}[{i}] has unknown role '{role[:40]}'")
    if not prompt and not response:
        raise RowError(f"field '{key}' holds no user or assistant message")
    return "\n".join(system), "\n".join(prompt), "\n".join(response)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which key plays which part, for one set of keys (rows of a dataset share their keys)."""

    label: str | None
    system: str | None
    messages: str | None
    prompt: str | None
    extra: str | None
    response: str | None


_PLANS: dict[tuple[int, tuple[str, ...]], _Plan] = {}


def _plan(keys: tuple[str, ...], fields: FieldMap) -> _Plan:
    cache_key = (id(fields), keys)
    plan = _PLANS.get(cache_key)
    if plan is not None:
        return plan
    have = set(keys)

    def first(options: tuple[str, ...]) -> str | None:
        return next((k for k in options if k in have), None)

    prompt = first(fields.prompt) or first(fields.text)
    extra = next((k for k in fields.prompt_extra if k in have and k != prompt), None)
    plan = _Plan(
        first(fields.label),
        first(fields.system),
        first(fields.messages),
        prompt,
        extra,
        first(fields.response),
    )
    if len(_PLANS) > 1024:  # hostile data with ever-changing keys: keep the cache bounded
        _PLANS.clear()
    _PLANS[cache_key] = plan
    return plan


def normalise(obj: Any, n: int, fields: FieldMap, offset: int | None = None) -> Row:
    """Turn one parsed record (a mapping of column -> value) into a Row, or raise RowError."""
    if not isinstance(obj, Mapping):
        raise RowError(f"row is {_kind(obj)}, expected an object")
    plan = _plan(tuple(obj), fields)
    label = _label(obj[plan.label], plan.label) if plan.label else None
    system = _text(obj[plan.system], plan.system) if plan.system else ""
    if plan.messages and obj[plan.messages] is not None:
        sys_, prompt, response = _messages(obj[plan.messages], plan.messages)
        return Row(n, prompt, response, "\n".join(s for s in (system, sys_) if s), label, offset)
    if plan.prompt is None:
        raise RowError(
            "row has no text field (expected one of: " + ", ".join(fields.prompt + fields.text) + ")"
        )
    value = obj[plan.prompt]
    prompt = value if type(value) is str else _text(value, plan.prompt)
    if plan.extra:
        extra = _text(obj[plan.extra], plan.extra)
        if extra:
            prompt = f"{prompt}\n{extra}"
    response = _text(obj[plan.response], plan.response) if plan.response else ""
    return Row(n, prompt, response, system, label, offset)
