"""Fixtures for the lifecycle tests: the backup fixtures live in `backup_helpers`."""

from tests.lifecycle.backup_helpers import (  # noqa: F401
    age_key,
    configured,
    keys_dir,
    recovery_key,
)
from tests.patrons.conftest import library, make_patron  # noqa: F401
