"""Backup errors: a stable code for scripts and a message that says what to do.

Messages never contain a personal value (backups hold sealed data only, and
the messages name files, tables and counts).
"""

from __future__ import annotations


class BackupError(Exception):
    """A backup command could not do its work; `code` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
