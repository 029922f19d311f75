"""The `provenance` check's rules: each problem it finds, documented where it is raised."""

from __future__ import annotations

from gate.models.finding import Severity, rule_maker
from gate.signing.trust import ProblemKind

CHECK = "provenance"
TECHNIQUE = ("LLM03:2025", "AML.T0010")


_rule = rule_maker(CHECK, technique=TECHNIQUE)


RULES = (
    _rule(
        "GATE-PV001",
        "provenance-missing",
        Severity.HIGH,
        "The release has no build provenance (release.yaml declares none, or the file is absent).",
        "Without provenance nobody can tell which pipeline built the model, from which code, "
        "base model and data: a model trained on a laptop from unknown data looks the same.",
        "A release.yaml without `provenance:`.",
        "Have the training pipeline emit SLSA v1 provenance (e.g. actions/attest-build-provenance, "
        "or a DSSE envelope signed by the pipeline's key) and declare it as `provenance:`.",
    ),
    _rule(
        "GATE-PV002",
        "provenance-malformed",
        Severity.HIGH,
        "The provenance file is not a readable SLSA v1 provenance statement.",
        "Provenance that cannot be read proves nothing.",
        "A truncated .intoto.jsonl, or a statement with predicate type slsa.dev/provenance/v0.2.",
        "Emit SLSA v1 provenance (predicate type https://slsa.dev/provenance/v1) and ship it unchanged.",
    ),
    _rule(
        "GATE-PV003",
        "provenance-signature-invalid",
        Severity.CRITICAL,
        "The provenance's signature does not verify: it was altered after signing.",
        "Edited provenance can claim any builder, source or inputs.",
        "A provenance envelope whose payload was edited to name another builder.",
        "Find out who changed it; take the provenance from the build system again.",
        always_blocks=True,
        waivable=False,
    ),
    _rule(
        "GATE-PV004",
        "provenance-signer-not-trusted",
        Severity.HIGH,
        "The provenance is signed, but not by a key or identity the policy trusts.",
        "Anyone can sign a statement that claims a trusted builder: only the build "
        "platform's own key or identity makes the claim worth anything. Where the tier does not "
        "require trusted provenance this is an informational note, and the subject is still compared "
        "with the model: provenance of another model blocks.",
        "Provenance signed keyless by a personal account instead of the release workflow.",
        "Sign provenance in the build platform with a key or workload identity listed in the policy.",
    ),
    _rule(
        "GATE-PV005",
        "provenance-subject-mismatch",
        Severity.CRITICAL,
        "The provenance's subject is not this model.",
        "Provenance of another artifact says nothing about these weights: reusing a good "
        "model's provenance for a different model is the obvious forgery.",
        "Provenance whose subject digest is the root digest of last month's model.",
        "Use the provenance produced by the build of exactly these files (subject: the "
        "model-signing root digest of the model directory, or each model file's digest).",
        always_blocks=True,
    ),
    _rule(
        "GATE-PV006",
        "builder-not-allowed",
        Severity.HIGH,
        "The provenance names a builder the policy does not allow.",
        "The builder is what vouches for the build: an unknown builder may be a developer "
        "machine or a compromised runner.",
        "runDetails.builder.id `https://example.com/my-laptop`.",
        "Build on an allowed builder, or add the builder to `allowed_builders` after review.",
    ),
    _rule(
        "GATE-PV007",
        "source-repository-not-allowed",
        Severity.HIGH,
        "The model was built from a source repository the policy does not allow.",
        "Training code from a fork or an unknown repository can poison the model or the data.",
        "externalParameters.workflow.repository `https://github.com/someone/fork`.",
        "Build from an allowed repository, or allow the repository in `allowed_sources`.",
    ),
    _rule(
        "GATE-PV008",
        "source-ref-not-allowed",
        Severity.HIGH,
        "The model was built from a branch or tag the policy does not allow.",
        "Feature branches skip review: releases come from protected refs.",
        "externalParameters.workflow.ref `refs/heads/experiment`.",
        "Build from an allowed ref (e.g. refs/heads/main or a release tag).",
    ),
    _rule(
        "GATE-PV009",
        "build-level-too-low",
        Severity.HIGH,
        "The builder's SLSA build level is below what the tier requires.",
        "Higher-risk models need builds that resist tampering by the people who run them "
        "(SLSA Build L3: hardened, isolated builders).",
        "A high-tier model built by a builder the policy rates at Build L1.",
        "Build on a builder rated at the required level.",
    ),
    _rule(
        "GATE-PV010",
        "base-model-unpinned",
        Severity.HIGH,
        "The base model is not pinned by a digest in the provenance.",
        "A base model referenced by name or branch can change under the same name: the "
        "fine-tune may start from a different (or poisoned) checkpoint next time.",
        "resolvedDependencies entry `hf://org/base` with no digest, or only a git commit.",
        "Record the base model's weights digest (sha256) in the provenance.",
    ),
    _rule(
        "GATE-PV011",
        "base-model-source-not-allowed",
        Severity.HIGH,
        "The base model comes from a source the policy does not allow.",
        "Public hubs host typosquatted and backdoored models; base models come from vetted organisations.",
        "A base model from `hf://random-user/llama-3-8b`.",
        "Start from a base model of an allowed organisation, or allow it in `allowed_base_model_sources`.",
    ),
    _rule(
        "GATE-PV012",
        "dataset-unpinned",
        Severity.HIGH,
        "A training dataset in the provenance is not pinned by a digest.",
        "Without a digest nobody can tell which data the model was trained on, or re-check it for poisoning.",
        "resolvedDependencies entry `s3://bucket/data/` with role dataset and no digest.",
        "Record each dataset's digest (sha256 of the file, or of its manifest) in the provenance.",
    ),
    _rule(
        "GATE-PV013",
        "provenance-disagrees-with-release",
        Severity.HIGH,
        "release.yaml and the provenance disagree about the base model or the datasets.",
        "One of them is wrong: reviewers and the model card read release.yaml, the build "
        "used what the provenance says.",
        "release.yaml names dataset `support-tickets-v3`, the provenance was built from `v2`.",
        "Correct release.yaml, or rebuild from the inputs release.yaml declares.",
    ),
    _rule(
        "GATE-PV014",
        "provenance-certificate-invalid",
        Severity.HIGH,
        "The provenance's signing certificate is expired, not yet valid, or not for code signing.",
        "A certificate outside its validity or purpose does not vouch for the signer.",
        "Provenance signed with a certificate that expired.",
        "Re-sign with a current code-signing certificate from the pinned CA.",
    ),
)


# What the trust policy reports about the provenance's signature -> the rule it raises.
PROVENANCE_PROBLEMS = {
    ProblemKind.MALFORMED: "provenance-malformed",
    ProblemKind.INVALID: "provenance-signature-invalid",
    ProblemKind.UNTRUSTED: "provenance-signer-not-trusted",
    ProblemKind.CERT_INVALID: "provenance-certificate-invalid",
}
