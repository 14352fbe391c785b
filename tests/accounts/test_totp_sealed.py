"""TOTP secrets are sealed at rest: no database file holds them in hex or base32.

The secret of an authenticator app is sealed with a keystore data key of the
staff member's (AES-256-GCM, bound to "staff:<id>" and "totp_secret"). The
file test runs a real `shelfguard init` home in subprocesses (SQLite, the
embedded deployment) and scans every file under it, keystore and WAL
included, for the secret in every form it is shown or used in.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps as live_apps
from django_otp.plugins.otp_totp.models import TOTPDevice as PlainTOTPDevice

from shelfguard.accounts import mfa, signin
from shelfguard.accounts.models import SealedTOTPDevice
from shelfguard.core import clock
from shelfguard.vault import SealBroken
from tests.accounts.helpers import code_from_secret, device_of, make_staff, totp_code

T0 = dt.datetime(2026, 9, 1, 9, 0, 5, tzinfo=dt.UTC)
SRC = "192.0.2.20"


def _forms(key_hex: str) -> list[bytes]:
    """Every form of a secret worth looking for: hex, base32 (grouped or not), raw bytes."""
    raw = bytes.fromhex(key_hex)
    b32 = base64.b32encode(raw).decode().rstrip("=")
    grouped = " ".join(b32[i : i + 4] for i in range(0, len(b32), 4))
    texts = [key_hex.lower(), key_hex.upper(), b32, b32.lower(), grouped]
    forms = [t.encode() for t in texts] + [t.encode("utf-16-le") for t in texts]
    return [*forms, raw]


@pytest.mark.django_db
def test_the_stored_secret_is_sealed_and_still_gives_the_codes():
    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        device = device_of(staff)
        sealed = bytes(device.sealed_key)
        for form in _forms(device.key):
            assert form not in sealed
        # The shown secret and the codes still agree with an independent RFC 6238.
        assert code_from_secret(mfa.secret_text(device)) == totp_code(device.key)
        assert f"secret={base64.b32encode(device.bin_key).decode().rstrip('=')}" in (
            mfa.otpauth_uri(device)
        )
        assert mfa.code_at(device, clock.now()) == totp_code(device.key)
        assert signin.check_second_factor(staff, totp_code(device.key), source=SRC) == device
        # Each code works once, sealed or not.
        with pytest.raises(signin.SignInFailed):
            signin.check_second_factor(staff, totp_code(device.key), source=SRC)
    assert not PlainTOTPDevice.objects.exists()


@pytest.mark.django_db
def test_a_sealed_secret_moved_to_another_staff_member_does_not_open():
    with clock.frozen(T0):
        ada = device_of(make_staff("ada", "circulation-desk"))
        ben = device_of(make_staff("ben", "circulation-desk"))
        # Someone with write access to the database copies Ada's sealed secret
        # (and key id) into Ben's row, to sign in as Ben with Ada's app.
        SealedTOTPDevice.objects.filter(pk=ben.pk).update(
            sealed_key=bytes(ada.sealed_key), key_id=ada.key_id
        )
        with pytest.raises(SealBroken):
            mfa.unseal_secret(SealedTOTPDevice.objects.get(pk=ben.pk))


@pytest.mark.django_db
def test_django_otp_api_works_on_the_sealed_device():
    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        device = device_of(staff)
        assert device.verify_token(totp_code(device.key)) is True
        assert device.verify_token(totp_code(device.key)) is False  # used once
        assert device.persistent_id.startswith("accounts.sealedtotpdevice/")


@pytest.mark.django_db
def test_a_plain_django_otp_device_is_sealed_before_its_first_use():
    """A plain row (an old backup restored, another tool) is moved into a sealed one."""
    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk", enrol=False)
        key = os.urandom(20).hex()
        PlainTOTPDevice.objects.create(
            user=staff, name="authenticator app", confirmed=True, key=key
        )
        assert mfa.has_second_factor(staff)
        assert signin.check_second_factor(staff, totp_code(key), source=SRC)
    assert not PlainTOTPDevice.objects.exists()
    device = device_of(staff)
    assert device.key == key
    for form in _forms(key):
        assert form not in bytes(device.sealed_key)


@pytest.mark.django_db
def test_the_data_migration_seals_every_plain_device():
    migration = importlib.import_module("shelfguard.accounts.migrations.0005_seal_totp_secrets")
    with clock.frozen(T0):
        ada = make_staff("ada", "circulation-desk", enrol=False)
        ben = make_staff("ben", "circulation-desk", enrol=False)
        keys = {}
        for staff, confirmed in ((ada, True), (ben, True), (ben, False)):
            key = os.urandom(20).hex()
            device = PlainTOTPDevice.objects.create(
                user=staff, name="authenticator app", confirmed=confirmed, key=key, last_t=7
            )
            keys[(staff.pk, confirmed)] = key
            del device

        class Editor:
            connection = type("C", (), {"alias": "default"})()

        migration.seal_existing(live_apps, Editor())

    assert not PlainTOTPDevice.objects.exists()
    sealed = {(d.user_id, d.confirmed): d for d in SealedTOTPDevice.objects.all()}
    assert set(sealed) == set(keys)
    for where, key in keys.items():
        assert sealed[where].key == key and sealed[where].last_t == 7
        for form in _forms(key):
            assert form not in bytes(sealed[where].sealed_key)


# --- on the disk -----------------------------------------------------------------------------

_ENROL = """
import django
django.setup()
from shelfguard.accounts import mfa, services, signin
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.services import ensure_branch

actor = Actor(kind="system", ident="tests", channel="job")
ensure_branch("MAIN", "Main Library", actor=actor)
staff, code = services.create_staff(
    "scan", roles=["circulation-desk"], branch="MAIN", password=None, actor=actor
)
device = mfa.start_totp_enrolment(staff)
assert mfa.confirm_totp(staff, mfa.code_at(device, clock.now()))
device = mfa.TOTPDevice.objects.get(user=staff, confirmed=True)
print(device.key)
print(mfa.secret_text(device))
"""


def test_no_file_of_a_real_home_holds_the_totp_secret(tmp_path: Path):
    home = tmp_path / "home"
    env = {**os.environ, "SHELFGUARD_HOME": str(home)}
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)

    def run(args: list[str], **extra) -> str:
        done = subprocess.run(
            args, env={**env, **extra}, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run([sys.executable, "-m", "shelfguard", "init"])
    out = run([sys.executable, "-c", _ENROL], DJANGO_SETTINGS_MODULE="shelfguard.settings")
    key_hex, shown = out.strip().splitlines()[-2:]
    assert base64.b32encode(bytes.fromhex(key_hex)).decode().rstrip("=") == shown.replace(" ", "")

    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sqlite3") for p in files)
    found = []
    for path in files:
        data = path.read_bytes()
        found += [
            (str(path.relative_to(home)), form[:8]) for form in _forms(key_hex) if form in data
        ]
    assert found == []
