"""Patron passwords, authenticators (TOTP) and one-time set-password links.

The rules are the staff rules (`accounts.passwords`): NFKC, at least 15
characters without a second factor and 8 with one, no common passwords, and
never the card number (nor a password containing it). A self-check PIN is a
different secret, kept by `patrons`; it never opens the portal.

Sign-in failures are counted by `accounts.throttle` under an account key of
the "patron:" namespace, so staff and patron names never share a counter.
A card number that matches no patron is throttled and locked exactly like
a real one and costs one Argon2 check too, so nothing about the answer,
its delay or its timing says whether the card exists.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth.hashers import check_password as check_hash
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_otp.oath import TOTP

from shelfguard.accounts import passwords, throttle
from shelfguard.accounts.tokens import clean_code, keyed_hash, new_code
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons import services as patrons
from shelfguard.patrons import validation
from shelfguard.patrons.models import Patron, PatronStatus
from shelfguard.portal import config, sessions
from shelfguard.portal.models import (
    PasswordLink,
    PatronCredential,
    PatronPasskey,
    PatronSession,
)
from shelfguard.portal.sessions import patron_actor
from shelfguard.vault import sealing

TOTP_FIELD = "portal_totp"
TOTP_DIGITS = 6
TOTP_STEP = 30
TOTP_PENDING_TTL = dt.timedelta(minutes=15)
# Longer than any card number, so the form does not explain the card rules to a guesser.
CARD_INPUT_MAX = 64
SIGN_IN_PURPOSE = "sign-in"
SECURITY_PURPOSE = "account security"


class PortalError(Exception):
    """A refused request, with a message fit to show the patron (no personal values)."""


class SignInFailed(PortalError):
    """Sign-in or re-authentication refused; never says whether the card exists."""

    def __init__(self, message: str, *, retry_after: int = 0):
        super().__init__(message)
        self.retry_after = retry_after


GENERIC_FAILURE = gettext_lazy(
    "Sign-in failed: the card number, password or code is wrong, or this card cannot sign "
    "in to the portal now."
)

_DUMMY_HASH: list[str] = []


def _dummy_check(password: str) -> None:
    """One Argon2 check against a throw-away hash: a missing account costs a real one's time."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(make_password("not a real password, only for timing"))
    check_hash(passwords.normalise(password), _DUMMY_HASH[0])


# --- throttling -------------------------------------------------------------------


def card_key(card: object) -> str:
    """The card number as the throttle counts it (normalised when it is a valid one)."""
    text = str(card)[:CARD_INPUT_MAX]
    try:
        return validation.card_number(text)
    except validation.PatronError:
        return "".join(text.split()).upper()


def account_key(patron: Patron | None, card: str) -> str:
    """The throttle's account name: one counter per patron, or per unknown card number."""
    return f"patron:id:{patron.pk}" if patron is not None else f"patron:card:{card}"


def _failure_message(verdict: throttle.Verdict) -> SignInFailed:
    message = str(GENERIC_FAILURE)
    if verdict.retry_after:
        message += " " + ngettext(
            "Wait %(n)d second before trying again.",
            "Wait %(n)d seconds before trying again.",
            verdict.retry_after,
        ) % {"n": verdict.retry_after}
    return SignInFailed(message, retry_after=verdict.retry_after)


def _throttled(account: str, source: str) -> None:
    verdict = throttle.check(account, source)
    if not verdict.allowed:
        raise _failure_message(verdict)


def _fail(account: str, source: str, patron: Patron | None, step: str) -> SignInFailed:
    """Count the failure (lockout after the configured number) and record it in the ledger."""
    verdict = throttle.failure(
        account, source, channel="web", subject=f"patron:{patron.pk}" if patron else None
    )
    with transaction.atomic():
        ledger.append(
            actor=Actor.public("web"),
            action="portal.signin_failure",
            purpose=SIGN_IN_PURPOSE,
            patron_id=patron.pk if patron else None,
            detail={"step": step, "subject": "patron" if patron else "unknown-account"},
        )
    return _failure_message(verdict)


# --- credentials ------------------------------------------------------------------


def credential_of(patron: Patron) -> PatronCredential | None:
    return PatronCredential.objects.filter(patron=patron).first()


def has_password(patron: Patron) -> bool:
    found = credential_of(patron)
    return found is not None and found.has_password


def has_totp(patron: Patron) -> bool:
    found = credential_of(patron)
    return found is not None and found.has_totp


def has_second_factor(patron: Patron) -> bool:
    """An authenticator app or at least one passkey."""
    return has_totp(patron) or PatronPasskey.objects.filter(patron=patron).exists()


def _password_ok(credential: PatronCredential | None, password: object) -> bool:
    if not isinstance(password, str) or len(password) > passwords.MAX_LENGTH * 4:
        return False
    if credential is None or not credential.password_hash:
        _dummy_check(password)
        return False
    return check_hash(passwords.normalise(password), credential.password_hash)


def check_password(card: str, password: str, *, source: str) -> Patron:
    """The patron if card and password are right and the card is active; `SignInFailed` if not.

    The caller still asks for the second factor when the patron has one.
    """
    key = card_key(card)
    patron = patrons.find_by_card(key) if isinstance(card, str) else None
    account = account_key(patron, key)
    _throttled(account, source)
    credential = credential_of(patron) if patron is not None else None
    if not _password_ok(credential, password) or patron.status != PatronStatus.ACTIVE:
        raise _fail(account, source, patron, "password")
    return patron


def _verify_totp(credential: PatronCredential, patron: Patron, code: str, *, pending: bool) -> bool:
    """Check a code against the (pending or enrolled) secret; each time step works once."""
    token = "".join(str(code)[:64].split())
    if len(token) != TOTP_DIGITS or not token.isascii() or not token.isdigit():
        return False
    sealed = credential.totp_pending_sealed if pending else credential.totp_sealed
    if sealed is None:
        return False
    secret = _unseal_secret(patron, bytes(sealed))
    totp = TOTP(_key_bytes(secret), TOTP_STEP, 0, TOTP_DIGITS, 0)
    totp.time = clock.now().timestamp()
    if not totp.verify(int(token), 1, credential.totp_last_t + 1):
        return False
    credential.totp_last_t = totp.t()
    credential.save(update_fields=["totp_last_t"])
    return True


def check_second_factor(patron: Patron, code: str, *, source: str) -> None:
    """Accept a fresh authenticator code of the patron's, or raise `SignInFailed`."""
    account = account_key(patron, "")
    _throttled(account, source)
    with transaction.atomic():
        credential = PatronCredential.objects.select_for_update().filter(patron=patron).first()
        ok = (
            credential is not None
            and credential.has_totp
            and patron.status == PatronStatus.ACTIVE
            and _verify_totp(credential, patron, code, pending=False)
        )
    if not ok:
        raise _fail(account, source, patron, "second-factor")
    throttle.success(account)


def reauthenticate(patron: Patron, password: str, code: str = "", *, source: str) -> None:
    """Ask again for the password (and a fresh code when enrolled) before a security change."""
    account = account_key(patron, "")
    _throttled(account, source)
    if not _password_ok(credential_of(patron), password):
        raise _fail(account, source, patron, "re-authentication")
    if has_totp(patron):
        check_second_factor(patron, code, source=source)
    else:
        throttle.success(account)


# --- sign-in ----------------------------------------------------------------------


def begin_sign_in(
    patron: Patron, *, public: bool, client: str, source: str = ""
) -> tuple[PatronSession, str]:
    """After the password: a signed-in session, or a pending one when a second factor
    (authenticator code or passkey) is due next."""
    with transaction.atomic():
        if has_second_factor(patron):
            return sessions.start(patron, public=public, client=client, pending=True)
        throttle.success(account_key(patron, ""))
        session, token = sessions.start(patron, public=public, client=client)
        _record_sign_in(session, second_factor=False)
    return session, token


def finish_sign_in(session: PatronSession, code: str, *, source: str) -> str:
    """Second step: the code, then the pending session becomes a signed-in one (new token)."""
    check_second_factor(session.patron, code, source=source)
    with transaction.atomic():
        token = sessions.promote(session)
        _record_sign_in(session, second_factor=True)
    return token


def _record_sign_in(session: PatronSession, *, second_factor: bool) -> None:
    ledger.append(
        actor=patron_actor(session.patron_id),
        action="portal.signin",
        purpose=SIGN_IN_PURPOSE,
        patron_id=session.patron_id,
        detail={"public_computer": session.public, "second_factor": second_factor},
    )


# --- passwords --------------------------------------------------------------------


def _card_of(patron: Patron, actor: Actor) -> str:
    values = patrons.reveal(
        patron, ["card_number"], actor=actor, purpose="password rules: not the card number"
    )
    return values["card_number"] or ""


def password_problems(
    patron: Patron, new: str, again: str | None, *, actor: Actor, second_factor: bool
) -> list[str]:
    """Why this new password is refused (the staff rules, plus never the card number)."""
    card = _card_of(patron, actor)
    reasons = passwords.problems(new, second_factor=second_factor)
    if isinstance(new, str) and card:
        squeezed = "".join(passwords.normalise(new).split()).upper()
        if card in squeezed:
            reasons.append(_("A password must not be or contain your card number."))
    if again is not None and new != again:
        reasons.append(_("The two passwords differ."))
    return reasons


def _store_password(patron: Patron, new: str) -> None:
    credential, _created = PatronCredential.objects.select_for_update().get_or_create(patron=patron)
    credential.password_hash = make_password(passwords.normalise(new))
    credential.password_set_at = clock.now()
    credential.save(update_fields=["password_hash", "password_set_at"])


def set_password(
    patron: Patron,
    new: str,
    again: str | None = None,
    *,
    actor: Actor,
    purpose: str,
    remove_totp: bool = False,
) -> int:
    """Set a patron's portal password (operator or one-time link); ends all their sessions.

    With `remove_totp` (a lost phone) the authenticator is turned off and the
    patron's passkeys are removed in the same transaction, and the password
    must then be long enough on its own.
    Returns how many sessions ended. Refused values raise `PortalError` with
    every reason; an erased patron raises `patrons.PatronErased`.
    """
    keeps_factor = not remove_totp and has_second_factor(patron)
    reasons = password_problems(patron, new, again, actor=actor, second_factor=keeps_factor)
    if reasons:
        raise PortalError(" ".join(reasons))
    with transaction.atomic():
        _store_password(patron, new)
        removed = remove_totp and has_totp(patron)
        passkeys_removed = 0
        if remove_totp:
            _clear_totp(patron)
            # A lost phone usually held the passkey too: every second factor goes.
            passkeys_removed, _rows = PatronPasskey.objects.filter(patron=patron).delete()
        ended = sessions.end_all_but(patron, None, sessions.PASSWORD_CHANGED, actor)
        ledger.append(
            actor=actor,
            action="portal.password_set",
            purpose=purpose,
            patron_id=patron.pk,
            detail={
                "sessions_ended": ended,
                "authenticator_removed": removed,
                "passkeys_removed": passkeys_removed,
            },
        )
    return ended


def change_password(
    patron: Patron,
    *,
    current: str,
    new: str,
    again: str,
    code: str = "",
    keep: PatronSession,
    source: str,
) -> int:
    """Change one's own password after re-authenticating; ends every other session."""
    actor = patron_actor(patron)
    reasons = password_problems(
        patron, new, again, actor=actor, second_factor=has_second_factor(patron)
    )
    if reasons:
        raise PortalError(" ".join(reasons))
    reauthenticate(patron, current, code, source=source)
    with transaction.atomic():
        _store_password(patron, new)
        ended = sessions.end_all_but(patron, keep, sessions.PASSWORD_CHANGED)
        ledger.append(
            actor=actor,
            action="portal.password_change",
            purpose=SECURITY_PURPOSE,
            patron_id=patron.pk,
            detail={"sessions_ended": ended},
        )
    return ended


# --- one-time set-password links --------------------------------------------------


def _link_hash(token: str) -> str:
    return keyed_hash("portal-password-link", clean_code(token))


def create_password_link(
    patron: Patron,
    *,
    actor: Actor,
    purpose: str = "portal password link",
    remove_totp: bool = False,
) -> tuple[str, dt.datetime]:
    """A new one-time link token (shown once; earlier unused links stop working) and expiry.

    With `remove_totp` (the patron lost their phone; the desk checked who they
    are) using the link also turns the authenticator off and removes the passkeys.
    """
    if patron.status != PatronStatus.ACTIVE:
        raise PortalError(
            _("Only an active card can have a portal password; this one is %(status)s.")
            % {"status": patron.status}
        )
    token = new_code(groups=5)
    now = clock.now()
    expires = now + config.link_lifetime()
    with transaction.atomic():
        PasswordLink.objects.filter(patron=patron, used_at__isnull=True).delete()
        PasswordLink.objects.create(
            patron=patron,
            token_hash=_link_hash(token),
            created_at=now,
            expires_at=expires,
            removes_totp=remove_totp,
        )
        ledger.append(
            actor=actor,
            action="portal.password_link",
            purpose=purpose,
            patron_id=patron.pk,
            detail={"hours": config.value("link_hours"), "removes_authenticator": remove_totp},
        )
    return token, expires


def open_link(token: str) -> PasswordLink | None:
    """The unused, unexpired link for this token, if any."""
    if not isinstance(token, str) or len(token) > 64:
        return None
    return (
        PasswordLink.objects.select_related("patron")
        .filter(
            token_hash=_link_hash(token),
            used_at__isnull=True,
            expires_at__gt=clock.now(),
            patron__status=PatronStatus.ACTIVE,
        )
        .first()
    )


def use_link(token: str, new: str, again: str) -> Patron:
    """Set the password through a one-time link; the link then stops working."""
    link = open_link(token)
    if link is None:
        raise PortalError(_("This link is not valid any more. Ask at the library for a new one."))
    patron = link.patron
    with transaction.atomic():
        # Claimed first, by a conditional update: of two submissions racing
        # for one link, the second finds it used. A refused password rolls
        # the claim back with everything else.
        claimed = PasswordLink.objects.filter(pk=link.pk, used_at__isnull=True).update(
            used_at=clock.now()
        )
        if not claimed:
            raise PortalError(_("This link has already been used."))
        set_password(
            patron,
            new,
            again,
            actor=patron_actor(patron),
            purpose=SECURITY_PURPOSE,
            remove_totp=link.removes_totp,
        )
    return patron


# --- authenticator (TOTP) ---------------------------------------------------------


def _owner(patron: Patron) -> str:
    return f"patron:{patron.pk}"


def _seal_secret(patron: Patron, secret: str) -> bytes:
    return sealing.open_key(patron.key_id).seal(_owner(patron), TOTP_FIELD, secret)


def _unseal_secret(patron: Patron, sealed: bytes) -> str:
    return sealing.open_key(patron.key_id).unseal(_owner(patron), TOTP_FIELD, sealed)


def _key_bytes(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def otpauth_uri(secret: str) -> str:
    """The otpauth:// address for authenticator apps; labelled with the library, not the card."""
    issuer = str(settings.LIBRARY_NAME).replace(":", "")
    params = urlencode(
        {"secret": secret, "algorithm": "SHA1", "digits": TOTP_DIGITS, "period": TOTP_STEP}
    )
    label = f"{quote(issuer)}:{quote(_('Library account'))}"
    return f"otpauth://totp/{label}?{params}&issuer={quote(issuer)}"


def start_totp(patron: Patron, *, password: str, source: str) -> str:
    """After re-authenticating: a new secret (base32) waiting to be confirmed with a code.

    Refused while an authenticator is on: replacing it needs a code from it,
    so it is turned off first (password and code), then set up again.
    """
    if has_totp(patron):
        raise PortalError(_("Your authenticator app is already on. Turn it off first."))
    reauthenticate(patron, password, source=source)
    secret = base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")
    with transaction.atomic():
        credential, _created = PatronCredential.objects.select_for_update().get_or_create(
            patron=patron
        )
        credential.totp_pending_sealed = _seal_secret(patron, secret)
        credential.totp_pending_at = clock.now()
        credential.save(update_fields=["totp_pending_sealed", "totp_pending_at"])
    return secret


def pending_totp(patron: Patron) -> str | None:
    """The secret being set up (to show it again), if it is still fresh."""
    credential = credential_of(patron)
    if (
        credential is None
        or credential.totp_pending_sealed is None
        or credential.totp_pending_at is None
        or clock.now() - credential.totp_pending_at > TOTP_PENDING_TTL
    ):
        return None
    return _unseal_secret(patron, bytes(credential.totp_pending_sealed))


def confirm_totp(patron: Patron, code: str, *, keep: PatronSession, source: str) -> int:
    """Turn the authenticator on with a code from it; ends the patron's other sessions."""
    account = account_key(patron, "")
    _throttled(account, source)
    ok = False
    with transaction.atomic():
        credential = PatronCredential.objects.select_for_update().filter(patron=patron).first()
        if (
            credential is not None
            and credential.totp_pending_at is not None
            and clock.now() - credential.totp_pending_at <= TOTP_PENDING_TTL
        ):
            credential.totp_last_t = -1
            ok = _verify_totp(credential, patron, code, pending=True)
        if ok:
            credential.totp_sealed = credential.totp_pending_sealed
            credential.totp_pending_sealed = None
            credential.totp_pending_at = None
            credential.totp_enabled_at = clock.now()
            credential.save(
                update_fields=[
                    "totp_sealed",
                    "totp_pending_sealed",
                    "totp_pending_at",
                    "totp_enabled_at",
                ]
            )
            ended = sessions.end_all_but(patron, keep, sessions.FACTOR_CHANGED)
            ledger.append(
                actor=patron_actor(patron),
                action="portal.totp_on",
                purpose=SECURITY_PURPOSE,
                patron_id=patron.pk,
                detail={"sessions_ended": ended},
            )
    if not ok:
        raise _fail(account, source, patron, "authenticator-setup")
    throttle.success(account)
    return ended


def disable_totp(
    patron: Patron, *, password: str, code: str, keep: PatronSession, source: str
) -> int:
    """Turn the authenticator off after the password and a fresh code; ends other sessions.

    Without a second factor (no passkey either) the password must be long
    enough on its own (15 characters): a short one is refused here, with the reason.
    """
    reauthenticate(patron, password, code, source=source)
    keeps_passkey = PatronPasskey.objects.filter(patron=patron).exists()
    reasons = [] if keeps_passkey else passwords.problems(password, second_factor=False)
    if reasons:
        raise PortalError(
            _("Without an authenticator your password must be stronger. Change it first:")
            + " "
            + " ".join(reasons)
        )
    with transaction.atomic():
        _clear_totp(patron)
        ended = sessions.end_all_but(patron, keep, sessions.FACTOR_CHANGED)
        ledger.append(
            actor=patron_actor(patron),
            action="portal.totp_off",
            purpose=SECURITY_PURPOSE,
            patron_id=patron.pk,
            detail={"sessions_ended": ended},
        )
    return ended


def _clear_totp(patron: Patron) -> None:
    PatronCredential.objects.filter(patron=patron).update(
        totp_sealed=None, totp_enabled_at=None, totp_pending_sealed=None, totp_pending_at=None
    )


def forget(patron: Patron) -> None:
    """Remove everything the portal keeps about a patron (called when they are erased)."""
    PatronCredential.objects.filter(patron=patron).delete()
    PatronPasskey.objects.filter(patron=patron).delete()
    PatronSession.objects.filter(patron=patron).delete()
    PasswordLink.objects.filter(patron=patron).delete()
