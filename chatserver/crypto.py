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
