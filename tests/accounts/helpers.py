"""Staff for tests: created through the services, with an authenticator enrolled.

TOTP codes are computed here from RFC 6238 directly (not with django-otp),
so the tests check the server against an independent implementation. The
secret is sealed in the database; `device_of(staff).key` unseals it (hex)
in memory for the test to compute codes with.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import struct

from shelfguard.accounts import mfa, services
from shelfguard.accounts.models import SealedTOTPDevice, StaffUser
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.services import ensure_branch

ADMIN = Actor(kind="system", ident="tests", channel="job")
PASSWORD = "a quiet reading room at dusk"


def branches() -> None:
    """The two test branches, and the vault keys staff enrolment needs (see `vault_keys`)."""
    vault_keys()
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


def vault_keys() -> None:
    """Make sure the data home has a master key: TOTP secrets are sealed with it.

    `./dev.sh test` gives each run a fresh home; tests that do not ask for the
    `home` fixture share it, and the first staff member made creates its keys.
    """
    from shelfguard.core.home import home_dir
    from shelfguard.vault.keys import ensure_keys, master_keyring

    if master_keyring() is None:
        ensure_keys(home_dir())


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


def device_of(staff: StaffUser) -> SealedTOTPDevice:
    """The staff member's confirmed authenticator; `.key` is its secret in hex (unsealed)."""
    return SealedTOTPDevice.objects.get(user=staff, confirmed=True)
