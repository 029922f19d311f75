"""Optional tools (promtool, garak, chromium): whether one is present, and hiding them.

The suite must pass whatever optional tools a machine has. A test that needs one carries
`@pytest.mark.needs_tool("promtool")` and is skipped, with the reason, where it is absent;
`pytest --hide-tools=all` (`make unit-without-tools`) runs the suite as a machine without
them would, whatever this one has installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Executable names per tool: what PATH hiding removes.
OPTIONAL_TOOLS: dict[str, tuple[str, ...]] = {
    "promtool": ("promtool",),
    "garak": ("garak",),
    "chromium": ("chromium", "chromium-browser", "google-chrome", "chrome"),
}
INSTALL_HINT = {
    "promtool": "Debian's 'prometheus' package (make tools installs it when it can)",
    "garak": "the redteam extra (make setup installs it)",
    "chromium": "Debian's 'chromium' package",
}


def parse_hidden(value: str) -> tuple[str, ...]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if names == ["all"]:
        return tuple(OPTIONAL_TOOLS)
    unknown = [n for n in names if n not in OPTIONAL_TOOLS]
    if unknown:
        raise ValueError(f"unknown tool(s) {unknown}: known are {', '.join(OPTIONAL_TOOLS)} or 'all'")
    return tuple(names)


def tool_available(name: str) -> bool:
    """garak is a Python module run as `python -m garak`; the others are executables on PATH."""
    if name == "garak":
        try:
            return importlib.util.find_spec("garak") is not None
        except ValueError:  # sys.modules["garak"] is None: hidden
            return False
    return any(shutil.which(exe) for exe in OPTIONAL_TOOLS[name])


def path_without(names: Iterable[str], path: str, shadow_root: Path) -> str:
    """PATH with the executables of `names` removed.

    A directory on PATH that holds one of them is replaced by a shadow directory of symlinks to
    everything else it holds (so /usr/bin keeps python3, git, sh ...).
    """
    exes = {exe for n in names for exe in OPTIONAL_TOOLS[n]}
    out: list[str] = []
    for i, entry in enumerate(path.split(os.pathsep)):
        d = Path(entry)
        if not entry or not d.is_dir() or not any((d / exe).exists() for exe in exes):
            out.append(entry)
            continue
        shadow = shadow_root / f"{i}"
        shadow.mkdir(parents=True, exist_ok=True)
        for child in d.iterdir():
            if child.name not in exes and not (shadow / child.name).exists():
                (shadow / child.name).symlink_to(child)
        out.append(str(shadow))
    return os.pathsep.join(out)


@contextmanager
def hidden_tools(names: Iterable[str], shadow_root: Path) -> Iterator[None]:
    """Within the block, this process and its children see none of `names`."""
    names = tuple(names)
    old_path = os.environ.get("PATH", "")
    had_garak = "garak" in sys.modules
    old_garak = sys.modules.get("garak")
    os.environ["PATH"] = path_without(names, old_path, shadow_root)
    if "garak" in names:
        # find_spec answers None for a module whose sys.modules entry is None: the gate's probe
        # for garak (gate.redteam.runner.garak_version) then finds no garak in this interpreter.
        sys.modules["garak"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        os.environ["PATH"] = old_path
        if "garak" in names:
            if had_garak:
                sys.modules["garak"] = old_garak  # type: ignore[assignment]
            else:
                sys.modules.pop("garak", None)
