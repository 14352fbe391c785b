"""The register of signed-in staff sessions: the authority on whether one is alive.

Django's session row holds the session data; this register says whose it is,
when it started and was last used, and whether it was ended. The middleware
asks `check` on every request, so idle and absolute timeouts, "end this
session" and disabling an account all take effect at the next request,
without any background job.
"""

from __future__ import annotations

from django.db import transaction

from shelfguard.accounts import config
from shelfguard.accounts.models import StaffSession, StaffUser
from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core import clock

IDLE = "idle"
ABSOLUTE = "absolute"
ENDED = "ended"
DISABLED = "disabled"
SIGNED_OUT = "signed-out"
PASSWORD_CHANGED = "password-changed"
FACTOR_RESET = "factor-reset"
UNKNOWN = "unknown"


def _hash(session_key: str) -> str:
    return keyed_hash("staff-session", session_key)


def start(staff: StaffUser, session_key: str, *, client: str = "") -> StaffSession:
    now = clock.now()
    return StaffSession.objects.create(
        staff=staff,
        key_hash=_hash(session_key),
        created_at=now,
        last_seen=now,
        client=client[:100],
    )


def check(staff: StaffUser, session_key: str | None) -> tuple[StaffSession | None, str]:
    """(session, "") if this session may go on, else (None, reason it ended)."""
    if not session_key:
        return None, UNKNOWN
    now = clock.now()
    with transaction.atomic():
        session = (
            StaffSession.objects.select_for_update()
            .filter(key_hash=_hash(session_key), staff=staff)
            .first()
        )
        if session is None:
            return None, UNKNOWN
        if session.ended_at is not None:
            return None, session.end_reason or ENDED
        reason = ""
        if not staff.is_active:
            reason = DISABLED
        elif now - session.created_at >= config.absolute_timeout():
            reason = ABSOLUTE
        elif now - session.last_seen >= config.idle_timeout():
            reason = IDLE
        if reason:
            _end(session, reason, now)
            return None, reason
        session.last_seen = now
        session.save(update_fields=["last_seen"])
        return session, ""


def _end(session: StaffSession, reason: str, now) -> None:
    session.ended_at = now
    session.end_reason = reason
    session.save(update_fields=["ended_at", "end_reason"])


def end(session: StaffSession, reason: str = ENDED) -> None:
    if session.ended_at is None:
        _end(session, reason, clock.now())


def end_by_key(staff: StaffUser, session_key: str | None, reason: str = SIGNED_OUT) -> None:
    if session_key:
        session = StaffSession.objects.filter(key_hash=_hash(session_key), staff=staff).first()
        if session is not None:
            end(session, reason)


def end_all(staff: StaffUser, reason: str) -> int:
    return StaffSession.objects.filter(staff=staff, ended_at__isnull=True).update(
        ended_at=clock.now(), end_reason=reason
    )


def rekey(session: StaffSession, session_key: str) -> None:
    """Follow a session to its new id (Django gives it one after a password change)."""
    session.key_hash = _hash(session_key)
    session.save(update_fields=["key_hash"])


def end_all_but(staff: StaffUser, session_key: str | None, reason: str) -> int:
    """End every session of `staff` except the one with `session_key`."""
    sessions = StaffSession.objects.filter(staff=staff, ended_at__isnull=True)
    if session_key:
        sessions = sessions.exclude(key_hash=_hash(session_key))
    return sessions.update(ended_at=clock.now(), end_reason=reason)


def active(staff: StaffUser) -> list[StaffSession]:
    """The staff member's sessions that have not ended or timed out."""
    now = clock.now()
    return [
        s
        for s in StaffSession.objects.filter(staff=staff, ended_at__isnull=True)
        if now - s.created_at < config.absolute_timeout()
        and now - s.last_seen < config.idle_timeout()
    ]


def is_current(session: StaffSession, session_key: str | None) -> bool:
    return bool(session_key) and session.key_hash == _hash(session_key)
