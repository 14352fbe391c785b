"""Sign-in: password, second factor, enrolment and re-authentication, all throttled.

Every failure answers with the same message whether or not the account
exists, and is counted per account name and per source by `throttle`
before any password is looked at. Attempted passwords are never stored.
"""

from __future__ import annotations

from django.contrib.auth.hashers import check_password as _check_hash
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice

from shelfguard.accounts import mfa, passwords, sessions, throttle, usernames
from shelfguard.accounts.models import EnrolmentCode, StaffUser
from shelfguard.accounts.services import AccountError, staff_actor
from shelfguard.accounts.tokens import clean_code, keyed_hash
from shelfguard.core import clock
from shelfguard.ledger import services as ledger


class SignInFailed(Exception):
    """Sign-in refused. The message never says whether the account exists."""

    def __init__(self, message: str, *, retry_after: int = 0):
        super().__init__(message)
        self.retry_after = retry_after


GENERIC_FAILURE = gettext_lazy(
    "Sign-in failed: the username, password or code is wrong, or this account cannot sign in now."
)

# Checked against when no account matches, so a wrong name costs as long as a
# wrong password and timing does not tell whether the account exists.
_DUMMY_HASH: list[str] = []


def _dummy_check(password: str) -> None:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(make_password("not a real password, only for timing"))
    _check_hash(password, _DUMMY_HASH[0])


def _failure_message(verdict: throttle.Verdict) -> SignInFailed:
    if verdict.retry_after:
        return SignInFailed(
            str(GENERIC_FAILURE)
            + " "
            + ngettext(
                "Wait %(n)d second before trying again.",
                "Wait %(n)d seconds before trying again.",
                verdict.retry_after,
            )
            % {"n": verdict.retry_after},
            retry_after=verdict.retry_after,
        )
    return SignInFailed(str(GENERIC_FAILURE))


def _account_key(username: str) -> str:
    try:
        return usernames.normalise(username)
    except usernames.UsernameError:
        return str(username)[:256].casefold()


def _throttled(account: str, source: str) -> None:
    verdict = throttle.check(account, source)
    if not verdict.allowed:
        raise _failure_message(verdict)


def _fail(account: str, source: str, staff: StaffUser | None, channel: str) -> SignInFailed:
    verdict = throttle.failure(
        account, source, channel=channel, subject=f"staff:{staff.pk}" if staff else None
    )
    return _failure_message(verdict)


def check_password(username: str, password: str, *, source: str, channel: str = "web") -> StaffUser:
    """The staff member if the password is right; `SignInFailed` otherwise.

    Throttled per account name and per source before the password is even
    looked at. The caller still needs the second factor before signing in.
    """
    account = _account_key(username)
    _throttled(account, source)
    if not isinstance(password, str) or len(password) > passwords.MAX_LENGTH * 4:
        raise _fail(account, source, None, channel)
    staff = StaffUser.objects.filter(username=account).first()
    if staff is None or not staff.has_usable_password():
        _dummy_check(password)
        raise _fail(account, source, staff, channel)
    if not staff.check_password(password) or not staff.is_active:
        raise _fail(account, source, staff, channel)
    return staff


def check_second_factor(
    staff: StaffUser, code: str, *, source: str, channel: str = "web"
) -> Device:
    """The device that accepted `code` (an authenticator code or a recovery code).

    A used recovery code is deleted and its use recorded in one transaction.
    """
    account = staff.username
    _throttled(account, source)
    device = None
    if staff.is_active:
        with transaction.atomic():
            device = mfa.verify_totp(staff, code) or mfa.use_recovery_code(staff, code)
            if isinstance(device, StaticDevice):
                ledger.append(
                    actor=staff_actor(staff, channel),
                    action="accounts.recovery_code_use",
                    purpose="sign-in",
                    detail={"left": mfa.recovery_codes_left(staff)},
                )
    if device is None:
        raise _fail(account, source, staff, channel)
    throttle.success(account)
    return device


def start_enrolment(
    username: str,
    code: str,
    password: str,
    password_again: str,
    *,
    source: str,
    channel: str = "web",
) -> StaffUser:
    """Check an enrolment code (and set or check the password) before adding a factor.

    Refused, like a failed sign-in, for an unknown name, a wrong, used or
    expired code, or a staff member who already has a second factor (a new
    factor then needs an administrator, so a stolen password alone never
    replaces one).
    """
    account = _account_key(username)
    _throttled(account, source)
    staff = StaffUser.objects.filter(username=account, is_active=True).first()
    now = clock.now()
    entry = None
    if staff is not None:
        entry = EnrolmentCode.objects.filter(
            staff=staff,
            code_hash=keyed_hash("enrolment-code", clean_code(code)),
            used_at__isnull=True,
            expires_at__gt=now,
        ).first()
    if staff is None or entry is None or mfa.has_second_factor(staff):
        _dummy_check(password)
        raise _fail(account, source, staff, channel)
    if staff.has_usable_password():
        if not staff.check_password(password):
            raise _fail(account, source, staff, channel)
    else:
        reasons = passwords.problems(password, second_factor=True, username=staff.username)
        if password != password_again:
            reasons.append(_("The two passwords differ."))
        if reasons:
            raise AccountError(" ".join(reasons))
        staff.set_password(password)
        staff.save(update_fields=["password"])
    return staff


def finish_enrolment(staff: StaffUser, token: str, *, source: str, channel: str = "web"):
    """Confirm the new authenticator with a code from it; returns (device, recovery codes)."""
    account = staff.username
    _throttled(account, source)
    # The failure is recorded outside the transaction: raising inside it would
    # roll the throttle's count back along with everything else.
    with transaction.atomic():
        device = mfa.confirm_totp(staff, token)
        if device is not None:
            EnrolmentCode.objects.filter(staff=staff, used_at__isnull=True).update(
                used_at=clock.now()
            )
            codes = mfa.new_recovery_codes(staff)
            ledger.append(
                actor=staff_actor(staff, channel),
                action="accounts.mfa_enrol",
                purpose="sign-in",
                detail={"kind": "totp"},
            )
    if device is None:
        raise _fail(account, source, staff, channel)
    throttle.success(account)
    return device, codes


def finish_passkey_enrolment(
    staff: StaffUser,
    response: str,
    *,
    rp,
    state,
    name: str = "",
    source: str,
    channel: str = "web",
):
    """Enrol a passkey as the first factor; returns (passkey, recovery codes).

    Only for a staff member part-way through enrolment (`start_enrolment`
    checked the one-time code and the password). The code is used up, any
    pending authenticator app is dropped, and recovery codes are issued, in
    one transaction with the ledger entries.
    """
    from shelfguard.accounts import passkeys

    account = staff.username
    _throttled(account, source)
    if (
        mfa.has_second_factor(staff)
        or not EnrolmentCode.objects.filter(
            staff=staff, used_at__isnull=True, expires_at__gt=clock.now()
        ).exists()
    ):
        passkeys.forget_challenges(state)
        raise _fail(account, source, staff, channel)
    codes: list[str] = []

    def enrolled(passkey) -> None:
        EnrolmentCode.objects.filter(staff=staff, used_at__isnull=True).update(used_at=clock.now())
        mfa.remove_pending_totp(staff)
        codes.extend(mfa.new_recovery_codes(staff))
        ledger.append(
            actor=staff_actor(staff, channel),
            action="accounts.mfa_enrol",
            purpose="sign-in",
            detail={"kind": "passkey"},
        )

    try:
        passkey = passkeys.finish_registration(
            staff,
            response,
            rp=rp,
            state=state,
            name=name,
            source=source,
            channel=channel,
            purpose="sign-in",
            first_factor=True,
            then=enrolled,
        )
    except passkeys.PasskeyError as exc:
        raise SignInFailed(str(exc), retry_after=exc.retry_after) from None
    throttle.success(account)
    return passkey, codes


def reauthenticate(
    staff: StaffUser,
    password: str,
    code: str,
    *,
    source: str,
    channel: str = "web",
    response: str = "",
    rp=None,
    state=None,
) -> Device:
    """Ask again for the password and a fresh second factor before a security change.

    The factor is a code (authenticator app or recovery code) or, when
    `response` is given with the relying party `rp` and the session `state`
    holding the challenge, a passkey's answer. A session left open on a desk
    computer is then not enough to change the password, the recovery codes
    or the passkeys. Failures count like failed sign-ins. Returns the device
    (authenticator, recovery codes or passkey) that confirmed it.
    """
    from shelfguard.accounts import passkeys

    account = staff.username
    _throttled(account, source)
    if (
        not isinstance(password, str)
        or len(password) > passwords.MAX_LENGTH * 4
        or not staff.check_password(password)
    ):
        if response and state is not None:
            # A challenge serves one attempt, whatever fails first.
            passkeys.discard_challenge(state, passkeys.AUTHENTICATE)
        raise _fail(account, source, staff, channel)
    if response and rp is not None and state is not None:
        try:
            return passkeys.finish_authentication(
                staff,
                response,
                rp=rp,
                state=state,
                source=source,
                channel=channel,
                purpose="account security",
            )
        except passkeys.PasskeyError as exc:
            raise SignInFailed(str(exc), retry_after=exc.retry_after) from None
    return check_second_factor(staff, code, source=source, channel=channel)


def change_password(
    staff: StaffUser,
    *,
    current: str,
    new: str,
    new_again: str,
    code: str,
    keep_session: str | None,
    source: str,
    channel: str = "web",
    response: str = "",
    rp=None,
    state=None,
) -> int:
    """Change one's own password after re-authenticating; ends every other session.

    The second factor is `code` (authenticator or recovery code) or a
    passkey's answer (`response`, with `rp` and `state` as for
    `reauthenticate`). Returns how many other sessions ended. The new
    password must meet the rules (the reasons are raised as `AccountError`).
    """
    reasons = passwords.problems(new, second_factor=True, username=staff.username)
    if new != new_again:
        reasons.append(_("The two new passwords differ."))
    if reasons:
        raise AccountError(" ".join(reasons))
    reauthenticate(
        staff, current, code, source=source, channel=channel, response=response, rp=rp, state=state
    )
    with transaction.atomic():
        staff.set_password(new)
        staff.save(update_fields=["password"])
        ended = sessions.end_all_but(staff, keep_session, sessions.PASSWORD_CHANGED)
        ledger.append(
            actor=staff_actor(staff, channel),
            action="accounts.password_change",
            purpose="account security",
            detail={"sessions_ended": ended},
        )
    return ended


def replace_recovery_codes(
    staff: StaffUser,
    *,
    password: str,
    code: str,
    source: str,
    channel: str = "web",
    response: str = "",
    rp=None,
    state=None,
) -> list[str]:
    """New recovery codes (the old ones stop working) after re-authenticating.

    The second factor is a code or a passkey's answer, as for `change_password`:
    a staff member with only a passkey need not spend a recovery code on it.
    """
    reauthenticate(
        staff, password, code, source=source, channel=channel, response=response, rp=rp, state=state
    )
    with transaction.atomic():
        codes = mfa.new_recovery_codes(staff)
        ledger.append(
            actor=staff_actor(staff, channel),
            action="accounts.recovery_codes_replace",
            purpose="account security",
            detail={"count": len(codes)},
        )
    return codes
