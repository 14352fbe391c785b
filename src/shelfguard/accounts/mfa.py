"""Second factors: TOTP devices, passkeys and single-use recovery codes.

A staff member's second factor is a confirmed authenticator app
(`SealedTOTPDevice`) or a confirmed passkey (`Passkey`, see `passkeys.py`).
Recovery codes are a fallback for a lost device, not a factor of their own.

TOTP secrets are sealed at rest (AES-256-GCM with a keystore data key of the
staff member's, bound to "staff:<id>" and "totp_secret"): the database holds
neither their hex nor their base32 form. They are unsealed only in memory,
to show them once at enrolment and to check a code.

TOTP codes are checked against the one clock (`core.clock`), not the system
time django-otp would read, so tests and timeouts agree. Each code works
once: a code's time step must be later than the last one accepted.
Recovery codes are stored only as keyed hashes; each matches once and is
then deleted.

When a staff member's authenticators are all removed (a second-factor reset,
or a pending one dropped for a passkey), their data key is destroyed in the
keystore once the removal has committed (`_destroy_totp_keys_on_commit`):
copies of the sealed secrets in backups then stay unreadable for good. A
rolled-back removal keeps the key, so the devices it restores still work.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import logging
import os
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import DatabaseError, router, transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from shelfguard.accounts.models import Passkey, SealedTOTPDevice, StaffUser
from shelfguard.accounts.tokens import clean_code, keyed_hash, new_code
from shelfguard.vault import VaultError, keystore, sealing

logger = logging.getLogger(__name__)
# The device model used for authenticator apps (the secret is sealed).
TOTPDevice = SealedTOTPDevice

RECOVERY_CODES = 10
TOTP_DEVICE_NAME = "authenticator app"
RECOVERY_DEVICE_NAME = "recovery codes"


SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends
_SECRET_FIELD = "totp_secret"


def _plain_devices():
    """django-otp's own TOTP devices, whose secret is plain hex (only from before 0005)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice as PlainTOTPDevice

    return PlainTOTPDevice.objects


def has_second_factor(staff: StaffUser) -> bool:
    """A confirmed authenticator app or a confirmed passkey (recovery codes do not count).

    A plain django-otp device (left from before migration 0005, or written by
    another tool) counts: it is sealed the first time a code is checked.
    """
    return (
        TOTPDevice.objects.filter(user=staff, confirmed=True).exists()
        or Passkey.objects.filter(user=staff, confirmed=True).exists()
        or _plain_devices().filter(user=staff, confirmed=True).exists()
    )


def factor_count(staff: StaffUser) -> int:
    """How many confirmed second factors (authenticators and passkeys) `staff` has."""
    return (
        TOTPDevice.objects.filter(user=staff, confirmed=True).count()
        + Passkey.objects.filter(user=staff, confirmed=True).count()
        + _plain_devices().filter(user=staff, confirmed=True).count()
    )


def seal_plain_devices(staff: StaffUser) -> int:
    """Move `staff`'s plain django-otp TOTP devices into sealed ones; returns how many.

    The same work as migration 0005, for a row that appears after it (an old
    backup restored into a new schema, another tool): its secret is sealed
    and the plain row overwritten and deleted before any code is checked.
    """
    with transaction.atomic():
        rows = list(_plain_devices().select_for_update().filter(user=staff).order_by("pk"))
        if not rows:
            return 0
        key_id = _data_key_for(staff)
        for row in rows:
            TOTPDevice.objects.create(
                user=staff,
                name=row.name,
                confirmed=row.confirmed,
                key_id=key_id,
                sealed_key=seal_secret(staff.pk, key_id, bytes.fromhex(row.key)),
                step=row.step,
                t0=row.t0,
                digits=row.digits,
                tolerance=row.tolerance,
                drift=row.drift,
                last_t=row.last_t,
                created_at=row.created_at,
            )
        plain = _plain_devices().filter(pk__in=[row.pk for row in rows])
        plain.update(key="0" * 40)
        plain.delete()
    return len(rows)


def _owner(staff_id: int) -> str:
    return f"staff:{int(staff_id)}"


def seal_secret(staff_id: int, key_id: str, secret: bytes) -> bytes:
    return sealing.seal(key_id, _owner(staff_id), _SECRET_FIELD, secret.hex())


def unseal_secret(device: SealedTOTPDevice) -> bytes:
    """The device's secret; `vault.SealBroken` if the row was tampered with or moved."""
    text = sealing.unseal(device.key_id, _owner(device.user_id), _SECRET_FIELD, device.sealed_key)
    return bytes.fromhex(text)


def _data_key_for(staff: StaffUser) -> str:
    # One data key per staff member for their authenticator secrets: reused
    # by a re-enrolment, new after every device was removed.
    existing = (
        TOTPDevice.objects.filter(user=staff).exclude(key_id="").values_list("key_id", flat=True)
    ).first()
    return existing or keystore.new_data_key()


def start_totp_enrolment(staff: StaffUser) -> TOTPDevice:
    """A new, unconfirmed authenticator for `staff` (replacing any unconfirmed one)."""
    from shelfguard.core import clock

    key_id = _data_key_for(staff)
    secret = os.urandom(SECRET_BYTES)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=staff, confirmed=False).delete()
        return TOTPDevice.objects.create(
            user=staff,
            name=TOTP_DEVICE_NAME,
            confirmed=False,
            key_id=key_id,
            sealed_key=seal_secret(staff.pk, key_id, secret),
            created_at=clock.now(),
        )


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


def verify_device(device: TOTPDevice, token: str) -> bool:
    """django-otp's `verify_token` for a sealed device: once per code, locked row."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().filter(pk=device.pk).first()
        if locked is None or not _verify_locked(locked, token):
            return False
        device.last_t = locked.last_t
        return True


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
    seal_plain_devices(staff)
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


def _destroy_totp_keys(staff_id: int, key_ids: list[str]) -> None:
    """Destroy data keys no authenticator uses any more (runs after the removal committed).

    A key some device row still names (a re-enrolment that picked it up in
    the meantime) is left alone. A failure is logged, not raised: the
    removal has committed already, and the key, which nothing uses, can be
    destroyed later by its id.
    """
    for key_id in key_ids:
        if TOTPDevice.objects.filter(key_id=key_id).exists():
            continue
        try:
            keystore.destroy_data_key(key_id, owner=_owner(staff_id))
        except (VaultError, DatabaseError, OSError):
            logger.exception(
                "could not destroy the unused authenticator data key %s of staff %s; "
                "destroy it again by its id",
                key_id,
                staff_id,
            )


def _destroy_totp_keys_on_commit(staff: StaffUser, devices) -> None:
    """Destroy the data keys of `devices` (about to be deleted) once the deletion commits.

    Call inside the transaction that deletes them: a rollback drops the
    callback, and the key stays for the devices it brings back.
    """
    key_ids = sorted({k for k in devices.exclude(key_id="").values_list("key_id", flat=True)})
    if key_ids:
        transaction.on_commit(
            functools.partial(_destroy_totp_keys, staff.pk, key_ids),
            using=router.db_for_write(TOTPDevice),
        )


def remove_pending_totp(staff: StaffUser) -> int:
    """Drop `staff`'s unconfirmed authenticators; their key goes once no device uses it."""
    with transaction.atomic():
        pending = TOTPDevice.objects.filter(user=staff, confirmed=False)
        if not TOTPDevice.objects.filter(user=staff, confirmed=True).exists():
            _destroy_totp_keys_on_commit(staff, pending)
        removed, _ = pending.delete()
    return removed


def remove_all(staff: StaffUser) -> int:
    """Remove every authenticator, passkey and recovery code of `staff`; returns how many devices.

    The data key that sealed their authenticator secrets is destroyed after
    the caller's transaction commits (kept if it rolls back).
    """
    with transaction.atomic():
        _destroy_totp_keys_on_commit(staff, TOTPDevice.objects.filter(user=staff))
        devices = TOTPDevice.objects.filter(user=staff).count()
        devices += Passkey.objects.filter(user=staff).count()
        devices += StaticDevice.objects.filter(user=staff).count()
        devices += _plain_devices().filter(user=staff).count()
        TOTPDevice.objects.filter(user=staff).delete()
        Passkey.objects.filter(user=staff).delete()
        _plain_devices().filter(user=staff).delete()
        # Deleting the recovery device deletes its codes with it.
        StaticDevice.objects.filter(user=staff).delete()
    return devices
