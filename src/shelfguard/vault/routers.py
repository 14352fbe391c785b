"""Send the vault's models to the `keystore` database and nothing else there."""

from __future__ import annotations

from typing import Any

from shelfguard.vault.dbsettings import KEYSTORE_ALIAS

_VAULT = "vault"


class KeystoreRouter:
    """Vault models live only in `keystore`; no other app's tables go there.

    Keeping the two apart is the point of the keystore: a copy of the main
    database must hold no data key, and the keystore must hold no personal
    data.
    """

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return KEYSTORE_ALIAS if model._meta.app_label == _VAULT else None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return KEYSTORE_ALIAS if model._meta.app_label == _VAULT else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        in_vault = (obj1._meta.app_label == _VAULT, obj2._meta.app_label == _VAULT)
        if any(in_vault):
            # A foreign key cannot cross databases; within the vault it may.
            return all(in_vault)
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        if app_label == _VAULT:
            return db == KEYSTORE_ALIAS
        if db == KEYSTORE_ALIAS:
            return False
        return None
