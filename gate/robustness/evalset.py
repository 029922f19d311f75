"""The evaluation set: the dataset release.yaml marks `role: evaluation`, read from verified bytes.

One CSV file with a header: one column per input value (in the model's input order, flattened)
and a label column holding a class label from `model.classifier.labels` (or its index). The file
is read once; its bytes must hash to the inventory's digest and to the digest release.yaml
declares, and only those bytes are parsed. Anything that does not fit the declared classifier
is bad input, reported with the file and field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from typing import Any

from gate.errors import InputError
from gate.models.manifest import Classifier, Dataset
from gate.release import Release
from gate.robustness.sandbox import Changed, read_verified

MAX_EVAL_BYTES = 256 * 1024 * 1024
MAX_EVAL_ROWS = 1_000_000


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: str
    digest: str  # sha256 of the bytes parsed (the inventory's)
    x: Any  # numpy float32, (n, *input_shape)
    y: Any  # numpy int64, (n,)


def evaluation_dataset(release: Release) -> tuple[int, Dataset] | None:
    found = [(i, d) for i, d in enumerate(release.manifest.datasets) if d.role == "evaluation" and d.path]
    return found[0] if found else None


def _where(release: Release, field: str) -> str:
    line = release.line_of(field)
    return f"release.yaml:{line}: {field}" if line else f"release.yaml: {field}"


def load_eval_set(release: Release, clf: Classifier) -> EvalSet:

    found = evaluation_dataset(release)
    if found is None:
        raise InputError(
            "release.yaml: datasets: a classifier needs an evaluation set "
            "(a dataset entry with role: evaluation, a path and a digest)"
        )
    i, ds = found
    assert ds.path is not None
    if ds.digest is None:
        raise InputError(f"{_where(release, f'datasets[{i}].digest')}: the evaluation set needs a digest")
    entry = release.inventory.by_path().get(ds.path)
    if entry is None or entry.kind != "file" or not entry.sha256:
        raise InputError(
            f"{_where(release, f'datasets[{i}].path')}: {ds.path} is not a regular file of the release"
        )
    try:
        data = read_verified(release.path(ds.path), entry.sha256, MAX_EVAL_BYTES)
    except Changed as exc:
        raise InputError(f"{ds.path}: {exc}") from None
    algorithm, _, want = ds.digest.partition(":")
    got = hashlib.new(algorithm, data).hexdigest()
    if got != want:
        raise InputError(
            f"{_where(release, f'datasets[{i}].digest')}: {ds.path} has {algorithm}:{got}, "
            f"not the declared digest"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{ds.path}: the evaluation set is not UTF-8 text (CSV expected)") from None
    try:
        return _parse(text, ds, entry.sha256, clf)
    except csv.Error as exc:  # e.g. a field over the csv module's size limit, a NUL byte
        raise InputError(f"{ds.path}: not a readable CSV file: {str(exc)[:120]}") from None


def _parse(text: str, ds: Dataset, sha256: str, clf: Classifier) -> EvalSet:
    import numpy as np

    assert ds.path is not None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise InputError(f"{ds.path}: the evaluation set is empty (a CSV header is expected)")
    if clf.label_column not in header:
        raise InputError(
            f"{ds.path}: no column '{clf.label_column[:80]}' (release.yaml: model.classifier.label_column)"
        )
    li = header.index(clf.label_column)
    width = len(header) - 1
    if width != clf.size:
        raise InputError(
            f"{ds.path}: {width} feature columns, but model.classifier.input_shape "
            f"{list(clf.input_shape)} has {clf.size} values per example"
        )
    index = {label: k for k, label in enumerate(clf.labels)}
    xs: list[list[float]] = []
    ys: list[int] = []
    for row_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(xs) >= MAX_EVAL_ROWS:
            raise InputError(f"{ds.path}: over {MAX_EVAL_ROWS} rows")
        if len(row) != len(header):
            raise InputError(f"{ds.path}:{row_no}: {len(row)} columns, the header has {len(header)}")
        raw = row[li].strip()
        if raw in index:
            label = index[raw]
        elif raw.isdigit() and int(raw) < len(clf.labels):
            label = int(raw)
        else:
            raise InputError(
                f"{ds.path}:{row_no}: column '{clf.label_column[:80]}': {raw[:40]!r} is not one of "
                "model.classifier.labels"
            )
        values: list[float] = []
        for j, cell in enumerate(row):
            if j == li:
                continue
            try:
                v = float(cell)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                raise InputError(
                    f"{ds.path}:{row_no}: column '{header[j][:80]}': {cell[:40]!r} is not a finite number"
                )
            values.append(v)
        xs.append(values)
        ys.append(label)
    if not xs:
        raise InputError(f"{ds.path}: the evaluation set has no rows")
    x = np.asarray(xs, dtype=np.float32).reshape((len(xs), *clf.input_shape))
    return EvalSet(ds.name, ds.path, sha256, x, np.asarray(ys, dtype=np.int64))
