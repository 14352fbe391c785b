"""Patron passkeys (WebAuthn): an optional second factor for the portal, instead of a code.

The ceremonies are the staff ones (`accounts.webauthn_core`: options, checks,
the relying party from the request, the clone rule); what differs is where
things are kept. The portal has no Django session, so the pending challenge
lives on the patron's own `PatronSession` row (the pending one during
sign-in, the signed-in one on the security page): one challenge at a time,
for `CHALLENGE_TTL`, bound to the site it was made for, and taken out
(single use) before any answer is looked at.

Failures count under the portal's own throttle key for the patron
(`credentials.account_key`) and are written to the ledger like every other
failed step. Adding, using, renaming and removing a passkey are written to
the ledger with the passkey's row id only (channel "web"): never the
credential id or key.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from shelfguard.accounts import passwords, throttle, webauthn_core
from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core import clock
from shelfguard.ledger import services as ledger
from shelfguard.patrons.models import Patron, PatronStatus
from shelfguard.portal import sessions
from shelfguard.portal.credentials import (
    SECURITY_PURPOSE,
    SIGN_IN_PURPOSE,
    PortalError,
    _fail,
    _record_sign_in,
    _throttled,
    account_key,
    has_totp,
    reauthenticate,
)
from shelfguard.portal.models import PatronPasskey, PatronSession
from shelfguard.portal.sessions import patron_actor

RelyingParty = webauthn_core.RelyingParty
CHALLENGE_TTL = webauthn_core.CHALLENGE_TTL
MAX_PASSKEYS = 10
REGISTER = "register"
AUTHENTICATE = "authenticate"

DEFAULT_NAME = gettext_lazy("Passkey")


# --- the challenge, kept on the portal session --------------------------------------------


def _store_challenge(
    session: PatronSession, kind: str, challenge: bytes, rp: webauthn_core.RelyingParty
) -> None:
    session.webauthn_kind = kind
    session.webauthn_challenge = webauthn_core.encode(challenge)
    session.webauthn_origin = f"{rp.id} {rp.origin}"
    session.webauthn_at = clock.now()
    session.save(
        update_fields=["webauthn_kind", "webauthn_challenge", "webauthn_origin", "webauthn_at"]
    )


def take_challenge(
    session: PatronSession, kind: str, rp: webauthn_core.RelyingParty
) -> bytes | None:
    """The session's pending challenge of `kind` for this site, removed whatever it holds.

    Committed on its own (never rolled back with a failure), so a replayed
    answer finds no challenge.
    """
    with transaction.atomic():
        row = PatronSession.objects.select_for_update().filter(pk=session.pk).first()
        if row is None:
            return None
        kind_was, value, bound, at = (
            row.webauthn_kind,
            row.webauthn_challenge,
            row.webauthn_origin,
            row.webauthn_at,
        )
        if not (kind_was or value or at):
            return None
        PatronSession.objects.filter(pk=row.pk).update(
            webauthn_kind="", webauthn_challenge="", webauthn_origin="", webauthn_at=None
        )
    for name in ("webauthn_kind", "webauthn_challenge", "webauthn_origin"):
        setattr(session, name, "")
    session.webauthn_at = None
    if (
        kind_was != kind
        or at is None
        or bound != f"{rp.id} {rp.origin}"
        or not dt.timedelta(0) <= clock.now() - at <= CHALLENGE_TTL
    ):
        return None
    try:
        return webauthn_core.decode(value)
    except (ValueError, TypeError):
        return None


def discard_challenge(session: PatronSession) -> None:
    PatronSession.objects.filter(pk=session.pk).update(
        webauthn_kind="", webauthn_challenge="", webauthn_origin="", webauthn_at=None
    )


# --- reading ----------------------------------------------------------------------------


def list_passkeys(patron: Patron) -> list[PatronPasskey]:
    return list(PatronPasskey.objects.filter(patron=patron))


def has_passkeys(patron: Patron) -> bool:
    return PatronPasskey.objects.filter(patron=patron).exists()


def _credential_ids(patron: Patron) -> list[str]:
    return list(PatronPasskey.objects.filter(patron=patron).values_list("credential_id", flat=True))


def _user_handle(patron: Patron) -> bytes:
    # Stable per patron and meaningless elsewhere: never the card number or row id.
    return bytes.fromhex(keyed_hash("portal-passkey-user-handle", str(patron.pk))[:32])


def clean_name(name: Any) -> str:
    return webauthn_core.clean_name(name, str(DEFAULT_NAME))


# --- authentication (sign-in's second step, and re-authentication) ----------------------------


def begin_authentication(
    patron: Patron, session: PatronSession, *, rp: webauthn_core.RelyingParty
) -> str:
    """Assertion options for the patron's passkeys; the challenge is kept on `session`."""
    allow = _credential_ids(patron)
    if not allow:
        raise PortalError(_("You have no passkey."))
    challenge = webauthn_core.new_challenge()
    _store_challenge(session, AUTHENTICATE, challenge, rp)
    return webauthn_core.authentication_options(rp=rp, challenge=challenge, allow=allow)


def verify_authentication(
    patron: Patron,
    session: PatronSession,
    response: str,
    *,
    rp: webauthn_core.RelyingParty,
    source: str,
    purpose: str,
    step: str,
) -> PatronPasskey:
    """The patron's passkey that answered the session's challenge; `SignInFailed` otherwise.

    Refused: no, an expired, a used or another kind of challenge; another
    site; a credential that is not this patron's; a bad signature; a counter
    that did not grow (a cloned authenticator, recorded for review).
    """
    account = account_key(patron, "")
    _throttled(account, source)
    challenge = take_challenge(session, AUTHENTICATE, rp)
    passkey = clone = None
    if challenge is not None and patron.status == PatronStatus.ACTIVE:
        with transaction.atomic():
            try:
                credential, raw_id = webauthn_core.parse_assertion(response)
                candidate = (
                    PatronPasskey.objects.select_for_update()
                    .filter(patron=patron, credential_id=raw_id)
                    .first()
                )
                if candidate is not None:
                    checked = webauthn_core.verify_assertion(
                        credential,
                        challenge=challenge,
                        rp=rp,
                        public_key=bytes(candidate.public_key),
                        sign_count=candidate.sign_count,
                    )
                    if checked.clone:
                        clone = candidate
                    else:
                        candidate.sign_count = checked.sign_count
                        candidate.last_used_at = clock.now()
                        candidate.save(update_fields=["sign_count", "last_used_at"])
                        ledger.append(
                            actor=patron_actor(patron),
                            action="portal.passkey_use",
                            purpose=purpose,
                            patron_id=patron.pk,
                            detail={"passkey": candidate.pk},
                        )
                        passkey = candidate
            except webauthn_core.ANSWER_ERRORS:
                passkey = None
    if clone is not None:
        with transaction.atomic():
            ledger.append(
                actor=patron_actor(patron),
                action="portal.passkey_clone_suspected",
                purpose="security: authenticator counter did not increase",
                patron_id=patron.pk,
                detail={"passkey": clone.pk, "review": True},
            )
    if passkey is None:
        raise _fail(account, source, patron, step)
    return passkey


def finish_sign_in(
    session: PatronSession, response: str, *, rp: webauthn_core.RelyingParty, source: str
) -> str:
    """Second step with a passkey: the pending session becomes a signed-in one (new token)."""
    patron = session.patron
    verify_authentication(
        patron,
        session,
        response,
        rp=rp,
        source=source,
        purpose=SIGN_IN_PURPOSE,
        step="second-factor",
    )
    throttle.success(account_key(patron, ""))
    with transaction.atomic():
        token = sessions.promote(session)
        _record_sign_in(session, second_factor=True)
    return token


# --- registration ------------------------------------------------------------------------


def begin_registration(
    patron: Patron,
    session: PatronSession,
    *,
    password: str,
    code: str = "",
    rp: webauthn_core.RelyingParty,
    source: str,
) -> str:
    """After re-authenticating: registration options; the challenge is kept on `session`."""
    if PatronPasskey.objects.filter(patron=patron).count() >= MAX_PASSKEYS:
        raise PortalError(
            _("You have %(n)d passkeys, the most allowed. Remove one first.") % {"n": MAX_PASSKEYS}
        )
    reauthenticate(patron, password, code, source=source)
    challenge = webauthn_core.new_challenge()
    _store_challenge(session, REGISTER, challenge, rp)
    return webauthn_core.registration_options(
        rp=rp,
        challenge=challenge,
        user_handle=_user_handle(patron),
        user_name=str(_("Library account")),
        display_name=str(_("Library account")),
        exclude=_credential_ids(patron),
    )


def finish_registration(
    patron: Patron,
    session: PatronSession,
    response: str,
    *,
    name: str = "",
    rp: webauthn_core.RelyingParty,
    source: str,
) -> tuple[PatronPasskey, int]:
    """Store the new passkey (the challenge was issued only after re-authentication).

    Ends the patron's other sessions, as any change of sign-in settings
    does; returns the passkey and how many sessions ended.
    """
    account = account_key(patron, "")
    _throttled(account, source)
    challenge = take_challenge(session, REGISTER, rp)
    verified = None
    if challenge is not None:
        verified = webauthn_core.verify_registration(response, challenge=challenge, rp=rp)
    passkey = None
    if verified is not None:
        with transaction.atomic():
            # A credential already registered (to anyone) is never moved.
            if not PatronPasskey.objects.filter(credential_id=verified.credential_id).exists():
                passkey = PatronPasskey.objects.create(
                    patron=patron,
                    credential_id=verified.credential_id,
                    public_key=verified.public_key,
                    sign_count=verified.sign_count,
                    name=clean_name(name),
                    created_at=clock.now(),
                )
                ended = sessions.end_all_but(patron, session, sessions.FACTOR_CHANGED)
                ledger.append(
                    actor=patron_actor(patron),
                    action="portal.passkey_add",
                    purpose=SECURITY_PURPOSE,
                    patron_id=patron.pk,
                    detail={
                        "passkey": passkey.pk,
                        "user_verified": verified.user_verified,
                        "sessions_ended": ended,
                    },
                )
    if passkey is None:
        raise _fail(account, source, patron, "passkey-setup")
    throttle.success(account)
    return passkey, ended


# --- managing one's passkeys ----------------------------------------------------------------


def rename(
    patron: Patron,
    passkey_id: int,
    name: str,
    *,
    password: str,
    code: str = "",
    source: str,
) -> PatronPasskey:
    """Give one of one's own passkeys a new label, after re-authenticating."""
    if not PatronPasskey.objects.filter(patron=patron, pk=passkey_id).exists():
        raise PortalError(_("No such passkey."))
    reauthenticate(patron, password, code, source=source)
    with transaction.atomic():
        passkey = (
            PatronPasskey.objects.select_for_update().filter(patron=patron, pk=passkey_id).first()
        )
        if passkey is None:
            raise PortalError(_("No such passkey."))
        passkey.name = clean_name(name)
        passkey.save(update_fields=["name"])
        ledger.append(
            actor=patron_actor(patron),
            action="portal.passkey_rename",
            purpose=SECURITY_PURPOSE,
            patron_id=patron.pk,
            detail={"passkey": passkey.pk},
        )
    return passkey


def remove(
    patron: Patron,
    passkey_id: int,
    *,
    password: str,
    code: str = "",
    session: PatronSession,
    source: str,
) -> int:
    """Remove one of one's own passkeys after re-authenticating; ends the other sessions.

    When it is the patron's only second factor (no authenticator app, no
    other passkey), the password must be long enough to stand alone, as when
    the authenticator app is turned off: a short one is refused, with the reason.
    """
    if not PatronPasskey.objects.filter(patron=patron, pk=passkey_id).exists():
        raise PortalError(_("No such passkey."))
    reauthenticate(patron, password, code, source=source)
    with transaction.atomic():
        # Lock the patron's passkeys: two removals at once must not both see "another left".
        rows = list(PatronPasskey.objects.select_for_update().filter(patron=patron))
        passkey = next((p for p in rows if p.pk == passkey_id), None)
        if passkey is None:
            raise PortalError(_("No such passkey."))
        if len(rows) == 1 and not has_totp(patron):
            reasons = passwords.problems(password, second_factor=False)
            if reasons:
                raise PortalError(
                    _(
                        "This passkey is your only second factor. Without it your password "
                        "must be stronger. Change it first:"
                    )
                    + " "
                    + " ".join(reasons)
                )
        passkey.delete()
        ended = sessions.end_all_but(patron, session, sessions.FACTOR_CHANGED)
        ledger.append(
            actor=patron_actor(patron),
            action="portal.passkey_remove",
            purpose=SECURITY_PURPOSE,
            patron_id=patron.pk,
            detail={"passkey": passkey_id, "passkeys_left": len(rows) - 1, "sessions_ended": ended},
        )
    return ended
