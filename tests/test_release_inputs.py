"""Bad input: exit 2 and one line naming file and field; never a traceback, never a hang."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.errors import InputError
from gate.release import load_manifest
from tests.support import MINIMAL_MANIFEST, run_cli, write_release


def assert_usage_error(release: Path, *needles: str) -> str:
    result = run_cli("check", str(release))
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert "Traceback" not in result.output
    first = err.splitlines()[0]
    assert first.startswith("model-gate: error: ")
    for n in needles:
        assert n in first, first
    return first


def test_invalid_yaml(tmp_path: Path) -> None:
    rel = write_release(tmp_path / "r", "name: [unclosed\nversion: 1\n")
    assert_usage_error(rel, "release.yaml:", "invalid YAML")


def test_wrong_type_names_field_and_line(tmp_path: Path) -> None:
    rel = write_release(tmp_path / "r", MINIMAL_MANIFEST.replace("exposure: internal", "exposure: 42"))
    assert_usage_error(rel, "release.yaml:9", "deployment.exposure")


def test_unknown_nested_key(tmp_path: Path) -> None:
    rel = write_release(tmp_path / "r", MINIMAL_MANIFEST.replace("  task:", "  tsak:"))
    assert_usage_error(rel, "release.yaml:7", "model.tsak: unknown key")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../outside", "'..'"),
        ("model/../../etc", "'..'"),
        ("/etc/passwd", "relative"),
        ("C:/Windows", "relative"),
        ("model\\..\\x", "backslash"),
    ],
)
def test_paths_escaping_the_release(tmp_path: Path, path: str, why: str) -> None:
    rel = write_release(tmp_path / "r", MINIMAL_MANIFEST.replace("path: model/", f"path: '{path}'"))
    assert_usage_error(rel, "model.path", why)


def test_declared_path_through_symlink_leaving_release(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    rel = write_release(tmp_path / "r", MINIMAL_MANIFEST.replace("path: model/", "path: link/"))
    os.symlink(outside, rel / "link")
    assert_usage_error(rel, "model.path", "leaves the release")


def test_manifest_that_is_a_symlink(tmp_path: Path) -> None:
    rel = tmp_path / "r"
    rel.mkdir()
    real = tmp_path / "real.yaml"
    real.write_text(MINIMAL_MANIFEST)
    os.symlink(real, rel / "release.yaml")
    assert_usage_error(rel, "symlink")


def test_billion_laughs_fails_fast_with_bounded_memory(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    rel = write_release(tmp_path / "r", "\n".join(lines) + "\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    assert_usage_error(rel, "aliases are not allowed")
    assert time.perf_counter() - start < 2.0
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 50 * 1024


def test_python_tags_are_refused(tmp_path: Path) -> None:
    rel = write_release(tmp_path / "r", "name: !!python/object/apply:os.system ['true']\n")
    assert_usage_error(rel, "release.yaml:1")


def test_duplicate_keys(tmp_path: Path) -> None:
    rel = write_release(tmp_path / "r", MINIMAL_MANIFEST + "name: other\n")
    assert_usage_error(rel, "duplicate key 'name'")


def test_multi_document_manifest(tmp_path: Path) -> None:
    rel = write_release(tmp_path / "r", MINIMAL_MANIFEST + "---\nname: x\n")
    assert_usage_error(rel, "expected one YAML document")


def test_empty_manifest_and_non_mapping(tmp_path: Path) -> None:
    assert_usage_error(write_release(tmp_path / "a", ""), "empty YAML document")
    assert_usage_error(write_release(tmp_path / "b", "- 1\n- 2\n"), "expected a mapping")


def test_binary_manifest(tmp_path: Path) -> None:
    rel = tmp_path / "r"
    rel.mkdir()
    (rel / "release.yaml").write_bytes(b"\xff\xfe\x00garbage")
    assert_usage_error(rel, "not UTF-8")


def test_huge_manifest(tmp_path: Path) -> None:
    rel = tmp_path / "r"
    rel.mkdir()
    (rel / "release.yaml").write_bytes(b"# " + b"x" * (2 * 1024 * 1024))
    assert_usage_error(rel, "over the")


def test_deep_nesting(tmp_path: Path) -> None:
    rel = write_release(tmp_path / "r", "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert_usage_error(rel, "release.yaml")


def test_empty_directory_and_file_and_missing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert_usage_error(tmp_path / "empty", "no release.yaml")
    f = tmp_path / "file"
    f.write_text("x")
    assert_usage_error(f, "not a directory")
    assert_usage_error(tmp_path / "nope", "no such release directory")


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
YAML_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(
            ["name", "version", "model", "deployment", "datasets", "endpoint", "serving", "bogus"]
        ),
        YAML_VALUES,
        max_size=6,
    )
)
def test_manifest_loader_never_crashes(tmp_path: Path, data: dict[str, object]) -> None:
    rel = tmp_path / "h"
    rel.mkdir(exist_ok=True)
    (rel / "release.yaml").write_text(yaml.safe_dump(data), "utf-8")
    try:
        load_manifest(rel)
    except InputError as exc:
        assert "release.yaml" in exc.message
        assert "\n" not in exc.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=400))
def test_manifest_loader_on_arbitrary_text(tmp_path: Path, text: str) -> None:
    rel = tmp_path / "t"
    rel.mkdir(exist_ok=True)
    (rel / "release.yaml").write_text(text, "utf-8", errors="surrogatepass")
    try:
        load_manifest(rel)
    except InputError as exc:
        assert exc.message
