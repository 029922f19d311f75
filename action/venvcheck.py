"""The action's virtual environment: its cache key, and the manifest that lets a restored cache be used.

Standard library only, run by the runner's own interpreter with `-I`, never by the environment
it judges: a restored environment is untrusted until verified, and starting its interpreter
would already run code from it (a `.pth` file in site-packages runs at start-up).

    venvcheck.py path                                     print where the environment goes
    venvcheck.py key    --venv DIR --mode MODE            print the cache key
    venvcheck.py record --venv DIR --mode MODE --key KEY --report FILE...
    venvcheck.py verify --venv DIR --mode MODE --key KEY

`record` runs right after `pip install --require-hashes --report FILE`: it checks that every
archive pip installed is one the locks pin (name, version, sha256), and writes a manifest into
the environment with those archives and the sha256 of every file and the target of every link
in it. `verify` accepts a restored environment only when the manifest names this key (so the
same locks, interpreter, path and model-gate source), every archive it lists is pinned by the
locks and every unconditional pin is installed, and the files are exactly those recorded, byte
for byte: a changed, missing or added file (a partial restore, an edited module, a dropped-in
`.pth`) sends the action back to a fresh install.

What it cannot see: someone able to write this repository's cache who also rewrites the
manifest to match. GitHub scopes caches by branch (a pull request's job cannot write a cache
that the default branch reads), and the `cache` input turns the cache off for jobs that must
not trust it (a release or signing job).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MANIFEST = ".model-gate-manifest.json"
FORMAT = 1
# The locks each mode installs, in order. torch comes from PyTorch's CPU index (its own lock);
# the red-team lock installs on top of the base lock with the same pins.
MODES = {
    "core": ("requirements.txt",),
    "redteam": ("requirements.txt", "requirements-torch.txt", "requirements-redteam.txt"),
}
# What `pip install <checkout copy>` builds: part of the key, since it is part of the environment.
SOURCE = ("pyproject.toml", "README.md", "gate")
LOCAL_BUILD = "model-gate"  # the one distribution built from source, not from a pinned archive
MAX_PROBLEMS = 5

_ENTRY = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)[ \t]*(?:;([^\\\n]*))?\\?\n"
    r"((?:[ \t]+--hash=sha256:[0-9a-f]{64}[ \t]*\\?\n?)+)",
    re.M,
)
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


class VenvError(Exception):
    """The environment, a lock or a pip report is not what it must be: one line saying why."""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str | None
    hashes: frozenset[str]


@dataclass
class Locks:
    pins: list[Pin] = field(default_factory=list)

    @classmethod
    def read(cls, paths: Iterable[Path]) -> Locks:
        locks = cls()
        for path in paths:
            text = path.read_text("utf-8")
            found = [
                Pin(normalize(m[1]), m[2], (m[3] or "").strip() or None, frozenset(_HASH.findall(m[4])))
                for m in _ENTRY.finditer(text)
            ]
            listed = [ln for ln in text.splitlines() if ln and not ln[0].isspace() and not ln.startswith("#")]
            if len(found) != len(listed):
                raise VenvError(f"{path.name}: every requirement must be pinned with == and carry hashes")
            locks.pins.extend(found)
        return locks

    def allows(self, name: str, version: str, sha256: str) -> bool:
        name = normalize(name)
        return any(p.name == name and p.version == version and sha256 in p.hashes for p in self.pins)

    def unconditional(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for p in self.pins:
            if p.marker is None:
                out.setdefault(p.name, set()).add(p.version)
        return out


def venv_path(env: dict[str, str] | None = None) -> str:
    """$RUNNER_TEMP/model-gate-venv-<digest of the action's path>: one environment per checkout
    of the action (a job may use two versions of it), at a path stable across jobs (the
    environment's scripts name it). Forward slashes: bash and Python read them on every OS."""
    env = dict(os.environ if env is None else env)
    import tempfile

    temp = env.get("RUNNER_TEMP") or tempfile.gettempdir()
    action = env.get("GITHUB_ACTION_PATH") or str(ROOT)
    digest = hashlib.sha256(action.encode()).hexdigest()[:16]
    return Path(temp, f"model-gate-venv-{digest}").as_posix()


def lock_paths(mode: str) -> list[Path]:
    if mode not in MODES:
        raise VenvError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    return [HERE / name for name in MODES[mode]]


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _walk(root: Path) -> Iterator[tuple[str, Path, bool]]:
    """(posix path relative to root, path, is a link) of every file and link, links not followed."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for d in list(dirnames):
            if (base / d).is_symlink():
                dirnames.remove(d)
                filenames.append(d)
        dirnames.sort()
        for name in sorted(filenames):
            p = base / name
            yield p.relative_to(root).as_posix(), p, p.is_symlink()


def source_digest(root: Path = ROOT) -> str:
    h = hashlib.sha256()
    for top in SOURCE:
        path = root / top
        entries = [(path.name, path, path.is_symlink())] if path.is_file() else _walk(path)
        for rel, p, link in entries:
            if "__pycache__" in rel.split("/"):
                continue
            h.update(f"{top}/{rel}\0".encode())
            h.update((os.readlink(p) if link else _sha256(p)).encode() + b"\0")
    return h.hexdigest()


def key(venv: Path, mode: str, root: Path = ROOT) -> str:
    """The cache key: the OS, machine and interpreter (the environment links to it), where the
    environment lives (its scripts name that path), the locks of the mode and model-gate's source."""
    h = hashlib.sha256()
    parts = [
        f"format={FORMAT}",
        f"mode={mode}",
        f"python={sys.implementation.name} {sys.version}",
        f"executable={os.path.realpath(sys.executable)}",
        f"venv={os.path.abspath(venv)}",
        f"source={source_digest(root)}",
    ]
    parts += [f"lock={p.name}:{_sha256(p)}" for p in lock_paths(mode)]
    for part in parts:
        h.update(part.encode() + b"\n")
    system = platform.system().lower() or "unknown"
    version = ".".join(map(str, sys.version_info[:3]))
    return f"model-gate-venv-{system}-{platform.machine().lower()}-py{version}-{mode}-{h.hexdigest()[:40]}"


def file_hashes(venv: Path) -> dict[str, str]:
    """Every file's sha256 and every link's target, by posix path relative to the environment."""
    entries = [(rel, p, link) for rel, p, link in _walk(venv) if rel != MANIFEST]
    links = {rel: "link:" + os.readlink(p) for rel, p, link in entries if link}
    files = [(rel, p) for rel, p, link in entries if not link]
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        digests = pool.map(lambda item: "sha256:" + _sha256(item[1]), files)
        hashed = dict(zip((rel for rel, _ in files), digests, strict=True))
    return {**hashed, **links}


def _archives(reports: Iterable[Path], locks: Locks) -> dict[str, dict[str, str | None]]:
    """What pip's --report files say it installed, each checked against the locks."""
    out: dict[str, dict[str, str | None]] = {}
    for path in reports:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise VenvError(f"{path}: not a pip installation report ({exc})") from None
        for item in data.get("install", []):
            meta = item.get("metadata", {})
            name, version = normalize(str(meta.get("name", ""))), str(meta.get("version", ""))
            info = item.get("download_info", {})
            archive = info.get("archive_info")
            if archive is None:
                if name != LOCAL_BUILD or "dir_info" not in info:
                    raise VenvError(
                        f"{name} {version}: installed from neither a pinned archive nor the checkout"
                    )
                out[name] = {"version": version, "sha256": None}
                continue
            sha = (archive.get("hashes") or {}).get("sha256") or str(archive.get("hash", "")).removeprefix(
                "sha256="
            )
            if not locks.allows(name, version, sha):
                raise VenvError(
                    f"{name} {version}: the archive pip installed (sha256 {sha[:16]}…) is not in the locks"
                )
            out[name] = {"version": version, "sha256": sha}
    return out


def record(venv: Path, mode: str, key_: str, reports: Iterable[Path]) -> dict[str, object]:
    """Write the manifest of a freshly installed environment (on top of an earlier manifest when
    a second lock was added to the same environment in this job)."""
    locks = Locks.read(lock_paths(mode))
    dists: dict[str, dict[str, str | None]] = {}
    previous = venv / MANIFEST
    if previous.is_file():
        dists.update(json.loads(previous.read_text("utf-8")).get("dists", {}))
    dists.update(_archives(reports, locks))
    manifest: dict[str, object] = {
        "format": FORMAT,
        "key": key_,
        "dists": dict(sorted(dists.items())),
        "files": dict(sorted(file_hashes(venv).items())),
    }
    tmp = venv / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=0, sort_keys=True), "utf-8")
    tmp.replace(venv / MANIFEST)
    return manifest


def problems(venv: Path, mode: str, key_: str) -> list[str]:
    """Why a restored environment must not be used; empty when it is exactly what was recorded."""
    path = venv / MANIFEST
    if not venv.is_dir():
        return ["no environment was restored"]
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return [f"{MANIFEST} is missing or unreadable (a partial or foreign cache)"]
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return [f"{MANIFEST}: unknown format"]
    if manifest.get("key") != key_:
        return [f"{MANIFEST} was written for another key ({str(manifest.get('key'))[:80]})"]
    out: list[str] = []
    locks = Locks.read(lock_paths(mode))
    dists = manifest.get("dists")
    files = manifest.get("files")
    if not isinstance(dists, dict) or not isinstance(files, dict):
        return [f"{MANIFEST}: no dists or files"]
    for name, d in sorted(dists.items()):
        version, sha = str(d.get("version")), d.get("sha256")
        if sha is None:
            if name != LOCAL_BUILD:
                out.append(f"{name} {version}: not from a pinned archive")
        elif not locks.allows(name, version, str(sha)):
            out.append(f"{name} {version}: its archive is not pinned by the {mode} locks")
    for name, versions in sorted(locks.unconditional().items()):
        if name not in dists:
            out.append(f"{name}: pinned but not installed")
        elif str(dists[name].get("version")) not in versions:
            out.append(
                f"{name}: installed {dists[name].get('version')}, pinned {', '.join(sorted(versions))}"
            )
    actual = file_hashes(venv)
    for rel in sorted(set(files) - set(actual)):
        out.append(f"missing file {rel}")
    for rel in sorted(set(actual) - set(files)):
        out.append(f"unexpected file {rel}")
    for rel in sorted(set(actual) & set(files)):
        if actual[rel] != files[rel]:
            out.append(f"changed file {rel}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="venvcheck.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("path", "key", "record", "verify"))
    parser.add_argument("--venv", type=Path)
    parser.add_argument("--mode", choices=sorted(MODES), default="core")
    parser.add_argument("--key", default="")
    parser.add_argument("--report", type=Path, action="append", default=[])
    args = parser.parse_args(argv)
    if args.command == "path":
        print(venv_path())
        return 0
    if args.venv is None:
        parser.error("--venv is required")
    try:
        if args.command == "key":
            print(key(args.venv, args.mode))
            return 0
        if args.command == "record":
            manifest = record(args.venv, args.mode, args.key, args.report)
            count = len(manifest["files"]) if isinstance(manifest["files"], dict) else 0
            print(f"model-gate: recorded {count} files of the environment")
            return 0
        found = problems(args.venv, args.mode, args.key)
    except (VenvError, OSError) as exc:
        print(f"model-gate: {exc}", file=sys.stderr)
        return 2
    if found:
        more = f" (and {len(found) - MAX_PROBLEMS} more)" if len(found) > MAX_PROBLEMS else ""
        listed = "; ".join(found[:MAX_PROBLEMS])
        print(f"model-gate: the restored environment is not the recorded one: {listed}{more}")
        return 1
    print("model-gate: the restored environment matches its manifest and the locks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
