"""The demo's input rail: refuses instruction hijacks, injected payloads and filter-evasion tricks.

It refuses text that hides characters from a reader (invisible, bidirectional,
control and tag characters, heavy combining marks, words that mix alphabets),
judges the rest after Unicode normalisation, and refuses encoded blobs (base64,
hex) that the prompt asks to decode. Benign twins (a question about SQL, a
translation request, a question about base64) pass. Self-contained on purpose:
a guard config ships in the release and imports nothing from the gate.
"""

import re
import unicodedata

from nemoguardrails.actions import action

HIJACK = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|directions)\b"
    r"|\b(just|only)\s+(print|say|output|repeat|write)\b"
    r"|\b(print|say|output|repeat|write|respond with|reply with|state)\b[^\"\n]{0,40}\"[^\"\n]{3,}\""
    r"|\b(respond|reply|answer|repeat|echo)\b.{0,30}\b(exactly|verbatim|word for word)\b"
    r"|\b(drop\s+table|insert\s+into|union\s+select|exec\s*\()|;\s*--",
    re.I | re.S,
)
ENCODED = re.compile(r"(?:[A-Za-z0-9+/]{16,}={0,2})|(?:\b(?:[0-9a-f]{2}\s?){12,})", re.I)
ASKS_TO_DECODE = re.compile(r"\b(decode|decipher|decrypt|rot-?13|base-?64|hex|encoded)\b", re.I)
WORD = re.compile(r"\w+")


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if ch.isalpha() else ""


def hides_text(text: str) -> bool:
    """Characters a reader does not see, or letters that only look like others."""
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cf" or (cat == "Cc" and ch not in "\n\r\t") or 0xE0000 <= ord(ch) <= 0xE007F:
            return True
    marks = sum(unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", text))
    if marks > 20 and marks > len(text) // 10:
        return True  # Zalgo
    for word in WORD.findall(text):
        scripts = {_script(c) for c in word} - {""}
        if len(scripts) > 1:
            return True  # a Cyrillic or Greek look-alike inside a Latin word
    return False


def hostile(text: str) -> bool:
    if hides_text(text):
        return True
    plain = unicodedata.normalize("NFKC", text)
    if HIJACK.search(plain):
        return True
    return bool(ASKS_TO_DECODE.search(plain) and ENCODED.search(plain))


@action(is_system_action=True)
async def screen_input(context: dict | None = None) -> bool:
    return hostile(str((context or {}).get("user_message") or ""))
