"""Exceptions raised by the ledger; each message says what went wrong and what to do."""

from __future__ import annotations

from pathlib import Path


class LedgerError(Exception):
    """Base class for every ledger failure."""


class NotInTransaction(LedgerError, RuntimeError):
    """`append` was called outside the caller's `transaction.atomic()` block.

    A programming error: an entry written in its own transaction could survive
    an action that rolled back, or the action could commit without its entry.
    """


class InvalidEntry(LedgerError, ValueError):
    """An entry's codes or values break the ledger's rules (a programming error)."""


class ChainBroken(LedgerError):
    """The chain does not verify, so the ledger refuses to sign or prune it."""


class CheckpointError(LedgerError):
    """A checkpoint could not be written (no signing key, unwritable directory, ...)."""


class CheckpointHookError(LedgerError):
    """The checkpoint was written but the configured hook failed to ship it."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path
