"""The `model-signature` check's rules: each problem it finds, documented where it is raised."""

from __future__ import annotations

from gate.models.finding import Severity, rule_maker
from gate.signing.trust import ProblemKind

CHECK = "model-signature"
TECHNIQUE = ("LLM03:2025", "AML.T0010")


_rule = rule_maker(CHECK, technique=TECHNIQUE)


RULES = (
    _rule(
        "GATE-SG001",
        "signature-missing",
        Severity.HIGH,
        "The release has no model signature (release.yaml declares none, or the file is absent).",
        "Without a signature nobody can tell whether the weights are the ones the training "
        "pipeline produced or ones swapped in on the way (a poisoned or backdoored model).",
        "A release.yaml without `signature:`.",
        "Sign the model directory with model-signing (`model_signing sign key|certificate|sigstore "
        "model/ --signature model.sig`) and declare `signature: model.sig` in release.yaml.",
    ),
    _rule(
        "GATE-SG002",
        "signature-malformed",
        Severity.HIGH,
        "The signature file is not a readable model-signing signature.",
        "A signature that cannot be read proves nothing; a truncated or hand-edited file is "
        "also a sign that the release was assembled wrongly or tampered with.",
        "A truncated model.sig, a v0.2 signature, or a bundle without a DSSE envelope.",
        "Re-sign the model with model-signing 1.x and ship the file it writes unchanged.",
    ),
    _rule(
        "GATE-SG003",
        "signature-invalid",
        Severity.CRITICAL,
        "The signature does not verify: the signed content or the signature was altered.",
        "A broken signature means the list of files and digests is not what the signer "
        "signed: the release cannot be trusted at all.",
        "A model.sig whose payload was edited to match modified weights.",
        "Find out who changed the release; re-sign only from a trusted build.",
        always_blocks=True,
        waivable=False,
    ),
    _rule(
        "GATE-SG004",
        "signer-not-trusted",
        Severity.HIGH,
        "The signature is valid but the signer is not one the policy trusts.",
        "Anyone can make a valid signature with their own key: what counts is who signed. "
        "A key, CA, identity or OIDC issuer the policy does not pin is an unknown signer. Where "
        "the tier does not require a trusted signature this is an informational note, and the files "
        "are still compared with what the unknown signer listed: any difference blocks.",
        "A model signed with a developer's laptop key, or keyless by the wrong account or workflow.",
        "Sign with a trusted key or identity, or add the signer to the policy's "
        "`trusted_keys`, `certificate_authorities` or `sigstore_identities` after review.",
    ),
    _rule(
        "GATE-SG005",
        "signing-certificate-invalid",
        Severity.HIGH,
        "The signing certificate is expired, not yet valid, not for code signing, or its chain is broken.",
        "A certificate outside its validity period or issued for another purpose does not "
        "vouch for the signer, even if it chains to a trusted CA.",
        "A model signed with a certificate that expired last month.",
        "Re-sign with a current code-signing certificate issued by the pinned CA.",
    ),
    _rule(
        "GATE-SG006",
        "model-file-modified",
        Severity.CRITICAL,
        "A model file's digest differs from the digest that was signed.",
        "The file was changed after signing: the weights, tokenizer or config that would be "
        "deployed are not the signed ones.",
        "One flipped byte in model.safetensors after the release was signed.",
        "Restore the signed file, or re-sign the model from a trusted build.",
        always_blocks=True,
        waivable=False,
    ),
    _rule(
        "GATE-SG007",
        "model-file-unsigned",
        Severity.CRITICAL,
        "A file in the model directory is not covered by the signature.",
        "An unsigned file next to signed weights (a pickle, custom code, a tokenizer or chat "
        "template) is loaded with the model and changes what it does.",
        "A `modeling_extra.py` or a second weights file added after signing.",
        "Remove the file, or re-sign the model directory including it.",
        waivable=False,
    ),
    _rule(
        "GATE-SG008",
        "signed-file-missing",
        Severity.CRITICAL,
        "A file the signature lists is absent from the model directory.",
        "The model that would be deployed is not the one signed: a missing shard, config "
        "or tokenizer changes or breaks the model.",
        "model-00002-of-00002.safetensors listed in the signature but not shipped.",
        "Ship every signed file, or re-sign what is actually released.",
        always_blocks=True,
        waivable=False,
    ),
    _rule(
        "GATE-SG009",
        "model-file-renamed",
        Severity.CRITICAL,
        "A signed file is present under another name.",
        "Loaders choose files by name: a renamed file can swap which weights or config are "
        "used while every digest still matches some signed file.",
        "tokenizer.json signed as `tokenizer.json` but shipped as `tokenizer_old.json`.",
        "Restore the signed file names, or re-sign the model.",
        always_blocks=True,
        waivable=False,
    ),
    _rule(
        "GATE-SG010",
        "signature-ignores-sensitive-files",
        Severity.HIGH,
        "The signature's `ignore_paths` exclude code, config, tokenizer or template files.",
        "model-signing verifiers silently skip ignored paths, so whoever controls the "
        "release can change those files freely: code runs at load time, and config, "
        "tokenizer and chat template change what the model does.",
        "Signed with `--ignore-paths tokenizer_config.json` (which holds the chat template).",
        "Re-sign without ignoring these files.",
    ),
    _rule(
        "GATE-SG011",
        "symlink-in-model",
        Severity.HIGH,
        "The model directory contains a symbolic link.",
        "A link's target can change after signing without changing anything signed, and "
        "can point at files outside the release.",
        "`model/weights.safetensors -> /mnt/cache/weights.safetensors`.",
        "Replace the link with the file it points to and re-sign.",
    ),
    _rule(
        "GATE-SG012",
        "root-digest-mismatch",
        Severity.CRITICAL,
        "The signed root digest does not match the signed file list or the release's files.",
        "The subject digest is what other documents (provenance, attestations) refer to; "
        "one that does not match the listed files means the manifest was forged or corrupted.",
        "A signature whose subject digest was computed over a different file list.",
        "Re-sign the model with model-signing; do not edit signature files by hand.",
        always_blocks=True,
    ),
)


# What the trust policy reports about the signature -> the rule it raises.
SIGNATURE_PROBLEMS = {
    ProblemKind.MALFORMED: "signature-malformed",
    ProblemKind.INVALID: "signature-invalid",
    ProblemKind.UNTRUSTED: "signer-not-trusted",
    ProblemKind.CERT_INVALID: "signing-certificate-invalid",
}
