"""Release-controlled text is data: one place that makes it safe for every output format.

File names, YAML strings, model metadata and tool output reach reports. Each
format has its own ways to be fooled: a newline fakes a report line, `::error::`
or `##[` at the start of a CI log line is a GitHub workflow command, `|` and
`<` rewrite a Markdown table or inject HTML, characters XML 1.0 forbids make a
JUnit file unreadable, and a non-UTF-8 file name (bytes, on Linux) cannot be
encoded at all. Every reporter passes such text through the function for its
format; the raw text stays in the JSON report (JSON escapes it losslessly).
"""

from __future__ import annotations

import re

from gate.models.text import escape_char as _escape_char
from gate.models.text import unsurrogate as unsurrogate  # noqa: PLC0414
from gate.models.text import unsurrogate_deep as unsurrogate_deep  # noqa: PLC0414

# Characters shown as escapes wherever text is printed: C0 and C1 controls, DEL, line and
# paragraph separators, bidirectional overrides, zero-width and byte-order marks, and the two
# non-characters XML forbids.
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufffe\uffff\ud800-\udfff]"
)


def printable(text: str | None, *, newlines: bool = False) -> str:
    """Every invisible or line-breaking character as a visible escape (`\\n`, `\\x1b`,
    `\\u202e`, `\\xff` for a non-UTF-8 byte); `newlines=True` keeps `\\n` for multi-line text."""
    s = text or ""
    if newlines:
        return "\n".join(_INVISIBLE.sub(lambda m: _escape_char(m.group()), part) for part in s.split("\n"))
    return _INVISIBLE.sub(lambda m: _escape_char(m.group()), s)


def _no_workflow_command(s: str) -> str:
    # GitHub reads `::name ...::` at the start of a log line (leading spaces ignored) and the
    # older `##[name]` anywhere in it.
    s = s.replace("##[", "#\\#[")
    stripped = s.lstrip()
    if stripped.startswith("::"):
        s = s[: len(s) - len(stripped)] + "\\:" + stripped[1:]
    return s


def text(value: str | None) -> str:
    """One line of a terminal or CI-log report: printable, and never a workflow command."""
    return _no_workflow_command(printable(value))


def text_block(value: str | None) -> str:
    """Several lines (a reproduction, a waiver justification): each line as text()."""
    return "\n".join(_no_workflow_command(line) for line in printable(value, newlines=True).split("\n"))


# Markdown ----------------------------------------------------------------------------------

_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)


def _md_plain(s: str) -> str:
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Backslash escapes are inert in CommonMark. Escaped: what can start a link or image
    # (`](`, `![`), emphasis and strikethrough, a table cell, a stray backtick, a heading
    # at the start; `_` only where it can open or close emphasis (not inside a word).
    s = re.sub(r"([\\`*|~])", r"\\\1", s)
    s = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", s)
    s = re.sub(r"\](?=[(\[:])", r"\\]", s)
    s = re.sub(r"!(?=\[)", r"\\!", s)
    s = re.sub(r"\[(?=[^\]]*\\\])", r"\\[", s)
    s = s.replace("##[", "#\\#[")  # a GitHub log command, should the report be printed in CI
    return re.sub(r"^#", r"\\#", s)


def markdown(value: str | None, limit: int | None = None) -> str:
    """Inline Markdown (a table cell, a list item, a <summary>): one line, no HTML, no links,
    no table breaks. Balanced code spans are kept (their content is literal in Markdown);
    a `|` inside one is written `\\|`, which GitHub's tables read as a literal pipe."""
    s = value or ""
    if limit is not None and len(s) > limit:
        s = s[:limit] + "…"
    s = printable(s)
    out: list[str] = []
    pos = 0
    for m in _CODE_SPAN.finditer(s):
        out.append(_md_plain(s[pos : m.start()]))
        body = m.group(2).replace("|", "\\|")
        if "<" in body or ">" in body or "&" in body:
            # Inside an HTML block (<summary>) a code span is not literal: escape as plain text.
            out.append(_md_plain(m.group(0)))
        else:
            out.append(f"{m.group(1)}{body}{m.group(1)}")
        pos = m.end()
    out.append(_md_plain(s[pos:]))
    return "".join(out)


# Characters that are syntax in HTML or in (GitHub-flavoured) Markdown, written as numeric
# character references: both read a reference as the literal character, never as syntax, so
# the text is inert whether or not the place it lands in renders Markdown.
_INERT = {c: f"&#{ord(c)};" for c in "&<>\"'\\`*_[]|~"}
_INERT_TABLE = str.maketrans(_INERT)


def html_inline(value: str | None, limit: int | None = None, *, code_spans: bool = True) -> str:
    """One line of text inside HTML that a Markdown document carries (a <summary>, whose
    content GitHub does not render as Markdown, or a <code> element in a table cell): HTML-
    escaped, every Markdown-active character inert, balanced `code spans` as <code> elements
    (with `code_spans`; else backticks stay literal)."""
    s = value or ""
    if limit is not None and len(s) > limit:
        s = s[:limit] + "…"
    s = printable(s)
    if not code_spans:
        return s.translate(_INERT_TABLE)
    out: list[str] = []
    pos = 0
    for m in _CODE_SPAN.finditer(s):
        out.append(s[pos : m.start()].translate(_INERT_TABLE))
        out.append(f"<code>{m.group(2).translate(_INERT_TABLE)}</code>")
        pos = m.end()
    out.append(s[pos:].translate(_INERT_TABLE))
    return "".join(out)


def code_fence(body: str) -> str:
    """A fence for a Markdown code block holding `body`: longer than any run of backticks in
    it, so no line of the body can close the block."""
    longest = max((len(m.group()) for m in re.finditer("`+", body)), default=0)
    return "`" * max(3, longest + 1)


# XML ---------------------------------------------------------------------------------------


def xml(value: str | None, *, newlines: bool = True) -> str:
    """Text for an XML attribute or element: only characters XML 1.0 allows (the XML
    library escapes `<`, `&` and quotes)."""
    return printable(value, newlines=newlines)


# GitHub workflow commands ------------------------------------------------------------------


def workflow_data(value: str) -> str:
    """A workflow command's message, as GitHub requires: %, CR and LF percent-encoded."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(value: str) -> str:
    """A workflow command's property value (file, title): also ':' and ','."""
    return workflow_data(value).replace(":", "%3A").replace(",", "%2C")
