"""read_bounded: a size limit that holds whatever the path names (devices, FIFOs, growing files)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.errors import InputError
from gate.saferead import read_bounded
from tests.support import ROOT


def test_a_regular_file_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b"x" * 100)
    assert read_bounded(tmp_path / "a.json", 100, "report") == b"x" * 100
    (tmp_path / "empty").write_bytes(b"")
    assert read_bounded(tmp_path / "empty", 0) == b""


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=0, max_value=3000))
def test_the_limit_is_exact_and_the_bytes_are_the_files(data: bytes, limit: int) -> None:
    """Path.read_bytes is the oracle: within the limit the same bytes, beyond it refused."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f"
        path.write_bytes(data)
        if len(data) <= limit:
            assert read_bounded(path, limit) == path.read_bytes()
        else:
            with pytest.raises(InputError, match=f"{len(data)} bytes, over the {limit}-byte limit"):
                read_bounded(path, limit)


def test_a_link_to_a_device_is_refused_not_read_without_end(tmp_path: Path) -> None:
    (tmp_path / "baseline.json").symlink_to("/dev/zero")
    with pytest.raises(InputError, match=r"baseline.json: the baseline is not a regular file"):
        read_bounded(tmp_path / "baseline.json", 1024, "baseline")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "report.json")
    with pytest.raises(InputError, match="the report is not a regular file"):
        read_bounded(tmp_path / "report.json", 1024, "report")


def test_a_directory_and_a_missing_file_are_one_line_reasons(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a regular file"):
        read_bounded(tmp_path, 1024, "waiver")
    with pytest.raises(InputError, match="cannot read the waiver: No such file"):
        read_bounded(tmp_path / "nope", 1024, "waiver")
    with pytest.raises(InputError, match="the name holds a NUL byte"):
        read_bounded(tmp_path / "a\x00b", 1024, "waiver")


def test_a_baseline_next_to_the_release_linked_to_a_device_is_bad_input_at_once(tmp_path: Path) -> None:
    """`--baseline` naming `/dev/zero` (or a link to it) reported 0 bytes and was then read without
    end; the same link beside the release (one a pull request can commit) was taken for "no
    baseline", so the regression comparison silently went away. Both are bad input now. In a
    child with a memory cap and a time limit, so a regression fails rather than hangs."""
    (tmp_path / "rel").mkdir()
    (tmp_path / "adversarial-baseline.json").symlink_to("/dev/zero")
    code = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        from gate.checks.adversarial.baseline import load_baseline
        from gate.errors import InputError
        from pathlib import Path
        for given in (None, Path("/dev/zero")):
            try:
                load_baseline(given, Path({str(tmp_path / "rel")!r}))
                sys.exit(1)
            except InputError as exc:
                print(exc)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.splitlines() == [
        f"{tmp_path / 'adversarial-baseline.json'}: the baseline is not a regular file",
        "/dev/zero: the baseline is not a regular file",
    ]
    # The benign twin: a real baseline file there is read.
    (tmp_path / "adversarial-baseline.json").unlink()
    (tmp_path / "adversarial-baseline.json").write_text('{"categories": [{"category": "c", "asr": 0.5}]}')
    from gate.checks.adversarial.baseline import load_baseline

    assert load_baseline(None, tmp_path / "rel")[0] == {"c": 0.5}
