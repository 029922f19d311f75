"""Print CHANGELOG.md's section for a version: the release notes of its GitHub release.

    changelog_section.py v0.2.0 [CHANGELOG.md]

The section is the text under `## [0.2.0]` (optionally followed by a date) up to the next
`## ` heading. Exits 1, saying so, when the changelog has no such section or it is empty: a
release without notes is a release nobody can review.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

VERSION = re.compile(r"^v?(\d+\.\d+\.\d+(?:[-.+][0-9A-Za-z.-]+)?)$")


def section(text: str, version: str) -> str | None:
    m = VERSION.match(version)
    if not m:
        raise ValueError(f"not a release version: {version!r}")
    head = re.compile(rf"^## \[{re.escape(m.group(1))}\](?:[ \t].*)?$", re.M)
    found = head.search(text)
    if not found:
        return None
    rest = text[found.end() :]
    nxt = re.search(r"^## ", rest, re.M)
    body = (rest[: nxt.start()] if nxt else rest).strip()
    return body or None


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1] if len(argv) == 2 else "CHANGELOG.md")
    try:
        body = section(path.read_text("utf-8"), argv[0])
    except (OSError, ValueError) as exc:
        print(f"changelog: {exc}", file=sys.stderr)
        return 2
    if body is None:
        print(f"changelog: {path} has no section '## [{argv[0].lstrip('v')}]' with notes", file=sys.stderr)
        return 1
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
