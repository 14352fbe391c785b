"""Staff for tests: created through the services, with an authenticator enrolled.

TOTP codes are computed here from RFC 6238 directly (not with django-otp),
so the tests check the server against an independent implementation.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import struct

from django_otp.plugins.otp_totp.models import TOTPDevice

from shelfguard.accounts import mfa, services
from shelfguard.accounts.models import StaffUser
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.services import ensure_branch

ADMIN = Actor(kind="system", ident="tests", channel="job")
PASSWORD = "a quiet reading room at dusk"


def branches() -> None:
    ensure_branch("MAIN", "Main Library", actor=ADMIN)
    ensure_branch("EAST", "East Branch", actor=ADMIN)


def totp_code(key_hex: str, at: dt.datetime | None = None, step: int = 30) -> str:
    """The 6-digit RFC 6238 code for a hex key at `at` (default: the clock's now)."""
    moment = (at or clock.now()).timestamp()
    counter = struct.pack(">Q", int(moment) // step)
    digest = hmac.new(bytes.fromhex(key_hex), counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def code_from_secret(secret_text: str, at: dt.datetime | None = None) -> str:
    """The code for a base32 key as shown to the staff member (spaces allowed)."""
    b32 = secret_text.replace(" ", "").upper()
    key = base64.b32decode(b32 + "=" * (-len(b32) % 8))
    return totp_code(key.hex(), at)


def make_staff(
    username: str,
    *roles: str,
    branch: str = "MAIN",
    password: str | None = PASSWORD,
    certified: bool = True,
    enrol: bool = True,
) -> StaffUser:
    branches()
    staff, _code = services.create_staff(
        username, roles=roles, branch=branch, password=password, actor=ADMIN
    )
    if certified:
        services.certify(
            staff,
            course="Patron privacy basics",
            until=clock.today() + dt.timedelta(days=365),
            actor=ADMIN,
        )
    if enrol:
        device = mfa.start_totp_enrolment(staff)
        # Confirmed with the previous step's code (within the allowed drift), so
        # the code a test computes for "now" has not been used yet.
        previous = clock.now() - dt.timedelta(seconds=30)
        assert mfa.confirm_totp(staff, totp_code(device.key, previous))
    return staff


def device_of(staff: StaffUser) -> TOTPDevice:
    return TOTPDevice.objects.get(user=staff, confirmed=True)
