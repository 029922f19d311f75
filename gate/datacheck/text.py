"""Tokenising and quoting text, shared by the indicators.

Tokens are lower-cased runs between whitespace and punctuation: cheap
(`str.translate` + `str.split`, both in C) and good enough for counting
associations and near-duplicates; no language model is involved.
"""

from __future__ import annotations

import string

_PUNCT = string.punctuation + "“”‘’«»„‚–—…•·¡¿、。，！？；：（）【】「」"
# Characters that hide inside a word (zero-width, soft hyphen, word joiner, BOM, tag characters) are
# dropped and the Cyrillic, Greek and full-width letters that look like Latin ones are folded into
# them, so "c\u200bf", "сf" (Cyrillic с) and "cf" are one token: a trigger spelled in disguise counts
# with its plain spelling. Applied after lower-casing.
_HIDDEN = [0x00AD, 0x180E, 0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF]
_HIDDEN += list(range(0xE0000, 0xE0080))
HOMOGLYPHS = {
    **dict(zip("аеорсухіјѕԁһӏԛԝкмтвнг", "aeopcyxijsdhlqwkmtbhr", strict=True)),
    **dict(zip("αοιкνρυχεβτ", "aoiknpuxebt", strict=True)),
    **{chr(0xFF41 + i): chr(ord("a") + i) for i in range(26)},
    **{chr(0xFF10 + i): chr(ord("0") + i) for i in range(10)},
}
TOKEN_TABLE = str.maketrans({**dict.fromkeys(_PUNCT, " "), **dict.fromkeys(map(chr, _HIDDEN)), **HOMOGLYPHS})

# Words too common to say anything about near-duplicates or triggers on their own.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "else",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "his",
        "our",
        "their",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "not",
        "no",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "will",
        "would",
        "shall",
        "should",
        "can",
        "could",
        "may",
        "might",
        "must",
        "so",
        "than",
        "too",
        "very",
        "just",
        "also",
        "there",
        "here",
        "all",
        "any",
        "some",
        "such",
        "only",
        "own",
        "same",
        "other",
        "into",
        "over",
        "under",
        "again",
        "further",
        "once",
        "about",
        "above",
        "below",
        "up",
        "down",
        "out",
        "off",
        "between",
        "through",
        "during",
        "before",
        "after",
        "while",
        "because",
        "until",
        "s",
        "t",
        "d",
        "ll",
        "m",
        "re",
        "ve",
    ]
)


def tokens(text: str) -> list[str]:
    return text.lower().translate(TOKEN_TABLE).split()


def excerpt(text: str, start: int = 0, end: int | None = None, width: int = 120) -> str:
    """A one-line quote of text around [start, end), with invisible characters made visible."""
    end = start if end is None else end
    left = max(0, start - width // 3)
    right = min(len(text), max(end, left + width))
    out = text[left:right]
    out = "".join(_visible(c) for c in out)
    return ("…" if left else "") + " ".join(out.split()) + ("…" if right < len(text) else "")


def _visible(c: str) -> str:
    cp = ord(c)
    if cp < 0x20 or 0x7F <= cp < 0xA0 or 0x200B <= cp <= 0x200F or 0x202A <= cp <= 0x202E:
        return f"<U+{cp:04X}>" if cp not in (9, 10, 13) else " "
    if 0x2060 <= cp <= 0x206F or cp == 0xFEFF or 0xE0000 <= cp <= 0xE007F or cp == 0x180E:
        return f"<U+{cp:04X}>"
    return c


def redact(secret: str, keep: int = 4) -> str:
    """Show the shape of a secret without the secret: first and last characters only."""
    if len(secret) <= keep * 2 + 2:
        return secret[:2] + "*" * max(0, len(secret) - 2)
    return secret[:keep] + "*" * (len(secret) - 2 * keep) + secret[-keep:]
