"""A policy the pull request cannot loosen.

In CI the working tree is the pull request's: its policy files and trust keys
are whatever the pull request says. Three guards, each optional:

- `--policy-ref REF` reads the policy file, the files it `extends:`, the
  reviewer keys and every other file it references from a git ref (the base
  branch), into a private temporary directory with the same relative layout.
  Where the working tree differs, the report says so; the protected version
  judges.
- `--policy-sha256 DIGEST` pins the composed policy's digest (reviewer keys
  are embedded in it, so the pin covers them too).
- `--policy-key KEY` requires each policy file to carry a signature
  (`FILE.sig`, a DSSE envelope) by that key over the file and the trust files
  it references.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from gate.childenv import child_env
from gate.errors import GateError, InputError, PolicyError
from gate.policy import POLICY_MAX_BYTES, Policy, PolicySource, _is_name, load_policy
from gate.yamlsafe import load_text

POLICY_PREDICATE = "https://model-gate.dev/policy/v1"
SIG_SUFFIX = ".sig"
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_FILES = 500
GIT_TIMEOUT_S = 60
# Keys whose string values are prose, never paths.
PROSE_KEYS = frozenset({"name", "description", "summary", "reason", "id", "identity", "issuer"})


def _git(repo: Path, *args: str, binary: bool = False) -> Any:
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env=child_env(extra={"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}),
        )
    except FileNotFoundError:
        raise InputError("--policy-ref needs git on PATH") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"git {' '.join(args[:2])} took longer than {GIT_TIMEOUT_S}s") from None
    if proc.returncode != 0:
        return None
    return proc.stdout if binary else proc.stdout.decode("utf-8", "replace").strip()


# ---------------------------------------------------------------------------------------------
# References from a policy file to other files


def _strings(node: Any, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)
    elif isinstance(node, str):
        yield key, node


def _looks_like_path(value: str) -> bool:
    v = value.strip()
    return bool(v) and len(v) < 1024 and "\n" not in v and "://" not in v and not v.startswith("-----BEGIN")


def references(data: Any) -> tuple[list[str], list[str]]:
    """(extends entries that are files, every other string that may name a file).

    Which strings name files is decided by the caller against what exists:
    a check's trust root is found without the gate knowing the check's fields.
    """
    if not isinstance(data, dict):
        return [], []
    extends = [e for e in data.get("extends") or [] if isinstance(e, str) and not _is_name(e)]
    others: list[str] = []
    for section_key in ("defaults", "tiers"):
        for key, value in _strings(data.get(section_key)):
            if key in PROSE_KEYS or not _looks_like_path(value):
                continue
            others.append(value.strip())
    return extends, list(dict.fromkeys(others))


# ---------------------------------------------------------------------------------------------
# --policy-ref


@dataclass
class _RefTree:
    repo: Path
    commit: str
    ref: str
    blobs: dict[str, str] = field(default_factory=dict)  # path -> mode

    def is_dir(self, rel: str) -> bool:
        prefix = rel.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in self.blobs)

    def under(self, rel: str) -> list[str]:
        prefix = rel.rstrip("/") + "/"
        return sorted(p for p in self.blobs if p.startswith(prefix))


def _repo_of(policy_path: Path) -> tuple[Path, str]:
    """The repository holding the policy path, and the path relative to its top."""
    probe = policy_path.absolute().parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    top = _git(probe, "rev-parse", "--show-toplevel")
    if not top:
        raise InputError(f"{policy_path}: --policy-ref needs the policy inside a git repository")
    top_path = Path(top).resolve()
    absolute = (
        probe.resolve() / policy_path.absolute().relative_to(probe)
        if policy_path.absolute().is_relative_to(probe)
        else policy_path.absolute()
    )
    try:
        rel = PurePosixPath(os.path.relpath(absolute, top_path)).as_posix()
    except ValueError:
        raise InputError(f"{policy_path}: not inside the repository {top_path}") from None
    if rel.startswith("../") or rel == "..":
        raise InputError(f"{policy_path}: not inside the repository {top_path}")
    return top_path, rel


def _ref_tree(repo: Path, ref: str) -> _RefTree:
    if not ref or ref.startswith("-") or any(c in ref for c in "\x00\n\r "):
        raise InputError(f"--policy-ref '{ref}': not a git ref")
    commit = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if not commit:
        raise InputError(
            f"--policy-ref {ref}: no such commit, branch or tag in {repo}",
            hint="In CI fetch the base branch first (actions/checkout with fetch-depth: 0, or "
            "`git fetch origin main`), then pass e.g. --policy-ref origin/main.",
        )
    listing = _git(repo, "ls-tree", "-r", "-z", "--full-tree", commit, binary=True)
    if listing is None:
        raise InputError(f"--policy-ref {ref}: cannot list commit {commit[:12]}")
    tree = _RefTree(repo=repo, commit=commit, ref=ref)
    for item in listing.split(b"\x00"):
        if not item:
            continue
        meta, _, path = item.partition(b"\t")
        mode = meta.split(b" ")[0].decode()
        tree.blobs[path.decode("utf-8", "surrogateescape")] = mode
    return tree


def _resolve(base_dir: str, value: str, origin: str, ref: str, strict: bool) -> str | None:
    """A reference relative to the file that makes it, as a repository path (None: not a path)."""
    if value.startswith("/") or (len(value) > 1 and value[1] == ":"):
        if strict:
            raise PolicyError(
                f"{ref}:{origin}: '{value}' is an absolute path; with --policy-ref every file the policy "
                "uses must be in the repository, named relative to the policy"
            )
        return None
    joined = posixpath.normpath(posixpath.join(base_dir, value))
    if joined == ".." or joined.startswith("../"):
        raise PolicyError(f"{ref}:{origin}: '{value}' points outside the repository")
    return joined


def _fetch(tree: _RefTree, rel: str, dest: Path) -> bytes:
    mode = tree.blobs.get(rel)
    if mode is None:
        raise PolicyError(f"{tree.ref}:{rel}: not in the protected ref (commit {tree.commit[:12]})")
    if mode == "120000":
        raise PolicyError(f"{tree.ref}:{rel}: a symbolic link; policy and trust files must be regular files")
    if mode not in ("100644", "100755"):
        raise PolicyError(f"{tree.ref}:{rel}: not a regular file (git mode {mode})")
    size = _git(tree.repo, "cat-file", "-s", f"{tree.commit}:{rel}")
    if size is None or int(size) > MAX_FILE_BYTES:
        raise PolicyError(f"{tree.ref}:{rel}: larger than {MAX_FILE_BYTES} bytes")
    data = _git(tree.repo, "cat-file", "blob", f"{tree.commit}:{rel}", binary=True)
    if data is None:
        raise PolicyError(f"{tree.ref}:{rel}: cannot read from git")
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return bytes(data)


def materialise(tree: _RefTree, entry: str, dest: Path) -> dict[str, str]:
    """Copy the policy at `entry` and everything it references from the ref into dest.

    Returns each copied file's repository path and sha256.
    """
    done: dict[str, str] = {}
    queue = [(entry, True)]
    while queue:
        rel, is_policy = queue.pop(0)
        if rel in done:
            continue
        if len(done) >= MAX_FILES:
            raise PolicyError(f"{tree.ref}:{entry}: the policy references more than {MAX_FILES} files")
        data = _fetch(tree, rel, dest)
        done[rel] = hashlib.sha256(data).hexdigest()
        if f"{rel}{SIG_SUFFIX}" in tree.blobs:
            queue.append((f"{rel}{SIG_SUFFIX}", False))
        if not is_policy:
            continue
        if len(data) > POLICY_MAX_BYTES:
            raise PolicyError(f"{tree.ref}:{rel}: larger than {POLICY_MAX_BYTES} bytes")
        try:
            doc = load_text(data.decode("utf-8"), f"{tree.ref}:{rel}")
        except UnicodeDecodeError:
            raise PolicyError(f"{tree.ref}:{rel}: not UTF-8 text") from None
        base = posixpath.dirname(rel)
        extends, others = references(doc.data)
        for e in extends:
            target = _resolve(base, e, rel, tree.ref, strict=True)
            if target is not None:
                queue.append((target, True))
        for value in others:
            target = _resolve(base, value, rel, tree.ref, strict=False)
            if target is None:
                continue
            if target in tree.blobs:
                queue.append((target, False))
            elif tree.is_dir(target):
                queue += [(p, False) for p in tree.under(target)]
    return done


def _differences(tree: _RefTree, files: dict[str, str]) -> list[str]:
    """Files whose working-tree copy is not the protected one."""
    changed = []
    for rel, digest in files.items():
        wt = tree.repo / rel
        try:
            if wt.is_symlink() or not wt.is_file():
                changed.append(f"{rel} (missing)")
            elif hashlib.sha256(wt.read_bytes()).hexdigest() != digest:
                changed.append(rel)
        except OSError:
            changed.append(f"{rel} (unreadable)")
    return changed


# ---------------------------------------------------------------------------------------------
# Signed policy files


def _referenced_files(src_dir: Path, data: Any) -> dict[str, Path]:
    """Files next to a policy that it names (trust files): name relative to the policy -> path."""
    _, others = references(data)
    out: dict[str, Path] = {}
    for value in others:
        if value.startswith("/"):
            continue
        p = src_dir / value
        try:
            if p.is_file():
                out[PurePosixPath(os.path.normpath(value)).as_posix()] = p
            elif p.is_dir():
                for q in sorted(p.rglob("*")):
                    if q.is_file():
                        out[PurePosixPath(os.path.relpath(q, src_dir)).as_posix()] = q
        except OSError:
            continue
    return out


def _sha256_file(p: Path) -> str:
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{p}: larger than {MAX_FILE_BYTES} bytes")
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None


def sign_policy_file(path: Path, private_key: Any) -> Path:
    """Write PATH.sig: a DSSE-signed statement over the policy file and the trust files it names."""
    from gate.signing.dsse import sign_envelope

    src = path.resolve()
    doc = load_text(_read_text(src), str(path))
    subjects = [{"name": src.name, "digest": {"sha256": _sha256_file(src)}}]
    for name, p in _referenced_files(src.parent, doc.data).items():
        if name != src.name:
            subjects.append({"name": name, "digest": {"sha256": _sha256_file(p)}})
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": POLICY_PREDICATE,
        "predicate": {"policy": src.name},
    }
    out = path.with_name(path.name + SIG_SUFFIX)
    payload = json.dumps(statement, sort_keys=True, indent=2).encode()
    from gate.safewrite import write_file

    write_file(out, sign_envelope(payload, private_key), what="the policy signature")
    return out


def _read_text(p: Path) -> str:
    try:
        if p.stat().st_size > POLICY_MAX_BYTES:
            raise InputError(f"{p}: larger than {POLICY_MAX_BYTES} bytes")
        return p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def verify_policy_signatures(policy: Policy, public_key: Any, display: dict[str, str] | None = None) -> None:
    """Every policy file (packaged ones excepted) must be signed by the pinned key, trust files included."""
    from gate.signing.dsse import verify_envelope

    for src in policy.sources:
        if src.directory is None:
            continue  # shipped inside model-gate itself
        path = Path(src.path)
        shown = (display or {}).get(src.path, src.path)
        sig = path.with_name(path.name + SIG_SUFFIX)
        if not sig.is_file():
            raise PolicyError(
                f"{shown}: unsigned policy file (no {path.name}{SIG_SUFFIX}), and --policy-key requires one",
                hint=f"Sign it: model-gate policy sign {path.name} --key KEY",
            )
        raw = sig.read_bytes()
        verified = verify_envelope(raw, [public_key], f"{shown}{SIG_SUFFIX}")
        if not verified.key_ids:
            raise PolicyError(
                f"{shown}{SIG_SUFFIX}: not signed by the --policy-key key (or altered after signing)"
            )
        st = verified.statement(f"{shown}{SIG_SUFFIX}")
        if st.predicateType != POLICY_PREDICATE:
            raise PolicyError(f"{shown}{SIG_SUFFIX}: predicateType is not {POLICY_PREDICATE}")
        signed = {s.name: s.digest.get("sha256") for s in st.subject}
        if signed.get(path.name) != src.raw_sha256:
            raise PolicyError(f"{shown}: changed since it was signed (its sha256 is not the signed one)")
        for name, p in _referenced_files(src.directory, src.doc.data).items():
            if name == path.name:
                continue
            if name not in signed:
                raise PolicyError(f"{shown}: trust file {name} is not covered by {path.name}{SIG_SUFFIX}")
            if signed[name] != _sha256_file(p):
                raise PolicyError(f"{shown}: trust file {name} changed since the policy was signed")


# ---------------------------------------------------------------------------------------------
# The entry point the command line uses


def _pin(policy: Policy, pin: str) -> None:
    want = pin.strip().lower().removeprefix("sha256:")
    if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
        raise InputError(f"--policy-sha256 {pin}: not a sha256 digest (64 hex digits)")
    if policy.sha256 != want:
        raise PolicyError(
            f"policy digest mismatch: the composed policy is sha256:{policy.sha256}, "
            f"--policy-sha256 pins sha256:{want}",
            hint="The policy or its reviewer keys changed; `model-gate policy show` prints the digest.",
        )


@contextmanager
def protected_policy(
    policy_ref: str,
    *,
    git_ref: str | None = None,
    pin: str | None = None,
    key_path: Path | None = None,
    release_dir: Path | None = None,
) -> Iterator[Policy]:
    """The policy to judge with, after the guards the command line asked for."""
    public_key = None
    if key_path is not None:
        from gate.signing.keys import public_keys_from

        public_key = public_keys_from([key_path])[0]
    if git_ref is None:
        policy = load_policy(policy_ref)
        if public_key is not None:
            verify_policy_signatures(policy, public_key)
        if pin:
            _pin(policy, pin)
        yield policy
        return
    if _is_name(policy_ref):
        raise InputError(
            f"--policy-ref needs a policy file in the repository, not the packaged policy '{policy_ref}'"
        )
    repo, rel = _repo_of(Path(policy_ref))
    tree = _ref_tree(repo, git_ref)
    tmp = Path(tempfile.mkdtemp(prefix="model-gate-policy-"))
    try:
        if release_dir is not None and tmp.resolve().is_relative_to(release_dir.resolve()):
            raise InputError(f"{tmp}: the temporary directory is inside the release; set TMPDIR elsewhere")
        files = materialise(tree, rel, tmp)
        try:
            policy = load_policy(str(tmp / rel))
        except GateError as exc:
            # Name the file as the user knows it, not by the private temporary copy.
            exc.message = exc.message.replace(f"{tmp}/", f"{git_ref}:")
            raise
        display = {s.path: _shown(s, tmp, tree) for s in policy.sources}
        if public_key is not None:
            verify_policy_signatures(policy, public_key, display)
        changed = _differences(tree, files)
        where = f"{git_ref} (commit {tree.commit[:12]})"
        notes = [f"policy and trust files read from the protected ref {where}"]
        if changed:
            notes.append(
                f"the working tree changes {', '.join(changed)}: ignored, the protected version from "
                f"{git_ref} judged this release"
            )
        policy = replace(
            policy,
            sources=tuple(replace(s, path=display[s.path]) for s in policy.sources),
            notes=(*policy.notes, *notes),
        )
        if pin:
            _pin(policy, pin)
        yield policy
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _shown(src: PolicySource, tmp: Path, tree: _RefTree) -> str:
    if src.directory is None:
        return src.path
    try:
        rel = Path(src.path).resolve().relative_to(tmp.resolve()).as_posix()
    except ValueError:
        return src.path
    return f"{tree.ref}:{rel}"
