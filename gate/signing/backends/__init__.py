"""Signing backends, one module each, as model-signing has them: `key` (a pinned public key),
`certificate` (an X.509 chain to a pinned CA, with the leaf's identity policy), `sigstore`
(keyless: Fulcio certificate and Rekor entry, the gate's one Sigstore verifier)."""
