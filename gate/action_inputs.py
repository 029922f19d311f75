"""The GitHub Action's inputs, read and validated from the `INPUT_*` environment variables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

REDTEAM_MODES = ("", "off", "fast", "broad")
SHARD = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")
EXTRA_FORMATS = ("sarif", "junit", "markdown", "text", "html")
TRUE = ("true", "yes", "1", "on")
FALSE = ("false", "no", "0", "off", "")


class ActionInputError(Exception):
    """An input of the action is invalid: fail the step with this message, nothing judged."""


def read_bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A true/false input (also yes/no, 1/0, on/off); empty is `default`."""
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value == "":
        return default
    if value in FALSE:
        return False
    raise ActionInputError(f"input {_input_name(name)}: expected true or false, got '{env[name]}'")


def _input_name(var: str) -> str:
    return var.removeprefix("INPUT_").lower().replace("_", "-")


@dataclass(frozen=True)
class ActionInputs:
    release: str
    policy: str = "default"
    policy_ref: str = ""
    policy_sha256: str = ""
    policy_key: str = ""
    waivers: str = ""
    formats: tuple[str, ...] = ("sarif",)
    sarif_all_rules: bool = False
    offline: bool = False
    redteam: str = ""
    redteam_shard: str = ""
    sbom: bool = False
    attest: bool = False
    attest_key: str = ""
    attest_identity: str = ""
    baseline: str = ""
    merge: str = ""
    summary: bool = True
    debug: bool = False
    report_only: bool = False
    output_dir: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionInputs:
        release = env.get("INPUT_RELEASE", "").strip()
        merge = env.get("INPUT_MERGE", "").strip()
        if not release and not merge:
            raise ActionInputError("input release: the path of the release directory is required")
        if release and merge:
            raise ActionInputError(
                "input merge: joins shard reports into one verdict and judges no release; leave release empty"
            )
        formats = tuple(dict.fromkeys(t for t in re.split(r"[\s,]+", env.get("INPUT_FORMATS", "")) if t))
        for fmt in formats:
            if fmt not in (*EXTRA_FORMATS, "json"):
                raise ActionInputError(
                    f"input formats: unknown format '{fmt}' (choose from json, {', '.join(EXTRA_FORMATS)})"
                )
        redteam = env.get("INPUT_REDTEAM", "").strip().lower()
        if redteam not in REDTEAM_MODES:
            raise ActionInputError(f"input redteam: expected off, fast or broad, got '{redteam}'")
        shard = env.get("INPUT_REDTEAM_SHARD", "").strip()
        if shard:
            m = SHARD.match(shard)
            if not m or int(m.group(1)) > int(m.group(2)):
                raise ActionInputError(f"input redteam-shard: expected I/N with 1 <= I <= N, got '{shard}'")
            if redteam == "off":
                raise ActionInputError("input redteam-shard: given, but redteam is off")
        sarif_all_rules = read_bool(env, "INPUT_SARIF_ALL_RULES")
        if sarif_all_rules and "sarif" not in formats:
            raise ActionInputError("input sarif-all-rules: given, but formats asks for no sarif report")
        attest = read_bool(env, "INPUT_ATTEST")
        attest_key = env.get("INPUT_ATTEST_KEY", "").strip()
        attest_identity = env.get("INPUT_ATTEST_IDENTITY", "").strip()
        if (attest_key or attest_identity) and not attest:
            which = "attest-key" if attest_key else "attest-identity"
            raise ActionInputError(f"input {which}: given, but attest is false")
        if attest_key and attest_identity:
            raise ActionInputError(
                "input attest-identity: names the Sigstore identity of a keyless attestation; "
                "with attest-key the attestation is signed by that key instead"
            )
        inputs = cls(
            release=release,
            policy=env.get("INPUT_POLICY", "").strip() or "default",
            policy_ref=env.get("INPUT_POLICY_REF", "").strip(),
            policy_sha256=env.get("INPUT_POLICY_SHA256", "").strip(),
            policy_key=env.get("INPUT_POLICY_KEY", "").strip(),
            waivers=env.get("INPUT_WAIVERS", "").strip(),
            formats=tuple(f for f in formats if f != "json"),
            sarif_all_rules=sarif_all_rules,
            offline=read_bool(env, "INPUT_OFFLINE"),
            redteam=redteam,
            redteam_shard=shard,
            sbom=read_bool(env, "INPUT_SBOM"),
            attest=attest,
            attest_key=attest_key,
            attest_identity=attest_identity,
            baseline=env.get("INPUT_BASELINE", "").strip(),
            merge=merge,
            summary=read_bool(env, "INPUT_SUMMARY", default=True),
            # GitHub's "re-run with debug logging" sets RUNNER_DEBUG=1: that asks for it too.
            debug=read_bool(env, "INPUT_DEBUG") or env.get("RUNNER_DEBUG") == "1",
            report_only=read_bool(env, "INPUT_REPORT_ONLY"),
            output_dir=env.get("INPUT_OUTPUT_DIR", "").strip(),
        )
        if merge:
            _merge_only(inputs)
        return inputs


# What `merge` does not do: it reads reports that were judged already.
CHECK_ONLY = {
    "policy_ref": "policy-ref",
    "policy_sha256": "policy-sha256",
    "policy_key": "policy-key",
    "waivers": "waivers",
    "offline": "offline",
    "redteam": "redteam",
    "redteam_shard": "redteam-shard",
    "sbom": "sbom",
    "attest": "attest",
}


def _merge_only(inputs: ActionInputs) -> None:
    given = [name for attr, name in CHECK_ONLY.items() if getattr(inputs, attr)]
    if given:
        raise ActionInputError(
            f"input merge: joins reports that were judged already; {', '.join(given)} "
            "belong to the shard jobs' check, not to the merge"
        )
