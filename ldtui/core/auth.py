"""Passwords as salted scrypt hashes, so the password of a stored user is never kept in clear.

A stored password is ``scrypt$N$r$p$SALT$HASH`` (salt and hash in hex). The clear text is
never stored, logged or returned; a comparison runs in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os

_N = 1 << 14
_R = 8
_P = 1
_LEN = 32


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * n * r + (1 << 20), dklen=length)


def hash_password(password: str) -> str:
    """A fresh random 16-byte salt each call: two users with one password differ."""
    salt = os.urandom(16)
    digest = _scrypt(password, salt, _N, _R, _P, _LEN)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(stored: str, password: str) -> bool:
    """True if ``password`` matches ``stored``; a malformed or empty hash never matches."""
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest_hex)
        actual = _scrypt(password, bytes.fromhex(salt_hex), int(n), int(r), int(p), len(expected))
    except (ValueError, OverflowError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)
