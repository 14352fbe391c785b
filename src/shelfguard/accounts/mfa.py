"""Second factors: TOTP devices and single-use recovery codes (django-otp models).

TOTP codes are checked against the one clock (`core.clock`), not the system
time django-otp would read, so tests and timeouts agree. Each code works
once: a code's time step must be later than the last one accepted.
Recovery codes are stored only as keyed hashes; each matches once and is
then deleted.
"""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from shelfguard.accounts.models import StaffUser
from shelfguard.accounts.tokens import clean_code, keyed_hash, new_code

RECOVERY_CODES = 10
TOTP_DEVICE_NAME = "authenticator app"
RECOVERY_DEVICE_NAME = "recovery codes"


def has_second_factor(staff: StaffUser) -> bool:
    return TOTPDevice.objects.filter(user=staff, confirmed=True).exists()


def start_totp_enrolment(staff: StaffUser) -> TOTPDevice:
    """A new, unconfirmed authenticator for `staff` (replacing any unconfirmed one)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=staff, confirmed=False).delete()
        return TOTPDevice.objects.create(user=staff, name=TOTP_DEVICE_NAME, confirmed=False)


def secret_text(device: TOTPDevice) -> str:
    """The shared secret in base32, in groups of four for typing into an app."""
    text = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def otpauth_uri(device: TOTPDevice) -> str:
    """The otpauth:// URI authenticator apps accept (shown as text, no image)."""
    issuer = str(settings.LIBRARY_NAME).replace(":", "")
    label = f"{issuer}:{device.user.get_username()}"
    params = urlencode(
        {
            "secret": base64.b32encode(device.bin_key).decode().rstrip("="),
            "algorithm": "SHA1",
            "digits": device.digits,
            "period": device.step,
        }
    )
    return f"otpauth://totp/{quote(label)}?{params}&issuer={quote(issuer)}"


def _totp(device: TOTPDevice, at: float) -> TOTP:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = at
    return totp


def code_at(device: TOTPDevice, at: dt.datetime) -> str:
    """The code an authenticator app holding this device's secret shows at `at`."""
    return f"{_totp(device, at.timestamp()).token():0{device.digits}d}"


def _verify_locked(device: TOTPDevice, token: str) -> bool:
    from shelfguard.core import clock

    token = str(token).strip().replace(" ", "")
    if len(token) != device.digits or not token.isascii() or not token.isdigit():
        return False
    totp = _totp(device, clock.now().timestamp())
    # `min_t` refuses the step of the last accepted code and every earlier one.
    if not totp.verify(int(token), device.tolerance, device.last_t + 1):
        return False
    device.last_t = totp.t()
    device.save(update_fields=["last_t"])
    return True


def verify_totp(staff: StaffUser, token: str, *, confirmed: bool = True) -> TOTPDevice | None:
    """The staff member's authenticator if `token` is a fresh, unused code for it."""
    with transaction.atomic():
        devices = TOTPDevice.objects.select_for_update().filter(user=staff, confirmed=confirmed)
        for device in devices:
            if _verify_locked(device, token):
                return device
    return None


def confirm_totp(staff: StaffUser, token: str) -> TOTPDevice | None:
    """Finish enrolment: the pending authenticator becomes the staff member's only one."""
    with transaction.atomic():
        device = verify_totp(staff, token, confirmed=False)
        if device is None:
            return None
        TOTPDevice.objects.filter(user=staff, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        return device


def _recovery_hash(code: str) -> str:
    # StaticToken.token holds 16 characters: 64 bits of the keyed hash, which
    # is far more than the ~79 bits of a code can be guessed through the
    # throttled sign-in form.
    return keyed_hash("recovery-code", clean_code(code))[:16]


def new_recovery_codes(staff: StaffUser) -> list[str]:
    """Replace the staff member's recovery codes; returns the new ones (shown once)."""
    codes = [new_code() for _ in range(RECOVERY_CODES)]
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=staff, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        StaticToken.objects.bulk_create(
            StaticToken(device=device, token=_recovery_hash(code)) for code in codes
        )
    return codes


def use_recovery_code(staff: StaffUser, code: str) -> StaticDevice | None:
    """The recovery device if `code` is one of the staff member's unused codes (now used)."""
    hashed = _recovery_hash(code)
    with transaction.atomic():
        token = (
            StaticToken.objects.select_for_update()
            .filter(device__user=staff, device__confirmed=True, token=hashed)
            .select_related("device")
            .first()
        )
        if token is None:
            return None
        device = token.device
        token.delete()
        return device


def recovery_codes_left(staff: StaffUser) -> int:
    return StaticToken.objects.filter(device__user=staff, device__confirmed=True).count()


def remove_all(staff: StaffUser) -> int:
    """Remove every authenticator and recovery code of `staff`; returns how many devices."""
    with transaction.atomic():
        devices = TOTPDevice.objects.filter(user=staff).count()
        devices += StaticDevice.objects.filter(user=staff).count()
        TOTPDevice.objects.filter(user=staff).delete()
        # Deleting the recovery device deletes its codes with it.
        StaticDevice.objects.filter(user=staff).delete()
    return devices
