"""Lark callback cryptography, pure functions with test vectors (reference §1.3, §1.4).

- body encryption: AES-256-CBC, key = SHA-256(encrypt_key), wire = base64(IV ‖ ciphertext), PKCS#7;
- request signature: sha256(timestamp + nonce + encrypt_key, then the raw body bytes), lowercase hex.
"""

from __future__ import annotations

import base64
import functools
import binascii
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from larkdou.errors import DecryptError

_BLOCK = 16


@functools.lru_cache(maxsize=8)
def _key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode("utf-8")).digest()


def encrypt(encrypt_key: str, plaintext: bytes | str, iv: bytes | None = None) -> str:
    """Encrypt the way Lark does; returns the base64 string for `{"encrypt": …}`."""
    if isinstance(plaintext, str):
        plaintext = plaintext.encode("utf-8")
    iv = iv if iv is not None else os.urandom(_BLOCK)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(_key(encrypt_key)), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(padded) + enc.finalize()).decode("ascii")


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    """Decrypt a Lark `encrypt` value. Raises DecryptError on anything malformed."""
    try:
        raw = base64.b64decode(encrypted, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DecryptError("encrypt field is not valid base64") from exc
    if len(raw) < 2 * _BLOCK or len(raw) % _BLOCK:
        raise DecryptError("encrypt field has the wrong length")
    dec = Cipher(algorithms.AES(_key(encrypt_key)), modes.CBC(raw[:_BLOCK])).decryptor()
    padded = dec.update(raw[_BLOCK:]) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptError("cannot decrypt: wrong encrypt key or corrupted body") from exc


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """X-Lark-Signature for a raw request body."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


def verify_signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes, given: str) -> bool:
    """Constant-time comparison of the expected and the given signature."""
    expected = signature(timestamp, nonce, encrypt_key, body)
    return hmac.compare_digest(expected.encode("ascii"), (given or "").strip().lower().encode("utf-8", "replace"))


def tokens_equal(expected: str, given: object) -> bool:
    """Constant-time verification-token comparison; a non-string never matches."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
