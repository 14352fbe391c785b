"""The register of portal sessions: the authority on whether a portal cookie is still good.

The portal does not use Django's (staff) session. Its cookie carries a
random token; only the token's keyed hash is stored, in `PatronSession`.
`check` runs on every portal request, so idle and absolute timeouts,
"end this session", a password change elsewhere and a card that is no longer
active all take effect at the next request, without any background job.
Every end of a session is written to the access ledger.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import transaction

from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons.models import Patron, PatronStatus
from shelfguard.portal import config
from shelfguard.portal.models import PatronSession

IDLE = "idle"
ABSOLUTE = "absolute"
ENDED = "ended"
SIGNED_OUT = "signed-out"
PASSWORD_CHANGED = "password-changed"
FACTOR_CHANGED = "factor-changed"
CLOSED = "closed"
REPLACED = "replaced"
UNKNOWN = "unknown"

#: How long the password step waits for the second factor.
PENDING_TTL = dt.timedelta(minutes=5)
# Cookie values are 43 URL-safe characters; anything longer is not ours.
TOKEN_MAX = 64


def patron_actor(patron: Patron | int, channel: str = "web") -> Actor:
    """The patron acting on their own account (named by id, never by card number)."""
    pk = patron if isinstance(patron, int) else patron.pk
    return Actor(kind="patron", ident=str(pk), channel=channel)


def _hash(token: str) -> str:
    return keyed_hash("portal-session", token)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _record_end(patron_id: int, reason: str, count: int, actor: Actor | None = None) -> None:
    if count:
        ledger.append(
            actor=actor or patron_actor(patron_id),
            action="portal.session_end",
            purpose="sign-in",
            patron_id=patron_id,
            detail={"reason": reason, "count": count},
        )


def start(
    patron: Patron, *, public: bool, client: str = "", pending: bool = False
) -> tuple[PatronSession, str]:
    """A new session (and its token, never stored) for `patron`; call inside a transaction."""
    token = new_token()
    now = clock.now()
    session = PatronSession.objects.create(
        patron=patron,
        key_hash=_hash(token),
        stage=PatronSession.Stage.PENDING if pending else PatronSession.Stage.SIGNED_IN,
        public=public,
        created_at=now,
        last_seen=now,
        client=client[:100],
    )
    return session, token


def promote(session: PatronSession) -> str:
    """The pending session becomes a signed-in one, under a new token (returned)."""
    token = new_token()
    now = clock.now()
    session.key_hash = _hash(token)
    session.stage = PatronSession.Stage.SIGNED_IN
    session.created_at = now
    session.last_seen = now
    session.save(update_fields=["key_hash", "stage", "created_at", "last_seen"])
    return token


def _find(token: str | None) -> PatronSession | None:
    if not token or not isinstance(token, str) or len(token) > TOKEN_MAX:
        return None
    return (
        PatronSession.objects.select_for_update()
        .select_related("patron")
        .filter(key_hash=_hash(token))
        .first()
    )


def _expiry_reason(session: PatronSession, now: dt.datetime) -> str:
    if session.patron.status != PatronStatus.ACTIVE:
        return CLOSED
    if now - session.created_at >= config.absolute_timeout():
        return ABSOLUTE
    if now - session.last_seen >= config.idle_timeout(public=session.public):
        return IDLE
    return ""


def check(token: str | None) -> tuple[PatronSession | None, str]:
    """(session, "") if this signed-in session may go on, else (None, why it ended)."""
    now = clock.now()
    with transaction.atomic():
        session = _find(token)
        if session is None or session.stage != PatronSession.Stage.SIGNED_IN:
            return None, UNKNOWN
        if session.ended_at is not None:
            return None, session.end_reason or ENDED
        reason = _expiry_reason(session, now)
        if reason:
            _end(session, reason, now)
            return None, reason
        session.last_seen = now
        session.save(update_fields=["last_seen"])
        return session, ""


def pending(token: str | None) -> PatronSession | None:
    """The session part-way through sign-in (password done, second factor due), if fresh."""
    now = clock.now()
    with transaction.atomic():
        session = _find(token)
        if (
            session is None
            or session.stage != PatronSession.Stage.PENDING
            or session.ended_at is not None
        ):
            return None
        if now - session.created_at > PENDING_TTL or session.patron.status != PatronStatus.ACTIVE:
            session.ended_at = now
            session.end_reason = IDLE
            session.save(update_fields=["ended_at", "end_reason"])
            return None
        return session


def _end(session: PatronSession, reason: str, now: dt.datetime) -> None:
    session.ended_at = now
    session.end_reason = reason
    session.save(update_fields=["ended_at", "end_reason"])
    if session.stage == PatronSession.Stage.SIGNED_IN:
        _record_end(session.patron_id, reason, 1)


def end(session: PatronSession, reason: str = ENDED) -> None:
    with transaction.atomic():
        if session.ended_at is None:
            _end(session, reason, clock.now())


def end_by_token(token: str | None, reason: str = SIGNED_OUT) -> None:
    with transaction.atomic():
        session = _find(token)
        if session is not None and session.ended_at is None:
            _end(session, reason, clock.now())


def end_one(patron: Patron, session_id: int, reason: str = ENDED) -> PatronSession | None:
    """End one of the patron's own sessions by id; another patron's id matches nothing."""
    with transaction.atomic():
        session = (
            PatronSession.objects.select_for_update()
            .filter(
                pk=session_id,
                patron=patron,
                ended_at__isnull=True,
                stage=PatronSession.Stage.SIGNED_IN,
            )
            .first()
        )
        if session is None:
            return None
        _end(session, reason, clock.now())
        return session


def end_all_but(
    patron: Patron | int, keep: PatronSession | None, reason: str, actor: Actor | None = None
) -> int:
    """End every open session of the patron except `keep`; one ledger entry for them all."""
    pk = patron if isinstance(patron, int) else patron.pk
    with transaction.atomic():
        open_sessions = PatronSession.objects.filter(patron_id=pk, ended_at__isnull=True)
        if keep is not None:
            open_sessions = open_sessions.exclude(pk=keep.pk)
        signed_in = open_sessions.filter(stage=PatronSession.Stage.SIGNED_IN).count()
        open_sessions.update(ended_at=clock.now(), end_reason=reason)
        _record_end(pk, reason, signed_in, actor)
    return signed_in


def active(patron: Patron) -> list[PatronSession]:
    """The patron's signed-in sessions that have not ended or timed out, newest first."""
    now = clock.now()
    rows = PatronSession.objects.filter(
        patron=patron, ended_at__isnull=True, stage=PatronSession.Stage.SIGNED_IN
    ).select_related("patron")
    return [s for s in rows if not _expiry_reason(s, now)]
