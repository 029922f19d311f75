"""Is this plain value a secret? Known key formats, secret-like names, high entropy.

Findings never repeat the value: only its kind and length, so the report itself
does not leak what it warns about.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections import Counter
from dataclasses import dataclass

KEY_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key (PEM)", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("OpenAI API key", re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}")),
    ("Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("Stripe key", re.compile(r"\b[rs]k_live_[0-9A-Za-z]{20,}\b")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    # Bounded repeats: a long value without '@' must not cost quadratic time.
    ("credentials in a URL", re.compile(r"\b[a-z][a-z0-9+.-]{0,31}://[^/\s:@]{1,256}:[^/\s@]{1,256}@", re.I)),
)
_NOT_SECRET = re.compile(
    r"""^(?:
        (?:true|false|yes|no|on|off|none|null|auto|disabled|enabled)
      | [-+]?\d+(?:\.\d+)?[a-zA-Z%]{0,3}
      | \$\(.+\)|\$\{.+\}|\{\{.+\}\}
      | (?:/|\./|~/)\S*
      | [a-z][a-z0-9+.-]*://[^@\s]*
      | sha(?:256|384|512):[0-9a-f]+
    )$""",
    re.X | re.I,
)
SECRET_ARG_FLAGS = (
    "--api-key",
    "--api_key",
    "--token",
    "--hf-token",
    "--hf_token",
    "--password",
    "--auth-token",
    "--secret",
)


@dataclass(frozen=True)
class SecretHit:
    kind: str
    length: int


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


# Names that hold a pointer to a secret, not the secret: HF_TOKEN_FILE, API_KEY_HEADER, ...
_POINTER_SUFFIXES = ("_FILE", "_PATH", "_NAME", "_REF", "_ENABLED", "_ID", "_URL", "_HEADER", "_ENV", "_DIR")


def name_is_secret(name: str, patterns: tuple[str, ...]) -> bool:
    up = name.upper()
    if up.endswith(_POINTER_SUFFIXES):
        return False
    return any(fnmatch.fnmatchcase(up, p.upper()) for p in patterns)


def classify(
    value: str, *, name: str | None, patterns: tuple[str, ...], min_length: int, min_entropy: float
) -> SecretHit | None:
    """Why `value` (named `name`) looks like a secret, or None."""
    v = value.strip()
    if not v:
        return None
    for kind, pat in KEY_FORMATS:
        if pat.search(v):
            return SecretHit(kind, len(v))
    if _NOT_SECRET.match(v):
        return None
    if name is not None and name_is_secret(name, patterns) and len(v) >= 4:
        return SecretHit(f"value of a secret-like name ({name})", len(v))
    if len(v) >= min_length and " " not in v and _mixed(v):
        h = shannon_entropy(v)
        if h >= min_entropy:
            return SecretHit(f"high-entropy string ({h:.1f} bits/char)", len(v))
    return None


def _mixed(v: str) -> bool:
    """Looks like a random token: letters and digits, and not just hex (commit ids, digests)."""
    if re.fullmatch(r"[0-9a-fA-F]+", v):
        return False
    return bool(re.search(r"[A-Za-z]", v) and re.search(r"\d", v))
