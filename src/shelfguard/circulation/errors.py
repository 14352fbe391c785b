"""Refusals of the circulation services: a stable code for programs, a clear reason for people.

Codes are what the API, the SIP2 server and the offline upload map to their
own answers; messages are shown at the desk and may be logged, so they name
ids and codes only, never a patron's name or a title.
"""

from __future__ import annotations


class CirculationError(Exception):
    """A circulation request that was not carried out; nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = str(message)


# The codes, in one place so callers can match on them.
UNKNOWN_ITEM = "unknown_item"
UNKNOWN_PATRON = "unknown_patron"
UNKNOWN_BRANCH = "unknown_branch"
UNKNOWN_HOLD = "unknown_hold"
UNKNOWN_RECORD = "unknown_record"
ALREADY_ON_LOAN_TO_PATRON = "already_on_loan_to_patron"
ON_LOAN_TO_OTHER = "on_loan_to_other"
NOT_ON_LOAN = "not_on_loan"
ITEM_UNAVAILABLE = "item_unavailable"
ON_HOLD_FOR_OTHER = "on_hold_for_other"
PATRON_BLOCKED = "patron_blocked"
LIMIT_REACHED = "limit_reached"
RENEWAL_LIMIT = "renewal_limit"
HOLD_PENDING = "hold_pending"
HOLDS_NOT_ALLOWED = "holds_not_allowed"
ALREADY_HELD = "already_held"
NOT_YOURS = "not_yours"
INVALID = "invalid"
