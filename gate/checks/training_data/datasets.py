"""A declared dataset's files and digests, read from the release inventory (never re-hashed)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from gate.checks.training_data.findings import TrainingDataFindings
from gate.datacheck.readers import FORMATS, SUFFIXES, DatasetUnreadable, detect_format
from gate.inventory import Entry, Inventory
from gate.models.finding import Finding
from gate.models.manifest import Dataset
from gate.release import Release

if TYPE_CHECKING:  # the analysis pulls in numpy: imported when the check runs, not when it is listed
    from gate.datacheck.analyze import DataFile


def dataset_files(release: Release, ds: Dataset) -> tuple[list[DataFile], list[tuple[str, str]]]:
    """The data files of a dataset path, and (path, reason) for what cannot be read."""
    from gate.datacheck.analyze import DataFile

    assert ds.path is not None
    rel = PurePosixPath(ds.path).as_posix().rstrip("/")
    inv = release.inventory
    entry = inv.by_path().get(rel)
    if entry is not None:
        if entry.kind != "file":
            return [], [(rel, f"is a {entry.kind}, not a regular file (symlinks are never followed)")]
        try:
            fmt = detect_format(Path(rel), ds.format)
        except DatasetUnreadable as exc:
            return [], [(rel, exc.reason)]
        return [DataFile(rel, release.path(rel), fmt)], []
    under = [e for e in inv.under(rel) if e.path != rel]
    if not under:
        return [], [(rel, "does not exist in the release")]
    files: list[DataFile] = []
    problems: list[tuple[str, str]] = []
    for e in under:
        found_fmt = SUFFIXES.get(PurePosixPath(e.path).suffix.lower())
        if found_fmt is None or (ds.format and found_fmt != ds.format):
            continue
        if e.kind != "file":
            problems.append((e.path, f"is a {e.kind}, not a regular file (symlinks are never followed)"))
            continue
        files.append(DataFile(e.path, release.path(e.path), found_fmt))
    if not files and not problems:
        problems.append((rel, f"holds no {ds.format or '/'.join(FORMATS)} files"))
    return files, problems


def actual_digest(inv: Inventory, rel: str, algorithm: str) -> str | None:
    """A dataset's digest from the inventory: the file's, or for a directory the digest of its
    `sha256sum`-style listing (`<hex>  <path inside the directory>` per file, sorted by path)."""
    rel = rel.rstrip("/")

    def of(e: Entry) -> str | None:
        return e.sha256 if algorithm == "sha256" else e.digests.get(algorithm)

    entry = inv.by_path().get(rel)
    if entry is not None:
        value = of(entry) if entry.kind == "file" else None
        return f"{algorithm}:{value}" if value else None
    files = [e for e in inv.under(rel) if e.kind == "file"]
    if not files:
        return None
    lines = []
    for e in sorted(files, key=lambda e: e.path):
        value = of(e)
        if value is None:
            return None
        lines.append(f"{value}  {e.path[len(rel) + 1 :]}\n")
    return (
        f"{algorithm}:"
        + hashlib.new(algorithm, "".join(lines).encode("utf-8", "surrogateescape")).hexdigest()
    )


def verify_dataset_digests(
    release: Release,
    expected: Mapping[str, str],
    source: str,
    *,
    line_of: Mapping[str, int | None] | None = None,
) -> list[Finding]:
    """Compare datasets' bytes (digests from the inventory) with expected digests.

    `expected` maps a dataset name (as in release.yaml) to 'algorithm:hex'; `source` names where the
    expectation comes from ('release.yaml', or a provenance file once its subjects are parsed).
    """
    out: list[Finding] = []
    by_name = {d.name: d for d in release.manifest.datasets if d.path}
    for name, want in expected.items():
        ds = by_name.get(name)
        if ds is None or ds.path is None:
            continue
        algorithm = want.split(":", 1)[0]
        got = actual_digest(release.inventory, ds.path, algorithm)
        if got == want:
            continue
        title = (
            f"Dataset '{name}' ({ds.path}) does not match the digest in {source}"
            if got
            else f"Dataset '{name}' ({ds.path}) cannot be hashed to compare with {source}"
        )
        out.append(
            TrainingDataFindings.finding(
                "dataset-digest-mismatch",
                title,
                path=source,
                line=(line_of or {}).get(name),
                key=f"{source}:{name}",
                detail=name,
                evidence={
                    "dataset": name,
                    "path": ds.path,
                    "expected": want,
                    "actual": got,
                    "source": source,
                },
            )
        )
    return out
