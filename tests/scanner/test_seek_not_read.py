"""Every format's bulk data is passed over by seeking: the bytes the OS hands the scanner stay small.

The file is opened through a counting reader, so a format whose structure is skipped by reading
(a stream built without its size, say) fails here however fast the machine is.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO, Any

import pytest

from gate.scanner.interface import Context, Result, Target
from gate.scanner.scan import dispatch
from tests.support.scanner.helpers import settings

MIB = 1024 * 1024


class Counting(io.FileIO):
    total = 0

    def read(self, n: int = -1, /) -> bytes:  # type: ignore[override]
        data = super().read(n)
        Counting.total += len(data or b"")
        return data or b""

    def readinto(self, b: Any, /) -> int:
        n = super().readinto(b) or 0
        Counting.total += n
        return n


def scan_counting(path: Path) -> tuple[Result, int]:
    Counting.total = 0

    def opener() -> IO[bytes]:
        return io.BufferedReader(Counting(path, "r"))

    with opener() as fh:
        head = fh.read(512)
    Counting.total = 0
    result = Result(path=path.name)
    target = Target("", path.stat().st_size, head, opener, path, path.name)
    dispatch(target, Context(settings(), result, dispatch))
    return result, Counting.total


def _tensors() -> dict[str, Any]:
    import torch

    return {f"layer{i}.weight": torch.zeros(2 * MIB // 4) for i in range(4)}  # 8 MiB in 4 storages


@pytest.mark.parametrize("zipped", [False, True], ids=["legacy", "zip"])
def test_torch_checkpoint_storages_are_not_read(tmp_path: Path, zipped: bool) -> None:
    import torch

    p = tmp_path / "ckpt.pt"
    torch.save(_tensors(), p, _use_new_zipfile_serialization=zipped)
    assert p.stat().st_size > 8 * MIB
    result, read = scan_counting(p)
    assert not result.issues, result.issues
    assert read < 512 * 1024, f"read {read} bytes of {p.stat().st_size}"


def test_joblib_arrays_are_not_read(tmp_path: Path) -> None:
    import joblib
    import numpy as np

    p = tmp_path / "arrays.joblib"
    joblib.dump({"a": np.zeros(MIB), "b": np.ones(MIB)}, p)  # 16 MiB of float64
    result, read = scan_counting(p)
    assert not [i for i in result.issues if i.kind.value != "trailing-data"], result.issues
    assert read < 512 * 1024, f"read {read} bytes of {p.stat().st_size}"


def test_npy_data_is_not_read(tmp_path: Path) -> None:
    import numpy as np

    p = tmp_path / "w.npy"
    np.save(p, np.zeros(2 * MIB))
    result, read = scan_counting(p)
    assert not result.issues, result.issues
    assert read < 512 * 1024, f"read {read} bytes of {p.stat().st_size}"
