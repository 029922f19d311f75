from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scanner.attacks import build_attacks
from tests.support.scanner.benign import build_all


@pytest.fixture(scope="session")
def benign_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_all(tmp_path_factory.mktemp("benign"))


@pytest.fixture(scope="session")
def attack_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("attacks")
    markers = root / "markers"
    return root / "files", markers, build_attacks(root / "files", markers)
