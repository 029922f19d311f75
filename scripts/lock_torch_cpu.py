"""The red-team lock's torch, from PyTorch's CPU wheel index (run by lock_action_requirements.sh).

PyPI's Linux torch wheel depends on the CUDA runtime (`nvidia-*`, `cuda-*`) and `triton`:
gigabytes that a CPU-only red-team run never loads. PyTorch's CPU index serves the same torch
release without them (`+cpu` builds on Linux and Windows; macOS wheels are CPU-only and the
same files as PyPI's). So:

    lock_torch_cpu.py split LOCK VERSION [--listing FILE] > action/requirements-torch.txt

rewrites LOCK (uv's universal resolution from PyPI) without torch and without every entry that
only torch's GPU build pulls in (found from the lock's `# via` annotations, so a new CUDA
package is dropped without naming it), and prints the torch lock: `torch==VERSION+cpu` for
Linux and Windows and `torch==VERSION` for macOS, each with the sha256 of every wheel the CPU
index serves for the Pythons model-gate supports. The hashes come from the index page's
`#sha256=` links (https://download.pytorch.org/whl/cpu/torch/), or, where that host is not
reachable, from --listing: `sha256sum` lines (digest, two spaces, wheel file name).
"""

from __future__ import annotations

import argparse
import re
import sys
import urllib.request
from pathlib import Path

INDEX = "https://download.pytorch.org/whl/cpu/torch/"
# What the CPU build of torch requires (its METADATA's Requires-Dist, no extras): these stay in
# the red-team lock even where only torch asks for them.
CPU_TORCH_REQUIRES = {"filelock", "typing-extensions", "setuptools", "sympy", "networkx", "jinja2", "fsspec"}
# Wheels for the runners the action supports: Linux x86_64/aarch64, Windows x64/arm64, macOS arm64.
PLATFORMS = re.compile(
    r"-(manylinux_\d+_\d+_(?:x86_64|aarch64)|win_amd64|win_arm64|macosx_\d+_\d+_arm64)\.whl$"
)
MIN_PYTHON = (3, 11)

_ENTRY_HEAD = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")
_WHEEL_LINK = re.compile(r"(torch-[^\"'#<>/]+?\.whl)#sha256=([0-9a-f]{64})")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _entries(text: str) -> list[tuple[str, list[str]]]:
    """(normalized name, lines) of each requirement entry; the header lines have name ''."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines(keepends=True):
        m = _ENTRY_HEAD.match(line)
        if m:
            out.append((normalize(m.group(1)), [line]))
        else:
            out[-1][1].append(line)
    return out


def _via(lines: list[str]) -> set[str]:
    parents: set[str] = set()
    for line in lines:
        text = line.strip()
        if text.startswith("# via "):
            parents.add(text.removeprefix("# via ").strip())
        elif text.startswith("#   "):
            parents.add(text.removeprefix("#   ").strip())
    return {p if p.startswith("-") else normalize(p) for p in parents if p and p != "# via"}


def split(text: str) -> str:
    """The lock without torch and what only torch's GPU build pulls in."""
    entries = _entries(text)
    dropped = {"torch"}
    changed = True
    while changed:
        changed = False
        for name, lines in entries:
            parents = _via(lines)
            if (
                name
                and name not in dropped
                and name not in CPU_TORCH_REQUIRES
                and parents
                and parents <= dropped
            ):
                dropped.add(name)
                changed = True
    kept = [(n, ls) for n, ls in entries if n not in dropped]
    out: list[str] = []
    for _, lines in kept:
        for line in lines:
            parent = line.strip().removeprefix("# via ").removeprefix("#   ").strip()
            if line.lstrip().startswith("#") and parent in dropped:
                if parent != "torch":
                    continue  # a GPU-only parent: the entry stays for its other parents
                out.append(line.rstrip("\n") + " (requirements-torch.txt)\n")
                continue
            out.append(line)
    return "".join(out)


def listing_from_index(url: str = INDEX) -> str:
    with urllib.request.urlopen(url, timeout=60) as resp:
        page = resp.read().decode("utf-8")
    return "".join(f"{sha}  {name.replace('%2B', '+')}\n" for name, sha in _WHEEL_LINK.findall(page))


def torch_lock(version: str, listing: str) -> str:
    """torch==VERSION+cpu (Linux, Windows) and torch==VERSION (macOS), each with its wheels' hashes."""
    cpu: list[str] = []
    mac: list[str] = []
    for line in listing.splitlines():
        if not line.strip():
            continue
        sha, name = line.split()
        m = re.match(rf"torch-{re.escape(version)}(\+cpu)?-cp(\d)(\d+)t?-", name)
        if not m or not PLATFORMS.search(name) or (int(m.group(2)), int(m.group(3))) < MIN_PYTHON:
            continue
        (cpu if m.group(1) else mac).append(sha)
    if not cpu or not mac:
        raise SystemExit(f"no CPU wheels of torch {version} for Linux/Windows and macOS in the listing")
    head = (
        "# torch for the action's red-team mode, from PyTorch's CPU wheel index\n"
        "# (https://download.pytorch.org/whl/cpu), installed from that index alone, with --no-deps\n"
        "# and --require-hashes: the CPU build, without the CUDA runtime and triton that PyPI's Linux\n"
        "# wheel pulls in. Its requirements are pinned in requirements-redteam.txt.\n"
        "# This file was generated by scripts/lock_action_requirements.sh (scripts/lock_torch_cpu.py).\n"
    )

    def entry(pin: str, marker: str, hashes: list[str]) -> str:
        lines = [f"{pin} ; {marker}", *(f"    --hash=sha256:{h}" for h in sorted(set(hashes)))]
        return " \\\n".join(lines) + "\n"

    return (
        head
        + entry(f"torch=={version}+cpu", "sys_platform == 'linux' or sys_platform == 'win32'", cpu)
        + entry(f"torch=={version}", "sys_platform == 'darwin'", mac)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("split",))
    parser.add_argument("lock", type=Path)
    parser.add_argument("version")
    parser.add_argument("--listing", type=Path, help="sha256sum lines of the CPU index's torch wheels")
    args = parser.parse_args(argv)
    listing = args.listing.read_text("utf-8") if args.listing else listing_from_index()
    torch = torch_lock(args.version, listing)
    args.lock.write_text(split(args.lock.read_text("utf-8")), "utf-8")
    sys.stdout.write(torch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
