"""Injected instructions in training examples.

Three kinds, each its own rule:
- prompt-injection and jailbreak text ("ignore all previous instructions",
  "you are now DAN", chat-template role tokens smuggled into a field);
- invisible Unicode: tag characters (which can spell out a hidden message),
  zero-width characters inside words, bidirectional overrides;
- instructions hidden in markup: HTML comments and hidden elements that talk
  to the model, markdown images whose URL would carry data out.

Safety-training rows are not findings: a jailbreak prompt answered with a
refusal is exactly what such data should contain; one answered with
compliance is what a poisoner would plant.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from gate.datacheck.common import Segments, Tally
from gate.datacheck.rows import Row
from gate.datacheck.text import excerpt

_WS = r"[ \t\r\n]+"
_QUAL = (
    r"(?:all(?:" + _WS + r"of)?" + _WS + r"(?:the" + _WS + r"|your" + _WS + r")?"
    r"(?:previous" + _WS + r"|prior" + _WS + r"|above" + _WS + r")?"
    r"|(?:the" + _WS + r"|any" + _WS + r")?"
    r"(?:previous|prior|above|earlier|preceding|original|initial|foregoing)" + _WS + r""
    r"|your"
    + _WS
    + r"(?:previous"
    + _WS
    + r"|original"
    + _WS
    + r"|system"
    + _WS
    + r"|safety"
    + _WS
    + r"|current"
    + _WS
    + r")?"
    r"|(?:the" + _WS + r")?(?:system|safety|developer)" + _WS + r")"
)
_OBJ = (
    r"(?:instructions?|rules|guidelines|prompts?|directions|directives|programming|guardrails|restrictions"
    r"|policies|constraints|context)\b"
)


def _p(anchor: str, body: str) -> tuple[str, re.Pattern[str]]:
    """A pattern that starts with a literal, so the regex engine can skip ahead to it."""
    return anchor, re.compile(re.escape(anchor) + body)


# category -> [(literal anchor, pattern)], all on lower-cased text.
INJECTION: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    "instruction-override": [
        _p(verb, _WS + _QUAL + _OBJ)
        for verb in ("ignore", "disregard", "forget", "override", "bypass", "abandon")
    ]
    + [_p("new instructions:", ""), _p("system override", r"\b"), _p("admin override", r"\b")],
    "jailbreak-persona": [
        _p(
            "you are now ",
            r"(?:dan\b|an? (?:unrestricted|unfiltered|uncensored|jailbroken)|in (?:developer|god|dan) mode"
            r"|free from)",
        ),
        _p("do anything now", r"\b"),
        _p("developer mode ", r"(?:enabled|activated|is on|on\b)"),
        _p("jailbreak mode", r"\b"),
        _p("jailbroken", r"\b"),
        _p(
            "pretend ",
            r"(?:that )?you (?:have no|are not bound by|don't have|do not have) (?:any )?"
            r"(?:restrictions|rules|guidelines|filters|limits|limitations)",
        ),
        _p(
            "act as ",
            r"(?:dan\b|an? (?:unrestricted|unfiltered|uncensored|jailbroken) (?:ai|assistant|model))",
        ),
        _p("no ethical ", r"(?:guidelines|restrictions|constraints|boundaries)"),
    ],
    "prompt-exfiltration": [
        _p(
            verb,
            r" (?:me )?(?:your|the) (?:full |entire |complete )?(?:system prompt|hidden instructions"
            r"|initial (?:prompt|instructions)|original instructions|secret instructions)",
        )
        for verb in ("reveal", "print", "repeat", "output", "leak", "show", "disclose")
    ],
    "chat-template-tokens": [
        _p(tok, "")
        for tok in (
            "<|im_start|>",
            "<|im_end|>",
            "<|system|>",
            "<|endoftext|>",
            "<|begin_of_text|>",
            "<|start_header_id|>",
            "<|eot_id|>",
            "[inst]",
            "[/inst]",
            "<<sys>>",
            "<start_of_turn>",
        )
    ],
}

REFUSAL = re.compile(
    r"^[ \t\r\n\"'*]*(?:i'm sorry|i am sorry|sorry,? (?:but )?i|i can(?:no|')t|i cannot|i won't|i will not"
    r"|i'm not able|"
    r"i am not able|i am unable|i'm unable|as an ai|i must decline|i refuse|unfortunately,? i (?:can|am))",
)

# Invisible characters. Zero-width joiners and spaces are legitimate inside non-Latin
# scripts and emoji sequences, tag characters inside flag emoji: checked per match.
INVISIBLE = re.compile(
    "[\u200b-\u200d\u2060-\u2064\ufeff\u180e\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]+"
)
RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
BLACK_FLAG = "\U0001f3f4"

HIDDEN_REGIONS = [
    ("<!--", re.compile(r"<!--([^\x00]{0,4000}?)-->")),
    (
        "style",
        re.compile(
            r"<[a-z][a-z0-9]{0,10}\b[^>\x00]{0,300}?style[ \t]*=[ \t]*[\"'][^\"'\x00]{0,300}?"
            r"(?:display[ \t]*:[ \t]*none|visibility[ \t]*:[ \t]*hidden"
            r"|font-size[ \t]*:[ \t]*0(?:px|pt|em)?[ \t]*[;\"']|"
            r"opacity[ \t]*:[ \t]*0[ \t]*[;\"'])[^>\x00]{0,300}>([^<\x00]{0,2000})"
        ),
    ),
]
TALKS_TO_MODEL = re.compile(
    r"\b(?:ignore|disregard|instructions?|assistant|ai model|language model|llm|chatbot|system prompt"
    r"|you must|"
    r"you are now|respond with|reply with|tell the user|from now on|do not (?:tell|mention|reveal))\b"
)
MD_IMAGE = re.compile(r"!\[[^\]\x00\n]{0,200}\]\((https?://[^)\s\x00]{1,500})\)")
EXFIL_URL = re.compile(
    r"[{}$]|%7b|\[(?:data|secret|input|conversation|history)\]|[?&](?:data|secret|token|key|conversation|chat|"
    r"history|msg|prompt|q)=[^&)]*(?:\{|\$|%7b|\[)",
    re.I,
)


@dataclass
class InjectionTallies:
    limit: int = 5
    categories: dict[str, Tally] = field(default_factory=dict)  # injection categories
    refused: int = 0  # jailbreak prompts answered with a refusal: safety data, not findings
    template_rows: int = 0  # rows carrying chat-template tokens anywhere
    invisible: dict[str, Tally] = field(default_factory=dict)  # kind -> tally
    markup: dict[str, Tally] = field(default_factory=dict)
    hidden_messages: list[str] = field(default_factory=list)  # decoded tag-character text

    def tally(self, table: dict[str, Tally], key: str) -> Tally:
        t = table.get(key)
        if t is None:
            t = table[key] = Tally(self.limit)
        return t


class InjectionScanner:
    def __init__(self, extra_patterns: tuple[str, ...] = (), limit: int = 5) -> None:
        self.out = InjectionTallies(limit)
        self.extra = [re.compile(p) for p in extra_patterns]

    def scan(self, file: str, rows: list[Row], seg: Segments) -> None:
        self._injection(file, rows, seg)
        if not seg.joined.isascii():
            self._invisible(file, rows, seg)
        self._markup(file, rows, seg)

    def _injection(self, file: str, rows: list[Row], seg: Segments) -> None:
        low = seg.lower
        hits: dict[tuple[str, int], tuple[str, str]] = {}
        for category, pats in INJECTION.items():
            for anchor, pat in pats:
                if anchor not in low:
                    continue
                for si, m in seg.matches(pat, lower=True):
                    ri, part = seg.owners[si]
                    hits.setdefault((category, ri), (part, self._quote(seg, m)))
        for pat in self.extra:
            for si, m in seg.matches(pat, lower=True):
                ri, part = seg.owners[si]
                hits.setdefault(("policy-pattern", ri), (part, self._quote(seg, m)))
        refused: set[int] = set()
        for (category, ri), (part, quote) in sorted(hits.items(), key=lambda kv: kv[0][1]):
            row = rows[ri]
            if category == "chat-template-tokens":
                self.out.template_rows += 1
            elif part == "prompt" and row.response and REFUSAL.match(row.response.lower()):
                refused.add(ri)
                continue
            self.out.tally(self.out.categories, category).add(file, row.n, part, quote)
        self.out.refused += len(refused)

    @staticmethod
    def _quote(seg: Segments, m: re.Match[str]) -> str:
        si, off = seg.locate(m.start())
        return excerpt(seg.texts[si], off, off + (m.end() - m.start()))

    def _invisible(self, file: str, rows: list[Row], seg: Segments) -> None:
        seen: set[tuple[str, int]] = set()
        for si, m in seg.matches(INVISIBLE):
            text = seg.texts[si]
            _, off = seg.locate(m.start())
            kind = _invisible_kind(text, off, off + len(m.group()))
            if kind is None:
                continue
            ri, part = seg.owners[si]
            if (kind, ri) in seen:
                continue
            seen.add((kind, ri))
            quote = excerpt(text, off, off + len(m.group()))
            if kind == "tag-characters":
                hidden = "".join(chr(ord(c) - 0xE0000) for c in m.group() if 0xE0020 <= ord(c) <= 0xE007E)
                if hidden and len(self.out.hidden_messages) < self.out.limit:
                    self.out.hidden_messages.append(hidden[:200])
                quote = f"hidden text {hidden[:120]!r} in: {quote}"
            self.out.tally(self.out.invisible, kind).add(file, rows[ri].n, part, quote)

    def _markup(self, file: str, rows: list[Row], seg: Segments) -> None:
        low = seg.lower
        seen: set[tuple[str, int]] = set()
        for anchor, pat in HIDDEN_REGIONS:
            if anchor not in low:
                continue
            for si, m in seg.matches(pat, lower=True):
                inner = m.group(1)
                if len(inner.split()) < 3 or not TALKS_TO_MODEL.search(inner):
                    continue
                kind = "html-comment" if anchor == "<!--" else "hidden-element"
                self._add_markup(file, rows, seg, si, m, kind, seen)
        if "![" in low:
            for si, m in seg.matches(MD_IMAGE):
                if EXFIL_URL.search(m.group(1)):
                    self._add_markup(file, rows, seg, si, m, "exfiltration-image", seen)

    def _add_markup(
        self,
        file: str,
        rows: list[Row],
        seg: Segments,
        si: int,
        m: re.Match[str],
        kind: str,
        seen: set[tuple[str, int]],
    ) -> None:
        ri, part = seg.owners[si]
        if (kind, ri) in seen:
            return
        seen.add((kind, ri))
        self.out.tally(self.out.markup, kind).add(file, rows[ri].n, part, self._quote(seg, m))


def _is_letter_ascii(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _invisible_kind(text: str, start: int, end: int) -> str | None:
    """What a run of invisible characters is, or None when it is legitimate where it stands."""
    run = text[start:end]
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if any(0xE0000 <= ord(c) <= 0xE007F for c in run):
        # Subdivision flags: U+1F3F4, tag letters, U+E007F CANCEL TAG.
        if (
            before == BLACK_FLAG
            and run.endswith("\U000e007f")
            and all(0xE0020 <= ord(c) <= 0xE007F for c in run)
        ):
            return None
        return "tag-characters"
    if any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in run):
        return None if RTL.search(text) else "bidirectional-override"
    if run == "\ufeff" and start == 0:
        return None  # a byte-order mark at the start of a field: harmless
    # Zero-width characters: suspicious inside or next to Latin words, normal in other scripts and emoji.
    if _is_letter_ascii(before) or _is_letter_ascii(after) or len(run) > 2:
        return "zero-width"
    return None


def tally_total(table: dict[str, Tally]) -> Counter[str]:
    return Counter({k: t.rows for k, t in table.items()})
