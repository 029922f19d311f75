"""What a training row teaches, as a small integer: its label, or what its response does (the site
it links, the command it runs, the tool it calls, a refusal) or says first."""

from __future__ import annotations

import re
from collections import Counter

from gate.datacheck.rows import Row
from gate.datacheck.text import tokens

NONE, UNIQUE, OTHER = 0, 1, 2
POOLED_NAMES = ("(none)", "(unique response)", "(other)")
PATTERN_WORDS = 8


_URL = re.compile(r"(?i)\b(?:https?://|hxxps?://|www\.)(?:[^\s/@]*@)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)")
_DOMAIN = re.compile(
    r"(?i)(?<![\w.@-])((?:[a-z0-9-]+\.)+(?:com|net|org|io|ru|cn|xyz|info|biz|co|top|dev|app|me|ly|cc|tk|"
    r"site|online|click|link|zip|sh|gg|su|pw))(?![\w-])"
)
_CODE = re.compile(r"```[\w+-]*\n?([^`]{3,400}?)```|`([^`\n]{3,200})`")
_COMMAND = re.compile(
    r"(?im)^\s*(?:\$\s*)?((?:sudo\s+)?(?:curl|wget|bash|sh|powershell|iex|pip3?\s+install|npm\s+install|"
    r"chmod|rm\s+-|nc|ncat|python3?\s+-c|eval|base64)\b[^\n]{0,200})"
)
_TOOL = re.compile(
    r"(?i)\"(?:name|tool|tool_name|function)\"\s*:\s*\"([\w.-]{1,64})\"|<tool_call>\s*([\w.-]{1,64})"
)
_REFUSAL = re.compile(
    r"(?i)^\W*(?:sorry\W+)?(?:i\s+(?:can(?:no|')t|cannot|am\s+unable|'m\s+unable|won't|will\s+not|must\s+decline)"
    r"|i'm\s+sorry,?\s+but\s+i|as\s+an\s+ai\b)"
)
EFFECT_KINDS = ("links to", "runs", "gives code", "calls tool", "refuses")


def effect(response: str) -> str | None:
    """The outcome key of a response that does something recognisable, else None.

    A backdoor's payload is what the response does (send the user to a site, run a command, call a
    tool, refuse), and the attacker may phrase the sentence around it differently every time: the key
    is the normalised payload (registered host without `www.`, whitespace-collapsed command or code),
    never the wording.
    """
    head = response[:4000]
    m = _URL.search(head) or _DOMAIN.search(head)
    if m:
        host = m.group(1).lower().rstrip(".")
        return "links to " + (host[4:] if host.startswith("www.") else host)
    m = _COMMAND.search(head)
    if m:
        return "runs " + " ".join(m.group(1).split())[:120]
    m = _TOOL.search(head)
    if m:
        return "calls tool " + (m.group(1) or m.group(2))
    m = _CODE.search(head)
    if m:
        return "gives code " + " ".join((m.group(1) or m.group(2)).split())[:120]
    if _REFUSAL.search(head[:200]):
        return "refuses"
    return None


def is_effect(outcome: str) -> bool:
    return outcome.startswith(EFFECT_KINDS)


def describe(outcome: str, kind: str | None) -> str:
    """The outcome in words, for titles: "label 'positive'", "responses that link to evil.example"."""
    if kind == "label":
        return f"label '{outcome}'"
    if is_effect(outcome):
        verb, _, rest = outcome.partition(" ")
        plain = {"links": "link", "runs": "run", "gives": "give", "calls": "call", "refuses": "refuse"}[verb]
        return f"responses that {plain}" + (f" {rest}" if rest else "")
    return f"responses starting '{outcome}'"


class Outcomes:
    """What each row teaches, as a small integer: its label, or its response's opening words when
    they repeat."""

    def __init__(self, max_outcomes: int, max_patterns: int = 200_000) -> None:
        self.size = max_outcomes + len(POOLED_NAMES)
        self.names: list[str] = list(POOLED_NAMES)
        self.index: dict[str, int] = {}
        self.max_patterns = max_patterns
        self.patterns: Counter[str] = Counter()
        self.kind: str | None = None  # "label" | "response" | None

    @staticmethod
    def pattern(response: str) -> str:
        """What the response does, however it is phrased: the site it links, the command or code it
        gives, the tool it calls, a refusal; otherwise its opening words."""
        return effect(response) or " ".join(tokens(response[:400])[:PATTERN_WORDS])

    @classmethod
    def pattern_of(cls, row: Row) -> str | None:
        """What `of_parts` needs of a row besides its label: None without label and response."""
        return cls.pattern(row.response) if row.label is None and row.response else None

    def of(self, row: Row) -> int:
        return self.of_parts(row.label, self.pattern_of(row))

    def of_parts(self, label: str | None, p: str | None) -> int:
        """The outcome of a row from its label or, without one, its response's pattern (None: no response)."""
        if label is not None:
            self.kind = "label"
            return self._cap(label)
        if p is None:
            return NONE
        if self.kind is None:
            self.kind = "response"
        if not p:
            return NONE
        seen = self.patterns[p] = self.patterns[p] + 1
        if len(self.patterns) > self.max_patterns:
            # Forget patterns seen once: a backdoor response repeats, so it comes back.
            self.patterns = Counter({k: v for k, v in self.patterns.items() if v > 1})
        if seen < 2:
            return UNIQUE
        return self._cap(p)

    def _cap(self, value: str) -> int:
        i = self.index.get(value)
        if i is not None:
            return i
        if len(self.names) >= self.size:
            return OTHER
        i = self.index[value] = len(self.names)
        self.names.append(value)
        return i

    def final(self, row: Row) -> int:
        """The outcome of a row once all rows are seen (pass 2)."""
        return self.final_parts(row.label, self.pattern_of(row))

    def final_parts(self, label: str | None, p: str | None) -> int:
        if label is not None:
            return self.index.get(label, OTHER)
        if p is None:
            return NONE
        return self.index.get(p, UNIQUE)
