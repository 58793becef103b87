"""Password and token hashing."""

from __future__ import annotations

import base64

import pytest

from chatserver import crypto

REAL_SCRYPT_N = crypto.SCRYPT_N


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap scrypt keeps the suite fast; the real_scrypt fixture undoes it."""
    monkeypatch.setattr(crypto, "SCRYPT_N", 2**10)


@pytest.fixture
def real_scrypt(monkeypatch: pytest.MonkeyPatch, fast_scrypt: None) -> None:
    monkeypatch.setattr(crypto, "SCRYPT_N", REAL_SCRYPT_N)


def test_hash_then_verify() -> None:
    encoded = crypto.hash_password("correct horse battery staple")
    assert crypto.verify_password("correct horse battery staple", encoded)
    assert not crypto.verify_password("correct horse battery stapl", encoded)
    assert not crypto.verify_password("", encoded)


def test_encoding_format() -> None:
    encoded = crypto.hash_password("some password here")
    scheme, n, r, p, salt, key = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**10), "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(key)) == 32
    assert "some password here" not in encoded


def test_salt_is_random() -> None:
    assert crypto.hash_password("same password!") != crypto.hash_password("same password!")


def test_real_parameters(real_scrypt: None) -> None:
    assert crypto.SCRYPT_N == 2**15
    encoded = crypto.hash_password("production strength")
    assert encoded.startswith("scrypt$32768$8$1$")
    assert crypto.verify_password("production strength", encoded)
    assert not crypto.verify_password("production strengtH", encoded)


def test_hash_keeps_its_own_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = crypto.hash_password("made with old settings")
    monkeypatch.setattr(crypto, "SCRYPT_N", 2**11)
    assert crypto.verify_password("made with old settings", encoded)


def test_unicode_normalization() -> None:
    composed = "caf\u00e9 au lait!!"
    decomposed = "cafe\u0301 au lait!!"
    assert crypto.verify_password(decomposed, crypto.hash_password(composed))


def test_lone_surrogate_does_not_raise() -> None:
    encoded = crypto.hash_password("abc\ud800def")
    assert crypto.verify_password("abc\ud800def", encoded)
    assert not crypto.verify_password("abc\ud801def", encoded)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "garbage",
        "scrypt$1024$8$1$AAAA",
        "bcrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$x$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$-1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$ 1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$1024$0$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$1024$8$0$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        # would need 4 GiB: refused rather than attempted
        "scrypt$1048576$32$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$1024$8$1$not base64!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$",
        "scrypt$1024$8$1$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
        "scrypt$1024$8$1$\u00e9$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$x",
    ],
)
def test_malformed_encoding_is_a_mismatch(encoded: str) -> None:
    assert crypto.verify_password("whatever password", encoded) is False


def test_truncated_real_hash_is_a_mismatch() -> None:
    encoded = crypto.hash_password("truncate me please")
    assert not crypto.verify_password("truncate me please", encoded[:-8])


def test_dummy_verify_does_the_same_work_as_a_real_one(
    real_scrypt: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same scrypt parameters and key length, so an unknown user costs what a known one does.

    Checked by the work done, not by a stopwatch: timing assertions flake on shared machines.
    """
    encoded = crypto.hash_password("timing matters here")
    calls: list[tuple[int, int, int, int]] = []
    derive = crypto._derive

    def recording(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
        calls.append((n, r, p, length))
        return derive(password, salt, n, r, p, length)

    monkeypatch.setattr(crypto, "_derive", recording)
    crypto.verify_password("wrong password!!", encoded)
    crypto.verify_dummy_password("wrong password!!")
    assert len(calls) == 2
    assert calls[0] == calls[1]


def test_new_token_is_random_and_urlsafe() -> None:
    tokens = {crypto.new_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert len(token) >= 43
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_hash_token() -> None:
    token = crypto.new_token()
    digest = crypto.hash_token(token)
    assert digest == crypto.hash_token(token)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert token not in digest
    assert crypto.hash_token(crypto.new_token()) != digest
    # a known vector, so a store written by one version is read by the next
    assert crypto.hash_token("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# --- chat-log encryption ---------------------------------------------------------------------

SECRET = "s" * crypto.MIN_SECRET_CHARS


def test_a_missing_or_short_secret_is_refused_with_a_clear_line() -> None:
    with pytest.raises(crypto.SecretError, match="CHATSERVER_SECRET is not set"):
        crypto.key_encryption_key(None)
    with pytest.raises(crypto.SecretError, match="needs at least 32"):
        crypto.key_encryption_key("short")


def test_chat_entries_round_trip_and_are_not_readable() -> None:
    kek = crypto.key_encryption_key(SECRET)
    key = crypto.new_chat_key()
    wrapped = crypto.wrap_chat_key(kek, "chat-1", key)
    assert key not in wrapped
    assert crypto.unwrap_chat_key(kek, "chat-1", wrapped) == key
    sealed = crypto.encrypt_chat_entry(key, "chat-1", b"ik heet Anna")
    assert b"Anna" not in sealed
    assert crypto.decrypt_chat_entry(key, "chat-1", sealed) == b"ik heet Anna"
    # Same text twice: different ciphertext (fresh nonce each time).
    assert crypto.encrypt_chat_entry(key, "chat-1", b"ik heet Anna") != sealed


def test_sealed_data_only_opens_for_its_own_chat_and_key() -> None:
    from cryptography.exceptions import InvalidTag

    kek = crypto.key_encryption_key(SECRET)
    key = crypto.new_chat_key()
    wrapped = crypto.wrap_chat_key(kek, "chat-1", key)
    sealed = crypto.encrypt_chat_entry(key, "chat-1", b"text")
    with pytest.raises(InvalidTag):
        crypto.unwrap_chat_key(kek, "chat-2", wrapped)
    with pytest.raises(InvalidTag):
        crypto.unwrap_chat_key(crypto.key_encryption_key("t" * 40), "chat-1", wrapped)
    with pytest.raises(InvalidTag):
        crypto.decrypt_chat_entry(key, "chat-2", sealed)
    with pytest.raises(InvalidTag):
        crypto.decrypt_chat_entry(crypto.new_chat_key(), "chat-1", sealed)
