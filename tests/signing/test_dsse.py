from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.errors import InputError
from gate.signing.dsse import (
    Statement,
    Subject,
    add_signature,
    pae,
    sign_envelope,
    sign_statement,
    verify_envelope,
)
from gate.signing.keys import key_id


def test_pae_matches_spec_example() -> None:
    # From the DSSE specification's protocol document.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: ec.generate_private_key(ec.SECP521R1()),
        ed25519.Ed25519PrivateKey.generate,
    ],
)
def test_sign_then_verify_and_byte_flip(make) -> None:  # type: ignore[no-untyped-def]
    key = make()
    st_ = Statement(
        subject=(Subject(name="m", digest={"sha256": "00" * 32}),), predicateType="x", predicate={}
    )
    env = sign_statement(st_, key)
    ok = verify_envelope(env, [key.public_key()], "env")
    assert ok.key_ids == (key_id(key.public_key()),)
    assert ok.statement("env").subject[0].name == "m"
    # Flip one byte inside the payload: the signature no longer holds.
    data = json.loads(env)
    payload = bytearray(base64.b64decode(data["payload"]))
    payload[5] ^= 1
    data["payload"] = base64.b64encode(bytes(payload)).decode()
    assert verify_envelope(json.dumps(data).encode(), [key.public_key()], "env").key_ids == ()


def test_untrusted_key_is_not_counted_and_n_of_m() -> None:
    a, b, c = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    env = sign_envelope(b"{}", a)
    assert verify_envelope(env, [c.public_key()], "e").key_ids == ()
    both = add_signature(env, b)
    got = verify_envelope(both, [a.public_key(), b.public_key()], "e").key_ids
    assert set(got) == {key_id(a.public_key()), key_id(b.public_key())}
    # The same signer twice counts once.
    twice = add_signature(env, a)
    assert verify_envelope(twice, [a.public_key()], "e").key_ids == (key_id(a.public_key()),)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_hostile_envelopes_give_input_errors(raw: bytes) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        v = verify_envelope(raw, [key.public_key()], "x")
    except InputError as exc:
        assert exc.message.startswith("x:")
    else:
        assert v.key_ids == ()


def test_truncated_envelope(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    env = sign_envelope(b"{}", key)
    with pytest.raises(InputError, match="not a JSON DSSE envelope"):
        verify_envelope(env[: len(env) // 2], [key.public_key()], "x")
