"""The digests that waivers and attestations are bound to.

One place, so that every signed statement about a release names it the same
way:

- the **release digest** (`Inventory.digest`): every file of the release, its
  path, size and sha256, every symlink with its target and the target's
  content (subject listing format 2, see `gate.inventory.subject_listing`).
  Every statement names it; it alone binds everything the gate judged.
- the **model root digest**, when the release carries a model-signing
  signature that its model files match: model-signing's own subject (sha256
  over the per-file digests under the signature's serialization). Statements
  name it as a second subject, so that whoever knows the model by its signed
  root can match it, and a statement that names it is refused for a release
  whose model recomputes to anything else.

A statement is for this release when it names the release digest and every
other digest it names is one of this release's subjects. Statements written
before the model root was added (one subject) keep verifying.
"""

from __future__ import annotations

from dataclasses import dataclass

from gate.release import Release

MODEL_SUBJECT_SUFFIX = "#model"


@dataclass(frozen=True)
class Subjects:
    name: str
    release: str  # 'sha256:<hex>'
    model_root: str | None = None  # 'sha256:<hex>' of the model-signing root, when the files match it

    def statement_subjects(self) -> list[dict[str, object]]:
        """The in-toto `subject` list of a statement about this release."""
        out: list[dict[str, object]] = []
        for name, digest in ((self.name, self.release), (self.name + MODEL_SUBJECT_SUFFIX, self.model_root)):
            if digest is not None:
                algo, value = split_digest(digest)
                out.append({"name": name, "digest": {algo: value}})
        return out

    def refusal(self, named: list[dict[str, str]], what: str) -> str | None:
        """Why a statement whose subjects carry these digest sets is not about this release, or None."""
        mine = {split_digest(d) for d in (self.release, self.model_root) if d is not None}
        algo, value = split_digest(self.release)
        has_release = any(d.get(algo) == value for d in named)
        foreign = [f"{a}:{v[:12]}…" for d in named for a, v in sorted(d.items()) if (a, v) not in mine]
        if has_release and not foreign:
            return None
        shown = ", ".join(f"{a}:{v[:12]}…" for d in named for a, v in sorted(d.items())) or "none"
        mine_shown = f"{algo}:{value[:12]}…" + (
            f" (model root {self.model_root[:19]}…)" if self.model_root else ""
        )
        return f"for another release: the {what} names {shown}, this release is {mine_shown}"


def release_subjects(release: Release, *, model_root: bool = True) -> Subjects:
    """The release digest, and the model-signing root digest when the model files match one."""
    root = None
    if model_root:
        from gate.signing.model_format import model_root_of

        root = model_root_of(release)
    return Subjects(name=subject_name(release), release=release.digest, model_root=root)


def release_subject_digest(release: Release) -> str:
    """'sha256:<hex>' naming this release (its first subject) in waivers and attestations."""
    return release.digest


def subject_name(release: Release) -> str:
    return f"{release.manifest.name}@{release.manifest.version}"


def split_digest(digest: str) -> tuple[str, str]:
    """'sha256:<hex>' -> ('sha256', '<hex>')."""
    algo, _, value = digest.partition(":")
    return algo, value
