"""Passkeys (WebAuthn): the phishing-resistant second factor for staff.

A passkey is bound by the browser to the site's origin, so a look-alike
site cannot relay it the way a typed TOTP code can be relayed. Shelfguard
stores only the credential id and public key (`models.Passkey`).

The relying party is the site the request came to (`webauthn_core`, shared
with patron passkeys in the portal: options, checks and the clone rule). User verification is
"preferred": the password has already been checked, and the passkey is the
second factor, so a security key without a PIN still serves.

Each ceremony's challenge is kept server-side in the session, under its own
kind ("register" or "authenticate"), for `CHALLENGE_TTL` and for one use:
it is taken out of the session before the answer is even looked at, so a
replayed answer finds no challenge.

Every registration, use, rename, refusal of a cloned authenticator and
removal is written to the access ledger; failures count towards the sign-in
throttle like wrong TOTP codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from shelfguard.accounts import mfa, throttle, webauthn_core
from shelfguard.accounts.models import Passkey, StaffUser
from shelfguard.accounts.services import staff_actor
from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core import clock
from shelfguard.ledger import services as ledger

# The ceremonies themselves are shared with patron passkeys (`webauthn_core`).
RelyingParty = webauthn_core.RelyingParty
CHALLENGE_TTL = webauthn_core.CHALLENGE_TTL
TIMEOUT_MS = webauthn_core.TIMEOUT_MS
NAME_MAX = webauthn_core.NAME_MAX
MAX_RESPONSE_CHARS = webauthn_core.MAX_RESPONSE_CHARS
MAX_PASSKEYS = 10
_STATE = "staff_passkey_challenge"

REGISTER = "register"
AUTHENTICATE = "authenticate"

REFUSED = gettext_lazy(
    "The passkey was not accepted. Try again, or use a code from your authenticator app."
)


class PasskeyError(Exception):
    """A passkey step refused; the message is safe to show and says nothing more."""

    def __init__(self, message: str, *, retry_after: int = 0):
        super().__init__(message)
        self.retry_after = retry_after


# --- challenges in the session ----------------------------------------------------------


def _store_challenge(
    state: MutableMapping, kind: str, staff: StaffUser, challenge: bytes, **extra: Any
) -> None:
    ceremonies = dict(state.get(_STATE) or {})
    ceremonies[kind] = {
        "challenge": webauthn_core.encode(challenge),
        "staff": staff.pk,
        "at": clock.now().isoformat(),
        **extra,
    }
    state[_STATE] = ceremonies


def _take_challenge(state: MutableMapping, kind: str, staff: StaffUser) -> dict | None:
    """The stored challenge of `kind` for `staff`, removed from the session (single use)."""
    ceremonies = dict(state.get(_STATE) or {})
    entry = ceremonies.pop(kind, None)
    state[_STATE] = ceremonies
    if not isinstance(entry, dict):
        return None
    try:
        started = dt.datetime.fromisoformat(entry["at"])
        staff_id = int(entry["staff"])
        entry["challenge_bytes"] = webauthn_core.decode(entry["challenge"])
    except (KeyError, TypeError, ValueError):
        return None
    if staff_id != staff.pk or not dt.timedelta(0) <= clock.now() - started <= CHALLENGE_TTL:
        return None
    return entry


def has_challenge(state: MutableMapping, kind: str) -> bool:
    return isinstance((state.get(_STATE) or {}).get(kind), dict)


def forget_challenges(state: MutableMapping) -> None:
    state.pop(_STATE, None)


def discard_challenge(state: MutableMapping, kind: str) -> None:
    """Drop the pending challenge of `kind` unused (an attempt failed before it was looked at)."""
    ceremonies = dict(state.get(_STATE) or {})
    if ceremonies.pop(kind, None) is not None:
        state[_STATE] = ceremonies


# --- helpers -----------------------------------------------------------------------------


def _user_handle(staff: StaffUser) -> bytes:
    # Stable per staff member (so an authenticator replaces, not adds, a
    # credential for them) and meaningless outside this site.
    return bytes.fromhex(keyed_hash("passkey-user-handle", str(staff.pk))[:32])


def _credential_ids(staff: StaffUser) -> list[str]:
    return list(
        Passkey.objects.filter(user=staff, confirmed=True).values_list("credential_id", flat=True)
    )


def clean_name(name: Any) -> str:
    return webauthn_core.clean_name(name, _("Passkey"))


def _throttled(staff: StaffUser, source: str) -> None:
    verdict = throttle.check(staff.username, source)
    if not verdict.allowed:
        raise _refusal(verdict)


def _refusal(verdict: throttle.Verdict | None = None) -> PasskeyError:
    from shelfguard.accounts.signin import _failure_message

    if verdict is None:
        return PasskeyError(str(REFUSED))
    return PasskeyError(str(_failure_message(verdict)), retry_after=verdict.retry_after)


def _fail(staff: StaffUser, source: str, channel: str) -> PasskeyError:
    verdict = throttle.failure(staff.username, source, channel=channel, subject=f"staff:{staff.pk}")
    if verdict.allowed:
        return _refusal()
    return _refusal(verdict)


# --- registration ------------------------------------------------------------------------


def begin_registration(staff: StaffUser, *, rp: RelyingParty, state: MutableMapping) -> str:
    """Registration options (JSON for `navigator.credentials.create`); challenge kept in `state`."""
    if Passkey.objects.filter(user=staff, confirmed=True).count() >= MAX_PASSKEYS:
        raise PasskeyError(
            _("You have %(n)d passkeys, the most allowed. Remove one first.") % {"n": MAX_PASSKEYS}
        )
    challenge = webauthn_core.new_challenge()
    options = webauthn_core.registration_options(
        rp=rp,
        challenge=challenge,
        user_handle=_user_handle(staff),
        user_name=staff.username,
        display_name=staff.username,
        exclude=_credential_ids(staff),
    )
    _store_challenge(state, REGISTER, staff, challenge, rp=rp.id, origin=rp.origin)
    return options


def finish_registration(
    staff: StaffUser,
    response: str,
    *,
    rp: RelyingParty,
    state: MutableMapping,
    name: str = "",
    source: str,
    channel: str = "web",
    purpose: str = "account security",
    first_factor: bool = False,
    then=None,
) -> Passkey:
    """Check the authenticator's answer and store the new passkey (confirmed).

    The challenge is used up whatever the outcome. A failure counts towards
    the throttle (recorded outside any transaction of ours, so that it is not
    rolled back with it). `then(passkey)` runs in the same transaction as the
    new row and its ledger entry, for a caller's further steps.
    """
    _throttled(staff, source)
    entry = _take_challenge(state, REGISTER, staff)
    verified = None
    if entry is not None and entry.get("rp") == rp.id and entry.get("origin") == rp.origin:
        verified = webauthn_core.verify_registration(
            response, challenge=entry["challenge_bytes"], rp=rp
        )
    if verified is None:
        raise _fail(staff, source, channel)
    credential_id = verified.credential_id
    with transaction.atomic():
        if Passkey.objects.filter(credential_id=credential_id).exists():
            # Already registered (to this or another account): never moved.
            passkey = None
        else:
            passkey = Passkey.objects.create(
                user=staff,
                name=clean_name(name),
                confirmed=True,
                credential_id=credential_id,
                public_key=verified.public_key,
                sign_count=verified.sign_count,
                aaguid=verified.aaguid,
                transports=verified.transports,
                backed_up=verified.backed_up,
                user_verified=verified.user_verified,
                created_at=clock.now(),
            )
            ledger.append(
                actor=staff_actor(staff, channel),
                action="accounts.passkey_register",
                purpose=purpose,
                detail={
                    "passkey": passkey.pk,
                    "first_factor": first_factor,
                    "user_verified": passkey.user_verified,
                    "backed_up": passkey.backed_up,
                },
            )
            if then is not None:
                then(passkey)
    if passkey is None:
        raise _fail(staff, source, channel)
    return passkey


# --- authentication ----------------------------------------------------------------------


def begin_authentication(staff: StaffUser, *, rp: RelyingParty, state: MutableMapping) -> str:
    """Assertion options (JSON for `navigator.credentials.get`) for `staff`'s passkeys."""
    allow = _credential_ids(staff)
    if not allow:
        raise PasskeyError(_("You have no passkey. Use a code from your authenticator app."))
    challenge = webauthn_core.new_challenge()
    options = webauthn_core.authentication_options(rp=rp, challenge=challenge, allow=allow)
    _store_challenge(state, AUTHENTICATE, staff, challenge, rp=rp.id, origin=rp.origin)
    return options


def finish_authentication(
    staff: StaffUser,
    response: str,
    *,
    rp: RelyingParty,
    state: MutableMapping,
    source: str,
    channel: str = "web",
    purpose: str = "sign-in",
) -> Passkey:
    """The passkey that answered the stored challenge for `staff`; PasskeyError otherwise.

    Refused: a missing, expired, used or other account's challenge; another
    origin or relying party id; a credential not registered to `staff`; a
    bad signature; a signature counter that did not grow (a cloned
    authenticator: recorded in the ledger for review).
    """
    _throttled(staff, source)
    entry = _take_challenge(state, AUTHENTICATE, staff)
    passkey = None
    clone = None
    if (
        staff.is_active
        and entry is not None
        and entry.get("rp") == rp.id
        and (entry.get("origin") == rp.origin)
    ):
        with transaction.atomic():
            try:
                credential, raw_id = webauthn_core.parse_assertion(response)
                candidate = (
                    Passkey.objects.select_for_update()
                    .filter(user=staff, confirmed=True, credential_id=raw_id)
                    .first()
                )
                if candidate is not None:
                    verified = webauthn_core.verify_assertion(
                        credential,
                        challenge=entry["challenge_bytes"],
                        rp=rp,
                        public_key=bytes(candidate.public_key),
                        sign_count=candidate.sign_count,
                    )
                    if verified.clone:
                        clone = candidate
                    else:
                        candidate.sign_count = verified.sign_count
                        candidate.backed_up = verified.backed_up
                        candidate.last_used_at = clock.now()
                        candidate.save(update_fields=["sign_count", "backed_up", "last_used_at"])
                        ledger.append(
                            actor=staff_actor(staff, channel),
                            action="accounts.passkey_use",
                            purpose=purpose,
                            detail={"passkey": candidate.pk},
                        )
                        passkey = candidate
            except webauthn_core.ANSWER_ERRORS:
                passkey = None
    if clone is not None:
        with transaction.atomic():
            ledger.append(
                actor=staff_actor(staff, channel),
                action="accounts.passkey_clone_suspected",
                purpose="security: authenticator counter did not increase",
                detail={"passkey": clone.pk, "review": True},
            )
    if passkey is None:
        raise _fail(staff, source, channel)
    throttle.success(staff.username)
    return passkey


# --- managing one's passkeys ----------------------------------------------------------------


def list_passkeys(staff: StaffUser) -> list[Passkey]:
    return list(Passkey.objects.filter(user=staff, confirmed=True))


def rename(staff: StaffUser, passkey_id: int, name: str, *, channel: str = "web") -> Passkey:
    """Give one of one's own passkeys a new label."""
    with transaction.atomic():
        passkey = Passkey.objects.select_for_update().filter(user=staff, pk=passkey_id).first()
        if passkey is None:
            raise PasskeyError(_("No such passkey."))
        passkey.name = clean_name(name)
        passkey.save(update_fields=["name"])
        ledger.append(
            actor=staff_actor(staff, channel),
            action="accounts.passkey_rename",
            purpose="account security",
            detail={"passkey": passkey.pk},
        )
    return passkey


def remove(
    staff: StaffUser,
    passkey_id: int,
    *,
    password: str,
    code: str = "",
    response: str = "",
    rp: RelyingParty | None = None,
    state: MutableMapping | None = None,
    source: str,
    channel: str = "web",
):
    """Remove one of one's own passkeys, after re-authenticating; returns the device
    that confirmed the re-authentication.

    Re-authentication is the password and a fresh second factor (a TOTP or
    recovery code, or a passkey answer). Refused if it is the staff member's
    last second factor: an account is never left without one.
    """
    from shelfguard.accounts import signin

    confirmed_by = signin.reauthenticate(
        staff,
        password,
        code,
        response=response,
        rp=rp,
        state=state,
        source=source,
        channel=channel,
    )
    with transaction.atomic():
        passkey = Passkey.objects.select_for_update().filter(user=staff, pk=passkey_id).first()
        if passkey is None:
            raise PasskeyError(_("No such passkey."))
        # Lock the staff row: two removals at once must not both see "one left".
        StaffUser.objects.select_for_update().filter(pk=staff.pk).first()
        if mfa.factor_count(staff) <= 1:
            raise PasskeyError(
                _(
                    "This is your only second factor. Add another passkey or an authenticator "
                    "app before removing it."
                )
            )
        passkey.delete()
        ledger.append(
            actor=staff_actor(staff, channel),
            action="accounts.passkey_remove",
            purpose="account security",
            detail={"passkey": passkey_id, "factors_left": mfa.factor_count(staff)},
        )
    return confirmed_by


def has_passkeys(staff: StaffUser) -> bool:
    return Passkey.objects.filter(user=staff, confirmed=True).exists()
