"""Unknown ids in the fields the tier is scored from are errors (exit 2) with "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.errors import ExitCode, ManifestError
from gate.models.manifest import Manifest, is_placeholder
from gate.release import load_manifest
from gate.risk import Tier, score, tables, unknown_ids
from tests.support import run_cli, write_release

PROHIBITED = sorted(tables().prohibited_practices)
ANNEX = sorted(tables().annex_iii)


def manifest(domains: list[str], task: str | None = "text-classification", **model: object) -> Manifest:
    return Manifest.model_validate(
        {
            "name": "m",
            "version": "1",
            "model": {"path": "m/", "format": "safetensors", "task": task, **model},
            "deployment": {
                "exposure": "internal",
                "data_sensitivity": "none",
                "autonomy": "advisory",
                "domains": domains,
            },
        }
    )


def release_text(domains: str, task: str = "text-classification") -> str:
    return f"""\
schema_version: 1
name: tiny
version: 1.0.0
model:
  path: model/
  format: safetensors
  task: {task}
deployment:
  exposure: internal
  data_sensitivity: none
  autonomy: advisory
  domains: {domains}
"""


def test_the_issue_example_is_an_error_naming_the_prohibited_id_file_and_line(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r", release_text("[developer-tools, emotion-recognition-workplace]"))
    result = run_cli("tier", str(root))
    assert result.exit_code == ExitCode.USAGE, result.output
    assert (
        f"{root.resolve() / 'release.yaml'}:12: deployment.domains[1]: unknown domain "
        "'emotion-recognition-workplace' (did you mean 'emotion-recognition-workplace-education'?)"
    ) in result.output
    # check refuses it the same way: nothing is judged
    assert run_cli("check", str(root)).exit_code == ExitCode.USAGE


def test_the_benign_twin_with_the_exact_id_is_prohibited(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r", release_text("[emotion-recognition-workplace-education]"))
    assert load_manifest(root).manifest.deployment.domains == ("emotion-recognition-workplace-education",)
    assert score(load_manifest(root).manifest).level is Tier.PROHIBITED


def test_domains_on_several_lines_each_get_their_own_line(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r", release_text("\n    - employment\n    - social_scoring"))
    with pytest.raises(ManifestError) as info:
        load_manifest(root)
    expected = ":14: deployment.domains[1]: unknown domain 'social_scoring' (did you mean 'social-scoring'?)"
    assert expected in str(info.value)


def near_misses(pid: str) -> list[str]:
    words = pid.split("-")
    out = {
        pid.replace("-", "_"),
        pid.replace("-", " "),
        pid.upper(),
        pid.title(),
        f" {pid}",
        pid + "s",
        pid[:-1],
        "-".join(words[:-1]),  # a word dropped at the end
        "-".join(words[1:]),  # a word dropped at the start
        pid.replace("isation", "ization"),
        pid[: len(pid) // 2] + pid[len(pid) // 2 + 1 :],  # one letter dropped
    }
    return sorted(x for x in out if x and x != pid and x.strip("-"))


NEAR_MISSES = [(pid, miss) for pid in PROHIBITED for miss in near_misses(pid)]


@pytest.mark.parametrize(("pid", "miss"), NEAR_MISSES)
def test_every_near_miss_of_a_prohibited_practice_is_an_error_suggesting_it(pid: str, miss: str) -> None:
    m = manifest([miss])
    [unknown] = unknown_ids(m)
    assert unknown.value == miss
    assert pid in unknown.suggestions, (miss, unknown.suggestions)
    with pytest.raises(ManifestError):
        score(m)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(PROHIBITED + ANNEX),
    st.integers(0, 40),
    st.sampled_from("abcdefghijklmnopqrstuvwxyz-_ "),
)
def test_any_one_character_edit_of_a_regulated_id_is_never_silently_ignored(
    known: str, pos: int, char: str
) -> None:
    pos = pos % (len(known) + 1)
    for edited in (known[:pos] + char + known[pos:], known[:pos] + char + known[pos + 1 :]):
        if edited in tables().domains:
            continue
        unknown = unknown_ids(manifest([edited]))
        assert [u.value for u in unknown] == [edited]
        assert known in unknown.pop().suggestions


@pytest.mark.parametrize("known", [*PROHIBITED, *ANNEX, *tables().other_domains])
def test_every_known_domain_is_accepted(known: str) -> None:
    assert unknown_ids(manifest([known])) == []


def test_an_unknown_domain_without_any_neighbour_still_fails_and_other_exists() -> None:
    [unknown] = unknown_ids(manifest(["underwater-basket-weaving"]))
    assert unknown.suggestions == ()
    with pytest.raises(ManifestError) as info:
        score(manifest(["zzz"]))
    assert "'other' when none fits" in (info.value.hint or "")
    assert score(manifest(["other"])).level is Tier.LOW


def test_a_misspelt_generative_task_is_an_error_unless_generative_is_said() -> None:
    [unknown] = unknown_ids(manifest([], task="text-generaton"))
    assert unknown.kind == "task" and "text-generation" in unknown.suggestions
    assert unknown_ids(manifest([], task="text-generaton", generative=True)) == []
    assert score(manifest([], task="text-generation")).eu_ai_act == "limited"
    assert unknown_ids(manifest([], task=None)) == []


def test_placeholders_are_left_to_the_release_integrity_check() -> None:
    assert unknown_ids(manifest(["TODO"], task="TODO")) == []
    assert is_placeholder("TODO one line on what the model does")
    assert is_placeholder("todo") and is_placeholder("  FIXME: later") and is_placeholder("<your model>")
    assert not is_placeholder("Todo list assistant for teams")
    assert not is_placeholder("TODOIST integration")
    assert not is_placeholder("text-generation")


def test_hostile_ids_are_quoted_and_cut_on_one_line(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r", release_text('["evil\\nline' + "x" * 500 + '"]'))
    result = run_cli("tier", str(root))
    assert result.exit_code == ExitCode.USAGE
    assert "unknown domain 'evil\\nline" in result.output
    assert len(result.output.splitlines()[0]) < 400
