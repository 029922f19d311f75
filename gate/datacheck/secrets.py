"""Secrets and personal data in training text: a model can repeat what it was trained on.

Key formats are matched by their documented prefixes; numbers that look like
payment cards must pass the Luhn check and a card-network prefix, IBANs the
ISO 13616 length and mod-97 check, so random digits are not reported.
Values are reported redacted, never in full.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from gate.datacheck.common import Segments, Tally
from gate.datacheck.rows import Row
from gate.datacheck.text import redact
from gate.datacheck.vocab import HAVE_NUMPY

if HAVE_NUMPY:
    import numpy as np

# kind -> (literal anchor, pattern). The anchor lets a whole batch be skipped with one `in` test.
SECRET_PATTERNS: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    "private-key": [
        (
            "-----BEGIN",
            re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"),
        ),
    ],
    "aws-access-key": [
        ("AKIA", re.compile(r"AKIA[0-9A-Z]{16}(?![0-9A-Za-z])")),
        ("ASIA", re.compile(r"ASIA[0-9A-Z]{16}(?![0-9A-Za-z])")),
    ],
    "github-token": [
        ("gh", re.compile(r"gh[pousr]_[A-Za-z0-9]{36,255}")),
        ("github_pat_", re.compile(r"github_pat_[A-Za-z0-9_]{60,255}")),
    ],
    "gitlab-token": [("glpat-", re.compile(r"glpat-[A-Za-z0-9_-]{20,}"))],
    "slack-token": [("xox", re.compile(r"xox[baprse]-[A-Za-z0-9-]{10,}"))],
    "openai-api-key": [("sk-", re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"))],
    "anthropic-api-key": [("sk-ant-", re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}"))],
    "stripe-key": [
        ("sk_live_", re.compile(r"sk_live_[0-9A-Za-z]{20,}")),
        ("rk_live_", re.compile(r"rk_live_[0-9A-Za-z]{20,}")),
    ],
    "google-api-key": [("AIza", re.compile(r"AIza[0-9A-Za-z_-]{35}"))],
    "huggingface-token": [("hf_", re.compile(r"hf_[A-Za-z0-9]{30,}"))],
    "npm-token": [("npm_", re.compile(r"npm_[A-Za-z0-9]{36}"))],
    "sendgrid-key": [("SG.", re.compile(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"))],
    "json-web-token": [
        ("eyJ", re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"))
    ],
    "azure-storage-key": [("AccountKey=", re.compile(r"AccountKey=[A-Za-z0-9+/]{80,}={0,2}"))],
}

EMAIL_DOMAIN = re.compile(
    r"@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24})\b"
)
EMAIL_LOCAL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~-"
)
NUMBER_RUN = re.compile(r"\+?\(?[0-9][0-9 ().-]{8,}[0-9]")
IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
NANP = re.compile(r"^(?:\+?1[ .-]?)?\(?[2-9][0-9]{2}\)?[ .-][2-9][0-9]{2}[ .-][0-9]{4}$")
INTL = re.compile(r"^\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){1,5}[0-9]{2,4}$")

# ISO 13616 IBAN lengths by country (the registry's list, as published).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

PERSONAL_KINDS = ("email-address", "phone-number", "payment-card", "iban")


THREE_DIGITS = re.compile(r"[0-9]{3}")


def digit_runs(seg: Segments) -> list[int]:
    """Indices of the segments holding three consecutive ASCII digits."""
    text = seg.joined
    if HAVE_NUMPY and text.isascii():
        a = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        d = (a >= 48) & (a <= 57)
        if len(d) < 3:
            return []
        pos = np.flatnonzero(d[:-2] & d[1:-1] & d[2:])
        if not len(pos):
            return []
        idx = np.searchsorted(np.asarray(seg.starts), pos, side="right") - 1
        return sorted(set(idx.tolist()))
    return sorted({si for si, _ in seg.matches(THREE_DIGITS)})


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_network(digits: str) -> str | None:
    """The card network a number's prefix and length belong to, or None."""
    n = len(digits)
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if n == 16 and (51 <= two <= 55 or 222100 <= six <= 272099):
        return "mastercard"
    if n == 15 and two in (34, 37):
        return "amex"
    if n in (16, 19) and (four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649):
        return "discover"
    if 16 <= n <= 19 and 3528 <= four <= 3589:
        return "jcb"
    if n == 14 and (two in (36, 38) or 300 <= int(digits[:3]) <= 305):
        return "diners"
    return None


def iban_ok(value: str) -> bool:
    v = value.replace(" ", "")
    if IBAN_LENGTHS.get(v[:2]) != len(v):
        return False
    moved = v[4:] + v[:4]
    num = "".join(str(int(c, 36)) for c in moved)
    return int(num) % 97 == 1


@dataclass
class SecretTallies:
    limit: int = 5
    secrets: dict[str, Tally] = field(default_factory=dict)
    personal: dict[str, Tally] = field(default_factory=dict)

    def tally(self, table: dict[str, Tally], key: str) -> Tally:
        t = table.get(key)
        if t is None:
            t = table[key] = Tally(self.limit)
        return t


class SecretScanner:
    def __init__(
        self,
        allowed_domains: tuple[str, ...],
        allowed_values: tuple[str, ...],
        placeholders: tuple[str, ...],
        limit: int = 5,
    ) -> None:
        self.out = SecretTallies(limit)
        self.allowed_domains = tuple(d.lower() for d in allowed_domains)
        self.allowed_values = frozenset(allowed_values)
        self.placeholders = placeholders

    def scan(self, file: str, rows: list[Row], seg: Segments) -> None:
        hits: dict[tuple[bool, str, int], tuple[str, str]] = {}
        text = seg.joined
        for kind, pats in SECRET_PATTERNS.items():
            for anchor, pat in pats:
                if anchor not in text:
                    continue
                for si, m in seg.matches(pat):
                    value = m.group()
                    if any(p in value for p in self.placeholders) or value in self.allowed_values:
                        continue
                    if kind != "private-key" and not _looks_random(value, kind not in FIXED_FORMATS):
                        continue
                    ri, part = seg.owners[si]
                    hits.setdefault((True, kind, ri), (part, redact(value)))
        if "@" in text:
            for si, m in seg.matches(EMAIL_DOMAIN):
                email = self._email(seg, si, m)
                if email is not None:
                    ri, part = seg.owners[si]
                    hits.setdefault((False, "email-address", ri), (part, redact(email, 3)))
        # Cards, phone numbers and IBANs all hold a run of three digits: only those texts get the regexes.
        for si in digit_runs(seg):
            seg_text = seg.texts[si]
            ri, part = seg.owners[si]
            for m in NUMBER_RUN.finditer(seg_text):
                num_kind = self._number_kind(m.group())
                if num_kind is not None:
                    hits.setdefault(
                        (False, num_kind, ri), (part, redact("".join(c for c in m.group() if c.isdigit()), 2))
                    )
            for m in IBAN.finditer(seg_text):
                value = m.group().replace(" ", "")
                if value not in self.allowed_values and iban_ok(value):
                    hits.setdefault((False, "iban", ri), (part, redact(value, 4)))
        for (secret, kind, ri), (part, shown) in sorted(hits.items(), key=lambda kv: kv[0][2]):
            table = self.out.secrets if secret else self.out.personal
            self.out.tally(table, kind).add(file, rows[ri].n, part, shown)

    def _email(self, seg: Segments, si: int, m: re.Match[str]) -> str | None:
        domain = m.group(1).lower()
        if any(fnmatch.fnmatchcase(domain, d) for d in self.allowed_domains):
            return None
        text = seg.texts[si]
        _, at = seg.locate(m.start())
        i = at
        while i > 0 and text[i - 1] in EMAIL_LOCAL_CHARS and at - i < 64:
            i -= 1
        local = text[i:at].lstrip(".")
        if not local or not any(c.isalnum() for c in local):
            return None
        return f"{local}@{domain}"

    def _number_kind(self, raw: str) -> str | None:
        digits = "".join(c for c in raw if c.isdigit())
        if digits in self.allowed_values:
            return None
        # A card number is written as one run or in groups of 4 (Amex 4-6-5), never with brackets.
        if (
            13 <= len(digits) <= 19
            and "(" not in raw
            and "+" not in raw
            and card_network(digits)
            and luhn_ok(digits)
        ):
            return "payment-card"
        stripped = raw.strip()
        if 10 <= len(digits) <= 15 and (NANP.match(stripped) or INTL.match(stripped)):
            if NANP.match(stripped) and re.search(r"555[ .-]01[0-9]{2}$", stripped):
                return None  # 555-0100..0199: reserved for fiction
            return "phone-number"
        return None


# Keys whose whole shape is fixed (prefix, length, alphabet): a random one may hold no digit at all
# (an AWS key id is 16 base-32 characters: about 1 in 35 has none), so only variety is asked of it.
FIXED_FORMATS = frozenset({"aws-access-key"})


def _looks_random(value: str, mixed: bool = True) -> bool:
    """Real keys mix letters and digits; 'sk-this-is-my-key-for-testing' does not. With `mixed`
    False (fixed formats), eight distinct characters are enough."""
    body = value.split("_", 1)[-1] if "_" in value[:12] else value
    if not mixed:
        return len(set(body)) >= 8
    has_digit = any(c.isdigit() for c in body)
    has_alpha = any(c.isalpha() for c in body)
    return has_digit and has_alpha and len(set(body)) >= 8
