"""Wrapping data keys under a master key version (AES-256-GCM).

A wrapped data key is `0x01 || nonce (12) || AES-256-GCM(data key) || tag (16)`,
61 bytes. Its associated data binds the key id and the master key version:
a wrapped key copied into another row, or relabelled with another version,
fails to unwrap instead of silently serving the wrong owner.
"""

from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shelfguard.vault.keyfiles import KEY_BYTES

WRAP_FORMAT = 1
NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_BYTES = 1 + NONCE_BYTES + KEY_BYTES + TAG_BYTES
_WRAP_TAG = b"shelfguard.vault.datakey.v1\x00"


class UnwrapError(Exception):
    """A wrapped key does not open under the given master key (wrong key or damaged row)."""


def _wrap_aad(key_id: uuid.UUID, kek_version: int) -> bytes:
    return _WRAP_TAG + key_id.bytes + kek_version.to_bytes(4, "big")


def wrap(kek: bytes, kek_version: int, key_id: uuid.UUID, data_key: bytes) -> bytes:
    """Wrap a 32-byte data key under a master key version."""
    if len(data_key) != KEY_BYTES:
        raise ValueError("a data key is 32 bytes")
    nonce = os.urandom(NONCE_BYTES)
    body = AESGCM(kek).encrypt(nonce, data_key, _wrap_aad(key_id, kek_version))
    return bytes([WRAP_FORMAT]) + nonce + body


def unwrap(kek: bytes, kek_version: int, key_id: uuid.UUID, wrapped: bytes) -> bytes:
    """The data key inside `wrapped`; UnwrapError if it does not open."""
    wrapped = bytes(wrapped)
    if len(wrapped) != WRAPPED_BYTES or wrapped[0] != WRAP_FORMAT:
        raise UnwrapError("not a wrapped data key of a known format")
    nonce, body = wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :]
    try:
        return AESGCM(kek).decrypt(nonce, body, _wrap_aad(key_id, kek_version))
    except InvalidTag:
        raise UnwrapError("authentication failed") from None
