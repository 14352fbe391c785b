"""Every API test gets its own data home (secret key, vault keys on demand).

Staff second factors and patrons are sealed with the vault's keys, which live
in the data home; a fresh one per test means the API tests pass whether or
not the run was given a `SHELFGUARD_HOME`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shelfguard.vault.sealing import forget_cached_keys


@pytest.fixture(autouse=True)
def _own_data_home(home: Path) -> Iterator[Path]:
    forget_cached_keys()
    yield home
    forget_cached_keys()
