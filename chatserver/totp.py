"""Time-based one-time passwords (RFC 6238: SHA-1, 6 digits, 30 s steps) for staff logins."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

DIGITS = 6
STEP_SECONDS = 30
# Codes of the step before and after are accepted too, for clocks that are a little off.
TOLERANCE_STEPS = 1
SECRET_BYTES = 20
ISSUER = "Chatserver"

_OTP_RE = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """20 random bytes as base32 without padding, as authenticator apps expect."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded, casefold=False)


def valid_secret(secret: object) -> bool:
    if not isinstance(secret, str) or not secret:
        return False
    try:
        return len(_key(secret)) >= 16
    except (binascii.Error, ValueError):
        return False


def _totp(secret: str) -> TOTP:
    return TOTP(_key(secret), DIGITS, SHA1(), STEP_SECONDS)


def code_at(secret: str, unix_time: float) -> str:
    """The code an authenticator app shows at that time (tests and diagnostics)."""
    return _totp(secret).generate(int(unix_time)).decode("ascii")


def verify(secret: str, otp: str, unix_time: float) -> bool:
    """Whether otp is the code of this step or of one step either side."""
    return matched_step(secret, otp, unix_time) is not None


def matched_step(secret: str, otp: str, unix_time: float) -> int | None:
    """The time step (unix time // 30) whose code otp is, within the tolerance, or None.

    The caller refuses a step at or before the last one used (RFC 6238 section 5.2), so a code
    seen over a shoulder or in a proxy log cannot be used again.
    """
    if not _OTP_RE.fullmatch(otp):
        return None
    totp = _totp(secret)
    now_step = int(unix_time) // STEP_SECONDS
    matched = None
    for offset in range(-TOLERANCE_STEPS, TOLERANCE_STEPS + 1):
        expected = totp.generate(int(unix_time) + offset * STEP_SECONDS)
        # Check every step, so the time taken does not say which one matched.
        if hmac.compare_digest(expected, otp.encode("ascii")):
            matched = now_step + offset
    return matched


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app scans (as a QR code) or takes pasted."""
    return _totp(secret).get_provisioning_uri(username, ISSUER)
