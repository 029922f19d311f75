"""Composition through `extends:` only tightens; sources of truth need the parent's `delegate:`.

Each attack (a child policy that tries to loosen its parent) has a benign twin that still works.
Unknown ids are exit 2 with "did you mean", file and line; `policy lint` lists every problem.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from gate.checks import CHECKS, load_check
from gate.errors import PolicyError
from gate.models.finding import Severity
from gate.models.policy import (
    Ordered,
    PolicyFile,
    RuleOverride,
    Stricter,
    TierSection,
    TrustFile,
    WaiverSection,
)
from gate.policy import lint, load_policy
from gate.policy_merge import merge_rule
from gate.risk import Tier
from tests.support import run_cli

PEM_A = "-----BEGIN PUBLIC KEY-----\nQUFBQQ==\n-----END PUBLIC KEY-----\n"
PEM_B = "-----BEGIN PUBLIC KEY-----\nQkJCQg==\n-----END PUBLIC KEY-----\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CHECKS, "fake-findings", "tests.support.fakes:FindingsCheck")


# ---------------------------------------------------------------------------------------------
# Every setting has a rule


def _models() -> list[type]:
    return [PolicyFile, TierSection, WaiverSection, RuleOverride, *(load_check(c).Config for c in CHECKS)]


def test_every_policy_setting_has_a_merge_rule() -> None:
    missing = [f"{m.__name__}.{f}" for m in _models() for f in m.model_fields if merge_rule(m, f) is None]
    assert not missing, f"settings without a composition rule (Stricter/Ordered mark): {missing}"


def test_ordered_rules_cover_every_choice() -> None:
    for model in _models():
        for name, info in model.model_fields.items():
            rule = merge_rule(model, name)
            if isinstance(rule, Ordered) and typing.get_origin(info.annotation) is typing.Literal:
                assert set(typing.get_args(info.annotation)) == set(rule.values), (model, name)


SOURCES_OF_TRUTH = {
    ("dependencies", "osv_url"),
    ("dependencies", "service"),
    ("adversarial", "garak_command"),
    ("adversarial", "cache_dir"),
    *(
        (c, f)
        for c in ("model-signature", "provenance")
        for f in (
            "trusted_keys",
            "certificate_authorities",
            "leaf_fingerprints",
            "sigstore_identities",
            "trust_root",
        )
    ),
    ("provenance", "allowed_builders"),
    ("provenance", "allowed_sources"),
}


def test_sources_of_truth_cannot_be_tightened_into_something_else() -> None:
    # A trust file, a trusted signer or the service the gate asks is FIXED or SUBSET: a child
    # keeps it or (for lists of whom to trust) drops entries; any other change is an error.
    for cid, name in SOURCES_OF_TRUTH:
        assert merge_rule(load_check(cid).Config, name) in (Stricter.FIXED, Stricter.SUBSET), (cid, name)
    for cid in CHECKS:
        model = load_check(cid).Config
        for name, info in model.model_fields.items():
            if any(isinstance(m, TrustFile) for m in info.metadata):
                assert merge_rule(model, name) in (Stricter.FIXED, Stricter.SUBSET), (cid, name)
    assert merge_rule(WaiverSection, "reviewers") is Stricter.SUBSET
    assert merge_rule(WaiverSection, "sigstore_trust_root") is Stricter.FIXED


# ---------------------------------------------------------------------------------------------
# Severities and rules


def test_child_cannot_lower_a_rule_the_parent_does_not_override(
    tmp_path: Path, fakes: None, release: Path
) -> None:
    org = write(
        tmp_path / "org.yaml",
        "version: 1\nname: org\n"
        "defaults:\n  required: [release-integrity, fake-findings]\n  block_at: medium\n",
    )
    team = write(
        tmp_path / "team.yaml",
        "version: 1\nname: team\nextends: [org.yaml]\n"
        "defaults:\n  rules: {fake-problem: {severity: info, blocking: false}}\n",
    )
    assert run_cli("check", str(release), "--policy", str(org)).exit_code == 1
    # The attack: the child's override would make the medium finding an unblocking info one.
    assert run_cli("check", str(release), "--policy", str(team)).exit_code == 1
    ov = load_policy(str(team)).for_tier(Tier.LOW).rules["GATE-ZZ001"]
    assert ov.severity is Severity.MEDIUM and ov.blocking is not False
    # Benign twin: raising a severity or making a rule blocking applies.
    write(team, team.read_text().replace("{severity: info, blocking: false}", "{severity: critical}"))
    ov = load_policy(str(team)).for_tier(Tier.LOW).rules["GATE-ZZ001"]
    assert ov.severity is Severity.CRITICAL


def test_rule_named_by_code_in_parent_and_by_name_in_child_is_one_rule(tmp_path: Path, fakes: None) -> None:
    write(
        tmp_path / "org.yaml", "version: 1\nname: org\ndefaults:\n  rules: {GATE-ZZ001: {blocking: true}}\n"
    )
    team = write(
        tmp_path / "team.yaml",
        "version: 1\nname: team\nextends: [org.yaml]\n"
        "defaults:\n  rules: {fake-problem: {blocking: false}}\n",
    )
    rules = load_policy(str(team)).for_tier(Tier.LOW).rules
    assert list(rules) == ["GATE-ZZ001"] and rules["GATE-ZZ001"].blocking is True


def test_block_at_against_the_parents_effective_value(tmp_path: Path) -> None:
    write(tmp_path / "org.yaml", "version: 1\nname: org\n")  # block_at unset: the built-in high
    team = write(
        tmp_path / "team.yaml",
        "version: 1\nname: team\nextends: [org.yaml]\ndefaults: {block_at: critical}\n",
    )
    assert load_policy(str(team)).for_tier(Tier.LOW).block_at is Severity.HIGH
    write(team, team.read_text().replace("critical", "low"))
    assert load_policy(str(team)).for_tier(Tier.LOW).block_at is Severity.LOW


def test_waiver_lifetimes_compose_against_the_built_in_ceiling(tmp_path: Path) -> None:
    write(tmp_path / "org.yaml", "version: 1\nname: org\n")
    team = write(
        tmp_path / "team.yaml",
        "version: 1\nname: team\nextends: [org.yaml]\n"
        "defaults:\n  waivers:\n    max_days: {critical: 300, low: 10}\n",
    )
    days = load_policy(str(team)).for_tier(Tier.LOW).waivers.max_days
    assert days[Severity.CRITICAL] == 7  # the built-in ceiling the parent keeps
    assert days[Severity.LOW] == 10  # shorter is stricter


# ---------------------------------------------------------------------------------------------
# Required checks and allow_skip


def test_required_check_never_becomes_optional(tmp_path: Path) -> None:
    write(
        tmp_path / "org.yaml",
        "version: 1\nname: org\ndefaults:\n  required: [release-integrity, monitoring]\n",
    )
    team = write(
        tmp_path / "team.yaml",
        "version: 1\nname: team\nextends: [org.yaml]\ndefaults:\n  required: [release-integrity]\n"
        "  optional: [monitoring, deployment]\n",
    )
    tp = load_policy(str(team)).for_tier(Tier.LOW)
    assert set(tp.required) == {"release-integrity", "monitoring"}
    assert tp.optional == ("deployment",)


def test_extends_default_alone_keeps_allow_skip(tmp_path: Path) -> None:
    team = write(tmp_path / "team.yaml", "version: 1\nname: team\nextends: [default]\n")
    for tier in (Tier.MEDIUM, Tier.HIGH, Tier.CRITICAL):
        assert load_policy(str(team)).for_tier(tier).allow_skip == ("training-data",)
    # A child that sets allow_skip narrows it where the parent sets it...
    write(team, team.read_text() + "tiers:\n  high:\n    allow_skip: [training-data, adversarial]\n")
    assert load_policy(str(team)).for_tier(Tier.HIGH).allow_skip == ("training-data",)
    write(team, "version: 1\nname: team\nextends: [default]\ntiers:\n  high:\n    allow_skip: []\n")
    assert load_policy(str(team)).for_tier(Tier.HIGH).allow_skip == ()


def test_allow_skip_unset_in_the_parent_is_no_opinion(tmp_path: Path) -> None:
    write(
        tmp_path / "org.yaml",
        "version: 1\nname: org\ndefaults:\n  required: [release-integrity, monitoring]\n",
    )
    team = write(
        tmp_path / "team.yaml",
        "version: 1\nname: team\nextends: [org.yaml]\ndefaults:\n  allow_skip: [monitoring]\n",
    )
    assert load_policy(str(team)).for_tier(Tier.LOW).allow_skip == ("monitoring",)


# ---------------------------------------------------------------------------------------------
# Sources of truth


def _org_with(tmp_path: Path, checks: str, delegate: str = "") -> Path:
    return write(
        tmp_path / "org" / "org.yaml", f"version: 1\nname: org\n{delegate}defaults:\n  checks:\n{checks}"
    )


def test_child_cannot_replace_the_vulnerability_source(tmp_path: Path, release: Path) -> None:
    org = _org_with(tmp_path, "    dependencies:\n      osv_url: http://127.0.0.1:1/\n")
    team = write(
        tmp_path / "team" / "team.yaml",
        "version: 1\nname: team\nextends: [../org/org.yaml]\ndefaults:\n  checks:\n    dependencies:\n"
        "      osv_url: http://127.0.0.1:2/\n",
    )
    problems = lint(team)
    assert len(problems) == 1
    assert problems[0].startswith(f"{team}:7: checks.dependencies.osv_url: changes the value")
    assert str(org) in problems[0] and "delegate: [checks.dependencies.osv_url]" in problems[0]
    result = run_cli("policy", "lint", str(team))
    assert result.exit_code == 2 and "checks.dependencies.osv_url" in result.stdout
    result = run_cli("check", str(release), "--policy", str(team))
    assert result.exit_code == 2
    assert (
        "checks.dependencies.osv_url" in result.stderr
        and str(org) in result.stderr
        and str(team) in result.stderr
    )
    # Benign twins: repeating the parent's value, or a parent that delegates the setting.
    write(team, team.read_text().replace("127.0.0.1:2", "127.0.0.1:1"))
    assert lint(team) == []
    write(team, team.read_text().replace("127.0.0.1:1", "127.0.0.1:2"))
    _org_with(
        tmp_path,
        "    dependencies:\n      osv_url: http://127.0.0.1:1/\n",
        "delegate: [checks.dependencies.osv_url]\n",
    )
    assert lint(team) == []
    assert (
        load_policy(str(team)).for_tier(Tier.LOW).checks["dependencies"]["osv_url"] == "http://127.0.0.1:2/"
    )


def test_unset_source_of_truth_is_the_built_in_one(tmp_path: Path) -> None:
    # The parent sets no osv_url: its source is the public service, which a child cannot swap.
    write(tmp_path / "org.yaml", "version: 1\nname: org\n")
    team = write(
        tmp_path / "team.yaml",
        "version: 1\nname: team\nextends: [org.yaml]\ndefaults:\n  checks:\n    dependencies:\n"
        "      osv_url: http://127.0.0.1:2/\n",
    )
    with pytest.raises(PolicyError, match=r"org.yaml leaves it at the built-in value"):
        load_policy(str(team))


def test_child_cannot_replace_the_sigstore_trust_root(tmp_path: Path) -> None:
    org = _org_with(tmp_path, '    model-signature:\n      trust_root: \'{"mediaType": "a"}\'\n')
    team = write(
        tmp_path / "team" / "team.yaml",
        "version: 1\nname: team\nextends: [../org/org.yaml]\ndefaults:\n  checks:\n    model-signature:\n"
        '      trust_root: \'{"mediaType": "rogue"}\'\n',
    )
    with pytest.raises(PolicyError, match=r"checks.model-signature.trust_root: changes the value") as info:
        load_policy(str(team))
    assert str(org) in info.value.message
    # The default policy trusts nobody and delegates trust: a team sets its own root there.
    team2 = write(
        tmp_path / "team2.yaml",
        "version: 1\nname: t\nextends: [default]\ndefaults:\n  checks:\n    model-signature:\n"
        '      trust_root: \'{"mediaType": "mine"}\'\n',
    )
    assert "mine" in load_policy(str(team2)).for_tier(Tier.LOW).checks["model-signature"]["trust_root"]


def test_child_may_drop_trusted_keys_but_never_add_one(tmp_path: Path) -> None:
    def keys(*pems: str) -> str:
        return f"    provenance:\n      trusted_keys: {json.dumps(list(pems))}\n"

    org = _org_with(tmp_path, keys(PEM_A, PEM_B))
    team = write(
        tmp_path / "team" / "team.yaml",
        "version: 1\nname: team\nextends: [../org/org.yaml]\ndefaults:\n  checks:\n" + keys(PEM_A),
    )
    assert load_policy(str(team)).for_tier(Tier.LOW).checks["provenance"]["trusted_keys"] == [PEM_A]
    _org_with(tmp_path, keys(PEM_B))
    with pytest.raises(
        PolicyError, match=r"checks\.provenance\.trusted_keys: adds '-----BEGIN PUBLIC KEY"
    ) as info:
        load_policy(str(team))
    assert str(org) in info.value.message


def test_delegation_ends_where_a_child_sets_the_setting(tmp_path: Path) -> None:
    write(tmp_path / "org.yaml", "version: 1\nname: org\ndelegate: [checks.dependencies.osv_url]\n")
    team = write(
        tmp_path / "team.yaml",
        "version: 1\nname: team\nextends: [org.yaml]\n"
        "defaults:\n  checks:\n    dependencies: {osv_url: 'http://127.0.0.1:2/'}\n",
    )
    sub = write(
        tmp_path / "sub.yaml",
        "version: 1\nname: sub\nextends: [team.yaml]\ndefaults:\n  checks:\n    dependencies: {osv_url: 'http://127.0.0.1:3/'}\n",
    )
    with pytest.raises(PolicyError, match=r"team.yaml sets it and does not delegate it"):
        load_policy(str(sub))
    write(
        team,
        team.read_text().replace(
            "extends: [org.yaml]\n", "extends: [org.yaml]\ndelegate: [checks.dependencies.osv_url]\n"
        ),
    )
    assert load_policy(str(sub)).for_tier(Tier.LOW).checks["dependencies"]["osv_url"] == "http://127.0.0.1:3/"


def test_a_child_cannot_delegate_what_it_was_not_given(tmp_path: Path) -> None:
    write(tmp_path / "org.yaml", "version: 1\nname: org\n")
    team = write(
        tmp_path / "team.yaml",
        "version: 1\nname: team\nextends: [org.yaml]\ndelegate: [checks.dependencies.osv_url]\n",
    )
    problems = lint(team)
    assert problems == [
        f"{team}:4: delegate[0]: checks.dependencies.osv_url: {tmp_path / 'org.yaml'} does not delegate it, "
        "so a policy extending it cannot pass it on"
    ]


def test_code_running_pickle_callables_are_refused(tmp_path: Path, release: Path) -> None:
    for name in (
        "os.system",
        "subprocess.Popen",
        "builtins.exec",
        "torch.load",
        "team.models.Evil",
        "numpy.*",
    ):
        team = write(
            tmp_path / "team.yaml",
            f"version: 1\nname: t\nextends: [default]\ndefaults:\n  checks:\n    model-files:\n"
            f"      allow_pickle_callables: ['{name}']\n",
        )
        (problem,) = lint(team)
        assert (
            problem.startswith(f"{team}:7: defaults.checks.model-files.allow_pickle_callables")
            and name in problem
        )
        result = run_cli("check", str(release), "--policy", str(team))
        assert result.exit_code == 2 and name in result.stderr
    # Vetted inert constructors and names already on the built-in allowlist are accepted.
    write(team, team.read_text().replace("'numpy.*'", "statistics.NormalDist, collections.OrderedDict"))
    assert lint(team) == []


# ---------------------------------------------------------------------------------------------
# Unknown ids


def test_lint_reports_every_problem_in_one_pass(tmp_path: Path) -> None:
    p = write(
        tmp_path / "p.yaml",
        """\
version: 1
name: p
extends: [defualt, missing.yaml]
delegate: [checks.dependencies.osv_ulr]
defaults:
  block_at: severe
  required: [release-integrity, deploymnet]
  rules:
    GATE-RI00: {blocking: true}
    unsigned-modle-file: {severity: high}
  checks:
    monitorin: {}
    release-integrity: {max_file_size_mb: lots}
  waivers:
    unwaivable_rules: ["GATE-MF*", GATE-XY*, unsafe-pickel-import]
""",
    )
    problems = lint(p)
    text = "\n".join(problems)
    assert f"{p}:3: extends[0]: no such packaged policy 'defualt' (did you mean 'default'?)" in text
    assert f"{p}:3: extends[1]: policy file 'missing.yaml' not found" in text
    assert (
        f"{p}:4: delegate[0]: unknown setting 'checks.dependencies.osv_ulr' "
        "(did you mean 'checks.dependencies.osv_url'?)" in text
    )
    assert f"{p}:6: defaults.block_at" in text
    assert f"{p}:7: defaults.required[1]: unknown check 'deploymnet' (did you mean 'deployment'?)" in text
    assert f"{p}:9: defaults.rules.GATE-RI00: unknown rule 'GATE-RI00' (did you mean" in text
    assert (
        f"{p}:10: defaults.rules.unsigned-modle-file: unknown rule 'unsigned-modle-file' (did you mean"
        in text
    )
    assert (
        f"{p}:12: defaults.checks.monitorin: unknown check 'monitorin' (did you mean 'monitoring'?)" in text
    )
    assert f"{p}:13: defaults.checks.release-integrity.max_file_size_mb" in text
    assert f"{p}:15: defaults.waivers.unwaivable_rules[1]: unknown rule 'GATE-XY*'" in text
    assert (
        f"{p}:15: defaults.waivers.unwaivable_rules[2]: unknown rule 'unsafe-pickel-import' "
        "(did you mean 'unsafe-pickle-import'?)" in text
    )
    assert len(problems) == 11, problems
    result = run_cli("policy", "lint", str(p))
    assert result.exit_code == 2


def test_check_names_the_first_unknown_id_with_a_suggestion(tmp_path: Path, release: Path) -> None:
    p = write(tmp_path / "p.yaml", "version: 1\nname: p\nextends: [strcit]\n")
    result = run_cli("check", str(release), "--policy", str(p))
    assert result.exit_code == 2
    assert f"{p}:3: extends[0]: no such packaged policy 'strcit' (did you mean 'strict'?)" in result.stderr
    write(p, "version: 1\nname: p\ndefaults:\n  rules:\n    GATE-MF0001: {severity: high}\n")
    result = run_cli("check", str(release), "--policy", str(p))
    assert result.exit_code == 2 and f"{p}:5: defaults.rules.GATE-MF0001: unknown rule" in result.stderr
    assert "did you mean" in result.stderr


# ---------------------------------------------------------------------------------------------
# The docs say what the code does

DOC_WORDS = {
    "lower wins": Stricter.MIN,
    "min, per severity": Stricter.MIN,
    "higher wins": Stricter.MAX,
    "max": Stricter.MAX,
    "true wins": Stricter.ANY_TRUE,
    "true if any says true": Stricter.ANY_TRUE,
    "false wins": Stricter.ALL_TRUE,
    "all must allow": Stricter.ALL_TRUE,
    "true only if all say true": Stricter.ALL_TRUE,
    "union": Stricter.UNION,
    "intersection": Stricter.INTERSECTION,
    "source of truth: a different value is an error": Stricter.FIXED,
    "source of truth: a child may drop entries; adding one is an error": Stricter.SUBSET,
}
DOC_TABLES = {
    "dependencies-and-sbom.md": ["dependencies"],
    "monitoring-and-deployment.md": ["monitoring", "deployment"],
    "waivers-and-attestations.md": ["waivers"],
}


def test_docs_composition_columns_match_the_rules() -> None:
    docs = Path(__file__).resolve().parent.parent / "docs"
    checked = 0
    for name, owners in DOC_TABLES.items():
        column = None
        for line in (docs / name).read_text("utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
            if not cells:
                column = None
                continue
            header = [i for i, c in enumerate(cells) if "extends" in c or c.startswith("Compos")]
            if header:
                column = header[0]
                continue
            if column is None or not cells[0].startswith("`") or set(cells[0]) <= {"-"}:
                continue
            key = cells[0].strip("`")
            models = [WaiverSection if o == "waivers" else load_check(o).Config for o in owners]
            model = next((m for m in models if key in m.model_fields), None)
            if model is None:
                continue
            assert DOC_WORDS.get(cells[column]) is merge_rule(model, key), (name, key, cells[column])
            checked += 1
    assert checked >= 30


def test_generated_composition_table_is_current() -> None:
    from gate.policy_merge import composition_table

    text = (Path(__file__).resolve().parent.parent / "docs" / "policy.md").read_text("utf-8")
    assert composition_table() in text


def _yaml_blocks(text: str) -> list[str]:
    return [b.split("\n", 1)[1] for b in text.split("```yaml")[1:] for b in [b.split("```")[0]]]


@pytest.mark.parametrize(
    ("doc", "start"), [("README.md", "## Policy"), ("docs/policy.md", ""), ("docs/model-files.md", "")]
)
def test_policy_examples_in_the_docs_lint_clean(tmp_path: Path, doc: str, start: str) -> None:
    text = (Path(__file__).resolve().parent.parent / doc).read_text("utf-8")
    blocks = [b for b in _yaml_blocks(text[text.index(start) :]) if b.startswith("version: 1")]
    assert blocks
    for i, block in enumerate(blocks):
        assert lint(write(tmp_path / f"example{i}.yaml", block)) == [], block


def test_lint_reports_file_and_composition_problems_together(tmp_path: Path) -> None:
    org = _org_with(tmp_path, "    dependencies:\n      osv_url: http://127.0.0.1:1/\n")
    team = write(
        tmp_path / "team" / "team.yaml",
        "version: 1\nname: team\nextends: [../org/org.yaml]\n"
        "delegate: [checks.model-signature.trusted_keys]\n"
        "defaults:\n  checks:\n    dependencies:\n      osv_url: http://127.0.0.1:2/\n"
        "    model-files:\n      allow_pickle_callables: [os.system]\n",
    )
    problems = lint(team)
    assert [p.split(": ", 2)[:2] for p in problems] == [
        [f"{team}:10", "defaults.checks.model-files.allow_pickle_callables"],
        [f"{team}:8", "checks.dependencies.osv_url"],
        [f"{team}:4", "delegate[0]"],
    ]
    assert all(str(org) in p for p in problems[1:])


def test_delegated_tier_settings_are_the_childs(tmp_path: Path) -> None:
    write(
        tmp_path / "org.yaml",
        "version: 1\nname: org\ndelegate: [allow_skip, rules]\n"
        "defaults:\n  required: [release-integrity, monitoring]\n  allow_skip: []\n"
        "  rules: {GATE-RI003: {severity: critical}, GATE-RI004: {blocking: true}}\n",
    )
    team = write(
        tmp_path / "team.yaml",
        "version: 1\nname: team\nextends: [org.yaml]\n"
        "defaults:\n  allow_skip: [monitoring]\n  rules: {GATE-RI003: {severity: low}}\n",
    )
    tp = load_policy(str(team)).for_tier(Tier.LOW)
    assert tp.allow_skip == ("monitoring",)
    assert tp.rules["GATE-RI003"].severity is Severity.LOW
    assert tp.rules["GATE-RI004"].blocking is True  # replaced rule by rule, the others stay


def test_every_test_the_policy_docs_name_exists() -> None:
    import re

    root = Path(__file__).resolve().parent.parent
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", (root / "docs" / "policy.md").read_text("utf-8")))
    defined = {
        m
        for f in (root / "tests").rglob("test_*.py")
        for m in re.findall(r"^def (test_\w+)", f.read_text(), re.M)
    }
    assert len(named) >= 15
    assert named <= defined, named - defined
