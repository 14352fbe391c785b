"""The vault: keys, sealing, blind indexes, crypto-erasure and rotation.

Envelope encryption in three layers:

* the **master key** (KEK, `keys/master.key`) wraps
* one **data key** per owner (kept in the keystore database, apart from the
  main database), which seals that owner's personal fields with AES-256-GCM;
* a separate **index key** (`keys/index.key`) computes truncated, keyed
  blind indexes so sealed values can be found by exact match.

Erasing an owner destroys their data key: every value sealed with it becomes
unreadable everywhere at once, backups of the main database included.

The vault knows keys, not people: it imports no service app and not the
ledger. Owners are opaque ids chosen by the caller (a patron id, never a
name or an address).

Modules: `keys` (key files, `ensure_keys`), `keystore` (data keys, erasure,
journal), `sealing` (seal/unseal), `blind` (blind indexes), `rotation`.
"""

from shelfguard.vault.errors import KeyDestroyed, SealBroken, VaultError

__all__ = ["KeyDestroyed", "SealBroken", "VaultError"]
