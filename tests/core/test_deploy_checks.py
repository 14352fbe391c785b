"""`shelfguard check --deploy`: passes on a correctly set-up home, fails on each mistake."""

from __future__ import annotations

import datetime as dt
import os
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import override_settings

from shelfguard.core import checks as deploy_checks
from shelfguard.core import clock, tls
from shelfguard.core import home as home_module
from shelfguard.core.actors import Actor
from shelfguard.core.services import ensure_branch


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)


def ca_signed_pair(directory: Path, *, days: int = 200, expired: bool = False) -> tuple[Path, Path]:
    """A server certificate signed by a throwaway certificate authority."""
    now = clock.now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    key = ec.generate_private_key(ec.SECP256R1())
    start = now - dt.timedelta(days=days + 10) if expired else now - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "library.example.org")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("library.example.org")]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "site.crt", directory / "site.key"
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    return cert_path, key_path


@pytest.fixture
def deployed(home, monkeypatch):
    """Settings as `shelfguard` would read them for `home` with `web` in shelfguard.toml."""
    for name in (tls.ENV_TLS, tls.ENV_CERT, tls.ENV_KEY, tls.ENV_PROXY, "SHELFGUARD_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name + "_FILE", raising=False)
    stored = home_module.read_secret(home_module.SECRET_KEY_NAME, env="SHELFGUARD_SECRET_KEY")

    def configure(web: dict, **extra):
        transport = tls.transport_from({}, web, home=home)
        values = {
            "DEBUG": False,
            "SECRET_KEY": stored,
            "CONFIG": {"web": web},
            **tls.django_settings(transport),
            **extra,
        }
        return override_settings(**values)

    return configure


@pytest.fixture
def tls_web(home) -> dict:
    ca_signed_pair(home / "tls")
    return {"tls_cert": "tls/site.crt", "tls_key": "tls/site.key"}


def test_correct_home_passes_with_no_warning_at_all(db, deployed, tls_web, run_cli):
    with deployed(tls_web):
        result = run_cli("check", "--deploy", "--fail-level", "WARNING")

    assert result.code == 0, result.err
    assert "no issues" in result.out


def test_behind_a_named_proxy_passes(db, deployed, run_cli):
    with deployed({"behind_proxy": "10.0.0.5"}):
        result = run_cli("check", "--deploy", "--fail-level", "WARNING")

    assert result.code == 0, result.err


def test_no_tls_fails(db, deployed, run_cli):
    with deployed({}):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "shelfguard.E006" in result.err
    assert "No TLS is configured" in result.err


def test_debug_on_fails(db, deployed, tls_web, run_cli):
    with deployed(tls_web, DEBUG=True):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "shelfguard.E001" in result.err
    assert "DEBUG is on" in result.err


def test_key_file_readable_by_others_fails(db, deployed, tls_web, run_cli, home):
    loose = home / "keys" / "extra.key"
    _write(loose, b"secret\n", 0o644)

    with deployed(tls_web):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "shelfguard.E004" in result.err
    assert f"{loose} is readable or writable by other accounts (mode 644)" in result.err
    assert f"chmod 600 {loose}" in result.err


def test_keys_directory_open_to_others_fails(db, deployed, tls_web, run_cli, home):
    os.chmod(home / "keys", 0o755)

    with deployed(tls_web):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "shelfguard.E003" in result.err
    assert f"chmod 700 {home / 'keys'}" in result.err


def test_ephemeral_secret_key_fails(db, deployed, tls_web, run_cli, home):
    (home / "keys" / home_module.SECRET_KEY_NAME).unlink()

    with deployed(tls_web, SECRET_KEY="made-up-at-start-" + "x" * 50):
        result = run_cli("check", "--deploy")
        [problem] = deploy_checks.check_secret_key()

    # The command refuses a home without its key before any check runs ...
    assert result.code != 0
    assert "run `shelfguard init` first" in result.err
    # ... and the check itself names the problem when called anyway.
    assert problem.id == "shelfguard.E002"
    assert "made up at start" in problem.msg
    assert "shelfguard init" in problem.hint


def test_secret_key_other_than_the_stored_one_fails(db, deployed, tls_web):
    with deployed(tls_web, SECRET_KEY="another-key-" + "x" * 50):
        [problem] = deploy_checks.check_secret_key()

    assert problem.id == "shelfguard.E002"
    assert "not the one stored" in problem.msg


def test_tls_key_readable_by_others_fails(db, deployed, tls_web, run_cli, home):
    os.chmod(home / "tls" / "site.key", 0o644)

    with deployed(tls_web):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "shelfguard.E007" in result.err
    assert "chmod 600" in result.err


def test_missing_tls_files_fail(db, deployed, run_cli):
    with deployed({"tls_cert": "tls/none.crt", "tls_key": "tls/none.key"}):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "shelfguard.E007" in result.err
    assert "does not exist" in result.err


def test_expired_certificate_fails(db, deployed, run_cli, home):
    ca_signed_pair(home / "tls", expired=True)

    with deployed({"tls_cert": "tls/site.crt", "tls_key": "tls/site.key"}):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "shelfguard.E008" in result.err
    assert "expired" in result.err


def test_self_signed_and_soon_expiring_certificates_warn(db, deployed, run_cli, home):
    tls.make_self_signed(home / "tls", ["localhost"], days=10, now=clock.now())
    web = {
        "tls_cert": "tls/" + tls.SELF_SIGNED_CERT_NAME,
        "tls_key": "tls/" + tls.SELF_SIGNED_KEY_NAME,
    }

    with deployed(web):
        lenient = run_cli("check", "--deploy")
        strict = run_cli("check", "--deploy", "--fail-level", "WARNING")

    assert lenient.code == 0, lenient.err
    assert "shelfguard.W001" in lenient.err and "shelfguard.W002" in lenient.err
    assert strict.code != 0


def test_database_file_readable_by_others_fails(home):
    database = home_module.database_path(home)
    database.write_bytes(b"")
    os.chmod(database, 0o644)
    sqlite = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}}

    with warnings.catch_warnings():
        # Only the check reads this; no connection is made with it.
        warnings.simplefilter("ignore")
        with override_settings(DATABASES=sqlite):
            problems = deploy_checks.check_database_file()
            os.chmod(database, 0o600)
            fixed = deploy_checks.check_database_file()

    assert [p.id for p in problems] == ["shelfguard.E005"]
    assert f"chmod 600 {database}" in problems[0].hint
    assert fixed == []


def test_proxy_given_as_a_name_fails(db, deployed, run_cli, home):
    with deployed({}, CONFIG={"web": {"behind_proxy": "proxy.example.org"}}):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "shelfguard.E007" in result.err


# --- staff: second factor and certification ---------------------------------------


@pytest.fixture
def staff_factory(db):
    from shelfguard.accounts.models import Role, StaffUser

    branch, _ = ensure_branch("MAIN", "Main Library", actor=Actor.cli_operator())
    desk = Role.objects.create(
        code="tls-test-desk", name="Desk", permissions=["patron.view_name", "patron.view_status"]
    )
    catalogue = Role.objects.create(code="tls-test-cat", name="Cat", permissions=["catalog.change"])

    def make(username: str, *, role=None, second_factor=True, active=True):
        from django_otp.plugins.otp_totp.models import TOTPDevice

        staff = StaffUser.objects.create(
            username=username, branch=branch, created_at=clock.now(), is_active=active
        )
        staff.roles.add(role or catalogue)
        if second_factor:
            TOTPDevice.objects.create(user=staff, name="authenticator app", confirmed=True)
        return staff

    make.desk = desk
    return make


def _certify(staff, *, expires_on: dt.date) -> None:
    from shelfguard.accounts.models import Certification

    Certification.objects.create(
        staff=staff,
        course="Privacy basics",
        passed_on=expires_on - dt.timedelta(days=365),
        expires_on=expires_on,
        recorded_at=clock.now(),
    )


def test_staff_with_second_factor_and_current_certification_pass(
    deployed, tls_web, run_cli, staff_factory
):
    staff = staff_factory("ada", role=staff_factory.desk)
    _certify(staff, expires_on=clock.today() + dt.timedelta(days=30))
    staff_factory("ben")

    with deployed(tls_web):
        result = run_cli("check", "--deploy", "--fail-level", "WARNING")

    assert result.code == 0, result.err


def test_active_staff_without_second_factor_fails(deployed, tls_web, run_cli, staff_factory):
    staff_factory("carla", second_factor=False)
    staff_factory("gone", second_factor=False, active=False)

    with deployed(tls_web):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "shelfguard.E010" in result.err
    assert "'carla' is active without a second factor" in result.err
    assert "'gone'" not in result.err


def test_recovery_codes_alone_are_not_a_second_factor(deployed, tls_web, run_cli, staff_factory):
    from django_otp.plugins.otp_static.models import StaticDevice

    staff = staff_factory("dora", second_factor=False)
    StaticDevice.objects.create(user=staff, name="recovery codes", confirmed=True)

    with deployed(tls_web):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "'dora' is active without a second factor" in result.err


def test_expired_certification_with_patron_data_permissions_fails(
    deployed, tls_web, run_cli, staff_factory
):
    expired = staff_factory("eve", role=staff_factory.desk)
    _certify(expired, expires_on=clock.today() - dt.timedelta(days=1))
    # Expired, but holds no patron-data permission: nothing to report.
    cataloguer = staff_factory("finn")
    _certify(cataloguer, expires_on=clock.today() - dt.timedelta(days=1))

    with deployed(tls_web):
        result = run_cli("check", "--deploy")

    assert result.code != 0
    assert "shelfguard.E011" in result.err
    assert "'eve' holds patron-data permissions (patron.view_name, patron.view_status)" in (
        result.err
    )
    assert "'finn'" not in result.err
