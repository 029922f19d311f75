"""Signing and trust: everything the gate signs or verifies, in one wing.

- `dsse`: DSSE envelopes around in-toto Statements (through securesystemslib);
- `keys`: key files and key ids;
- `subject`: the digests that waivers and attestations are bound to;
- `trust`: the trust policy (pinned keys, CAs, identities, trust root) and what
  verification yields;
- `document`: signed documents a release declares, and which backend verifies each;
- `backends`: one module per way to sign (key, X.509 certificate, Sigstore keyless);
- `model_format`: the OpenSSF model-signing format, model scope and root digests;
- `slsa`: SLSA v1 build provenance, and a release's provenance verified.

A library: it never imports the engine, the checks or the command layer. The
submodules are imported where they are used (signing pulls in cryptography).
"""
