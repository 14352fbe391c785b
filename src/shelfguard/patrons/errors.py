"""Errors of the patron services; every message says what to do and holds no personal value."""

from __future__ import annotations

from shelfguard.patrons.validation import PatronError


class PatronNotFound(PatronError):
    """No patron matches; the message does not repeat what was searched for."""


class PatronErased(PatronError):
    """The patron was erased: nothing about them can be read or changed."""


class ErasureRefused(PatronError):
    """The patron still has obligations (loans, fines, ...); `reasons` lists them."""

    def __init__(self, patron_id: int, reasons: list[str]) -> None:
        self.patron_id = patron_id
        self.reasons = reasons
        super().__init__(
            f"Patron {patron_id} cannot be erased yet: {'; '.join(reasons)}. "
            "Settle these first, then erase again."
        )


class SealedDataDamaged(PatronError):
    """A sealed value of one patron does not decrypt; other patrons are unaffected."""

    def __init__(self, patron_id: int, fields: list[str]) -> None:
        self.patron_id = patron_id
        self.fields = fields
        super().__init__(
            f"The sealed {', '.join(fields)} of patron {patron_id} cannot be decrypted: the "
            "stored data is damaged or was copied from another record. Restore this patron "
            "from a backup, or re-enter the field(s) with an update; other patrons are unaffected."
        )


class KeyMissing(PatronError):
    """The patron's data key is gone although the record is not an erased tombstone."""

    def __init__(self, patron_id: int) -> None:
        self.patron_id = patron_id
        super().__init__(
            f"The data key of patron {patron_id} has been destroyed, so the record is "
            "unreadable; an erasure was interrupted. Run `shelfguard patron erase id:"
            f"{patron_id}` again to finish it."
        )
