"""Feedback errors: a stable code and a message that says what to do, never a personal value."""

from __future__ import annotations


class FeedbackError(Exception):
    """Something the person can fix; `code` is stable for scripts and tests."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(FeedbackError):
    """No such feedback or request (also for a wrong token: existence is not told)."""

    def __init__(self) -> None:
        super().__init__("not-found", "There is nothing at this address.")
