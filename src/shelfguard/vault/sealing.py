"""Sealing personal values with an owner's data key (AES-256-GCM).

A sealed value is::

    0x01 (format) || nonce (12 random bytes) || ciphertext || tag (16)

The nonce is fresh from the operating system for every value, so sealing the
same text twice gives unrelated outputs (nothing to compare in the
database). NIST SP 800-38D allows 2^32 values per key with random 96-bit
nonces; each owner has a key of their own and a few dozen values.

The associated data binds each value to where it belongs:

    format tag || key id || owner || field   (each length-prefixed)

GCM authenticates it without storing it. Someone who can write to the
database but has no key could otherwise move a sealed value: copy patron
A's phone into patron B's row (B's screen would show A's number), or a
value from one field into another (an email shown as an address, a value
of a field staff may see moved into one they may not). With the binding, a
value opened anywhere but where it was sealed raises SealBroken. The
length prefixes keep ("ab", "c") and ("a", "bc") apart.
"""

from __future__ import annotations

import os
import re
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shelfguard.vault import keystore
from shelfguard.vault.cache import key_cache
from shelfguard.vault.errors import SealBroken

SEAL_FORMAT = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_SEAL_TAG = b"shelfguard.vault.seal.v1"
_DIGEST_TAG = b"shelfguard.vault.digest.v1"
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")


def _check_field(field: str) -> str:
    if not isinstance(field, str) or not _FIELD.match(field):
        raise ValueError(
            "field must be a field name of 1-64 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or '_'"
        )
    return field


def _length_prefixed(*parts: bytes) -> bytes:
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


class SealingKey:
    """An unwrapped data key, able to seal and unseal one owner's values.

    Obtained from `open_key`. It never leaves process memory: it cannot be
    pickled (so it cannot land in a cache, a session or a task queue) and its
    repr shows only the key id.
    """

    __slots__ = ("_aead", "_digest_key", "key_id")

    def __init__(self, key_id: uuid.UUID, data_key: bytes) -> None:
        self.key_id = key_id
        self._aead = AESGCM(data_key)
        # A separate subkey for `digest`: one key is never used for two
        # algorithms.
        self._digest_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_DIGEST_TAG
        ).derive(data_key)

    def _aad(self, owner: str, field: str) -> bytes:
        keystore.check_owner(owner)
        _check_field(field)
        return _SEAL_TAG + _length_prefixed(
            self.key_id.bytes, owner.encode("utf-8"), field.encode("utf-8")
        )

    def seal(self, owner: str, field: str, plaintext: str) -> bytes:
        """Seal `plaintext` as the value of `field` for `owner`."""
        if not isinstance(plaintext, str):
            raise TypeError("seal() takes text (str)")
        aad = self._aad(owner, field)
        try:
            data = plaintext.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"the value for {field} is not valid Unicode text") from None
        nonce = os.urandom(NONCE_BYTES)
        return bytes([SEAL_FORMAT]) + nonce + self._aead.encrypt(nonce, data, aad)

    def unseal(self, owner: str, field: str, ciphertext: bytes | bytearray | memoryview) -> str:
        """The text sealed as `field` for `owner`; SealBroken if it does not open."""
        aad = self._aad(owner, field)
        sealed = bytes(ciphertext)
        if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES or sealed[0] != SEAL_FORMAT:
            raise SealBroken(
                f"the sealed {field} of owner {owner} is not a sealed value of a known format"
            )
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            data = self._aead.decrypt(nonce, body, aad)
        except InvalidTag:
            raise SealBroken(
                f"the sealed {field} of owner {owner} does not open: it was tampered with, "
                "damaged, or sealed for another owner, field or key"
            ) from None
        return data.decode("utf-8")

    def digest(self, owner: str, field: str, value: str) -> bytes:
        """A keyed one-way digest (HMAC-SHA256) of `value` as `field` of `owner`.

        For short secrets that must be checked but never read back, such as a
        patron's PIN. A slow password hash cannot protect a 4-6 digit PIN: a
        million guesses take hours at most, offline, from a copy of the
        database or of a backup. Keyed with the owner's data key, which lives
        only in the keystore (never in the database or a data backup), the
        digest is worthless without the keys; online guessing is capped by
        the sign-in throttle; and erasing the owner destroys the key, so the
        digest can never be matched again. Compare with `hmac.compare_digest`.
        """
        if not isinstance(value, str):
            raise TypeError("digest() takes text (str)")
        mac = hmac.HMAC(self._digest_key, hashes.SHA256())
        mac.update(
            _DIGEST_TAG
            + _length_prefixed(
                self.key_id.bytes,
                keystore.check_owner(owner).encode("utf-8"),
                _check_field(field).encode("utf-8"),
                value.encode("utf-8"),
            )
        )
        return mac.finalize()

    def __repr__(self) -> str:
        return f"<SealingKey {self.key_id}>"

    def __reduce__(self) -> object:
        raise TypeError("a SealingKey cannot be pickled: unwrapped keys stay in process memory")


def open_key(key_id: str) -> SealingKey:
    """Unwrap an owner's data key (once; kept in memory briefly, see `cache.py`).

    KeyDestroyed if the key has been destroyed; VaultError if the master key
    is missing or wrong.
    """
    kid = keystore.parse_key_id(key_id)
    cached = key_cache.get(kid)
    if cached is not None:
        return cached
    key = SealingKey(kid, keystore.load_data_key(kid))
    key_cache.put(kid, key)
    return key


def seal(key_id: str, owner: str, field: str, plaintext: str) -> bytes:
    """Seal one value: `open_key(key_id).seal(owner, field, plaintext)`."""
    return open_key(key_id).seal(owner, field, plaintext)


def unseal(key_id: str, owner: str, field: str, ciphertext: bytes | bytearray | memoryview) -> str:
    """Open one sealed value: `open_key(key_id).unseal(owner, field, ciphertext)`."""
    return open_key(key_id).unseal(owner, field, ciphertext)


def forget_cached_keys() -> None:
    """Drop every unwrapped key this process holds (after a fork, or in tests)."""
    key_cache.clear()
