"""Counts and articles in sentences the gate writes ("1 problem", "an OpenAI API key")."""

from __future__ import annotations

# Letters whose English name starts with a vowel sound: an acronym starting with one takes "an"
# (an SSH key, an HTTP URL, an AWS key), any other takes "a" (a JWT, a PEM block).
_VOWEL_SOUND_LETTERS = frozenset("AEFHILMNORSX")
# Words starting with a vowel letter but a consonant sound.
_CONSONANT_SOUND = ("uni", "use", "usu", "uti", "eu", "one", "once")


def count(n: int, singular: str, plural: str | None = None) -> str:
    """'1 problem', '3 problems', '1,500 rows'."""
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"


def article(phrase: str) -> str:
    """'a' or 'an' before `phrase`, or nothing before a plural ('credentials in a URL')."""
    word = phrase.split(" ", 1)[0]
    if not word:
        return phrase
    if len(word) > 1 and word.isupper():
        return f"{'an' if word[0] in _VOWEL_SOUND_LETTERS else 'a'} {phrase}"
    lower = word.lower()
    if word.islower() and lower.endswith("s") and not lower.endswith("ss"):
        return phrase
    vowel = lower[0] in "aeiou" and not lower.startswith(_CONSONANT_SOUND)
    return f"{'an' if vowel else 'a'} {phrase}"
