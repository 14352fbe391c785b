"""The vault's exceptions. Messages name keys, owners (opaque ids) and files,
never a plaintext value or any key material."""

from __future__ import annotations


class VaultError(Exception):
    """The vault cannot do what was asked; the message says why and what to do."""


class KeyDestroyed(VaultError):
    """The data key is gone (erased): what it sealed can never be read again."""


class SealBroken(VaultError):
    """A sealed value does not open: it was tampered with, corrupted, or moved
    to another owner or field than the one it was sealed for."""
