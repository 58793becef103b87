"""Password hashing and token hashing.

Passwords get scrypt (memory-hard, so a stolen users.json is expensive to attack); session and
resume tokens are 256-bit random values, so a plain SHA-256 is enough and only hashes are stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import unicodedata

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

# Parameters for new hashes. Existing hashes carry their own parameters in the encoding, so these
# can be raised later without breaking old accounts. Tests lower SCRYPT_N to stay fast.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32

# Bounds on parameters read from an encoding, so a tampered users.json cannot make a login
# allocate gigabytes or spin for minutes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
_MAX_MEMORY = 256 * 1024 * 1024  # scrypt needs about 128 * n * r bytes
_SCHEME = "scrypt"


def _normalize(password: str) -> bytes:
    # NFC, so the same password typed on systems that compose accents differently still matches;
    # surrogatepass, so any str (even a lone surrogate from JSON) hashes instead of raising.
    return unicodedata.normalize("NFC", password).encode("utf-8", "surrogatepass")


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(_normalize(password))


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def hash_password(password: str) -> str:
    """Hash a password for storage as "scrypt$n$r$p$<salt b64>$<hash b64>"."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64encode(salt)}${_b64encode(key)}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return None
    if not all(part.isascii() and part.isdigit() for part in parts[1:4]):
        return None
    n, r, p = (int(part) for part in parts[1:4])
    try:
        salt = _b64decode(parts[4])
        key = _b64decode(parts[5])
    except (ValueError, binascii.Error):
        return None
    if n < 2 or n > _MAX_N or n & (n - 1) or not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
        return None
    if 128 * n * r > _MAX_MEMORY:
        return None
    # The key length is fixed: scrypt of a shorter length is a prefix of the longer key, so a
    # truncated hash would otherwise still verify.
    if not SALT_BYTES <= len(salt) <= 64 or len(key) != KEY_BYTES:
        return None
    return n, r, p, salt, key


def verify_password(password: str, encoded: str) -> bool:
    """True if password matches encoded; a malformed encoding is simply a mismatch."""
    parsed = _parse(encoded)
    if parsed is None:
        return False
    n, r, p, salt, key = parsed
    candidate = _derive(password, salt, n, r, p, KEY_BYTES)
    return hmac.compare_digest(candidate, key)


_DUMMY_SALT = secrets.token_bytes(SALT_BYTES)
_DUMMY_KEY = secrets.token_bytes(KEY_BYTES)


def verify_dummy_password(password: str) -> None:
    """Spend as long as a real verify, so an unknown username is not told apart by timing."""
    candidate = _derive(password, _DUMMY_SALT, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    hmac.compare_digest(candidate, _DUMMY_KEY)


def new_token() -> str:
    """A fresh 256-bit random token for sessions and resumes."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What gets stored instead of a token: high entropy makes a fast hash sufficient."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- chat-log encryption (Redis only ever sees ciphertext) ---------------------------------

# CHATSERVER_SECRET must carry at least this many characters; a shorter one is refused.
MIN_SECRET_CHARS = 32
CHAT_KEY_BYTES = 32
_NONCE_BYTES = 12
_KEK_INFO = b"chatserver v1 chat-key wrapping"
_BUS_INFO = b"chatserver v1 socket.io bus"


class SecretError(ValueError):
    """CHATSERVER_SECRET is missing or too weak; str() is the one line shown."""


def key_encryption_key(secret: str | None) -> bytes:
    """The key that wraps every per-chat key, derived from CHATSERVER_SECRET with HKDF."""
    if not secret:
        raise SecretError(
            "CHATSERVER_SECRET is not set: with --redis every process needs the same secret "
            f"of at least {MIN_SECRET_CHARS} characters (for example: openssl rand -base64 48)"
        )
    if len(secret) < MIN_SECRET_CHARS:
        raise SecretError(
            f"CHATSERVER_SECRET is {len(secret)} characters; it needs at least {MIN_SECRET_CHARS}"
        )
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEK_INFO)
    return hkdf.derive(secret.encode("utf-8"))


def bus_key(kek: bytes) -> bytes:
    """The key of everything the Socket.IO bus carries between processes (pub/sub)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_BUS_INFO)
    return hkdf.derive(kek)


def seal_bus_message(key: bytes, plaintext: bytes) -> bytes:
    return _seal(key, plaintext, b"bus")


def open_bus_message(key: bytes, sealed: bytes) -> bytes:
    return _open(key, sealed, b"bus")


def new_chat_key() -> bytes:
    return secrets.token_bytes(CHAT_KEY_BYTES)


def _seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def _open(key: bytes, sealed: bytes, context: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context)


def wrap_chat_key(kek: bytes, chat_id: str, chat_key: bytes) -> bytes:
    """Bound to the chat id, so a wrapped key moved to another chat does not open."""
    return _seal(kek, chat_key, b"key:" + chat_id.encode())


def unwrap_chat_key(kek: bytes, chat_id: str, wrapped: bytes) -> bytes:
    return _open(kek, wrapped, b"key:" + chat_id.encode())


def encrypt_chat_entry(chat_key: bytes, chat_id: str, plaintext: bytes) -> bytes:
    return _seal(chat_key, plaintext, b"log:" + chat_id.encode())


def decrypt_chat_entry(chat_key: bytes, chat_id: str, sealed: bytes) -> bytes:
    return _open(chat_key, sealed, b"log:" + chat_id.encode())
