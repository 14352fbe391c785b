"""Shelfguard's own deployment checks, run by `shelfguard check --deploy`.

They are Django system checks with the `deploy` tag, so they run beside
Django's deployment checks and only with `--deploy`. Every problem that
leaves patron data exposed is an Error, so the command exits non-zero;
each message names the file or setting and says what to do.

The staff checks read the database. Django hands database checks only the
databases named with `--database`; these query the default database always,
because "a member of staff has no second factor" must never be skipped for
want of a flag.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core import checks

from shelfguard.core import home, tls

# Warn this long before a certificate expires: enough time to get a new one.
CERT_RENEW_WARNING = dt.timedelta(days=30)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@checks.register(checks.Tags.security, deploy=True)
def check_debug(app_configs=None, **kwargs):
    if settings.DEBUG:
        return [
            checks.Error(
                "DEBUG is on: error pages would show settings, code and request data, "
                "patron data included.",
                hint="Unset SHELFGUARD_DEBUG in the server's environment.",
                id="shelfguard.E001",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_secret_key(app_configs=None, **kwargs):
    location = home.home_dir()
    try:
        stored = home.read_secret(home.SECRET_KEY_NAME, env="SHELFGUARD_SECRET_KEY", home=location)
    except home.HomeError as exc:
        return [checks.Error(str(exc), id="shelfguard.E002")]
    if not stored:
        return [
            checks.Error(
                "The web signing key (SECRET_KEY) is made up at start and changes with every "
                "process: sessions and CSRF tokens would not survive a restart or reach "
                "another worker.",
                hint=(
                    f"Run `shelfguard init` to create {home.keys_dir(location)}/"
                    f"{home.SECRET_KEY_NAME}, or set SHELFGUARD_SECRET_KEY_FILE."
                ),
                id="shelfguard.E002",
            )
        ]
    if stored != settings.SECRET_KEY:
        return [
            checks.Error(
                "The running SECRET_KEY is not the one stored for this data home.",
                hint="Check SHELFGUARD_HOME and SHELFGUARD_SECRET_KEY(_FILE) in the environment.",
                id="shelfguard.E002",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_key_files(app_configs=None, **kwargs):
    keys = home.keys_dir()
    if not keys.is_dir():
        return [
            checks.Error(
                f"The keys directory {keys} does not exist.",
                hint="Run `shelfguard init`.",
                id="shelfguard.E003",
            )
        ]
    errors = []
    if _mode(keys) & 0o077:
        errors.append(
            checks.Error(
                f"{keys} is open to other accounts (mode {_mode(keys):o}).",
                hint=f"Run `chmod 700 {keys}`.",
                id="shelfguard.E003",
            )
        )
    for path in sorted(keys.iterdir()):
        if path.is_symlink():
            # A link could point anywhere; the key must be the file in keys/.
            errors.append(
                checks.Error(
                    f"{path} is a symbolic link; key files must be plain files in {keys}.",
                    hint="Replace the link with the file itself (mode 0600).",
                    id="shelfguard.E004",
                )
            )
        elif path.is_file() and _mode(path) & 0o077:
            errors.append(
                checks.Error(
                    f"{path} is readable or writable by other accounts (mode {_mode(path):o}).",
                    hint=f"Run `chmod 600 {path}`.",
                    id="shelfguard.E004",
                )
            )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def check_database_file(app_configs=None, **kwargs):
    default = settings.DATABASES["default"]
    if default.get("ENGINE") != "django.db.backends.sqlite3":
        return []
    base = Path(default["NAME"])
    errors = []
    for path in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
        if path.exists() and _mode(path) & 0o077:
            errors.append(
                checks.Error(
                    f"The database file {path} is readable by other accounts "
                    f"(mode {_mode(path):o}).",
                    hint=f"Run `chmod 600 {path}` (`shelfguard init` also repairs it).",
                    id="shelfguard.E005",
                )
            )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def check_transport(app_configs=None, **kwargs):
    try:
        transport = tls.transport_from(
            os.environ, settings.CONFIG.get("web", {}), home=home.home_dir()
        )
    except tls.TransportError as exc:
        return [checks.Error(str(exc), id="shelfguard.E007")]
    if not transport.direct_tls and transport.proxy is None:
        return [
            checks.Error(
                "No TLS is configured: only plain HTTP on the loopback interface can be served.",
                hint=(
                    "Set tls_cert and tls_key under [web] in shelfguard.toml (or "
                    "SHELFGUARD_TLS_CERT and SHELFGUARD_TLS_KEY), or, when another server "
                    "terminates TLS, set behind_proxy to that proxy's IP address. Flags "
                    "given to `serve` alone are not seen here: configure it once, for "
                    "every start."
                ),
                id="shelfguard.E006",
            )
        ]
    messages: list[checks.CheckMessage] = []
    if transport.proxy is not None and transport.proxy.is_unspecified:
        messages.append(
            checks.Error(
                f"behind_proxy = {transport.proxy} names no machine.",
                hint="Give the address of the proxy that terminates TLS.",
                id="shelfguard.E007",
            )
        )
    if transport.direct_tls:
        messages += _certificate_messages(transport)
    return messages


def _certificate_messages(transport: tls.Transport) -> list[checks.CheckMessage]:
    assert transport.cert is not None and transport.key is not None
    try:
        # The same context `serve` would build: files readable, key private,
        # key matching the certificate, TLS 1.2+ and AEAD suites available.
        tls.server_context(transport.cert, transport.key)
        info = tls.certificate_info(transport.cert)
    except tls.TransportError as exc:
        return [checks.Error(str(exc), id="shelfguard.E007")]
    from shelfguard.core import clock

    now = clock.now()
    if info.not_after <= now:
        return [
            checks.Error(
                f"The TLS certificate {transport.cert} expired on {info.not_after:%Y-%m-%d}.",
                hint="Install a renewed certificate and restart `shelfguard serve`.",
                id="shelfguard.E008",
            )
        ]
    if info.not_before > now:
        return [
            checks.Error(
                f"The TLS certificate {transport.cert} is not valid before "
                f"{info.not_before:%Y-%m-%d %H:%M} UTC.",
                hint="Check the machine's clock, or wait until then.",
                id="shelfguard.E008",
            )
        ]
    messages: list[checks.CheckMessage] = []
    if info.not_after - now < CERT_RENEW_WARNING:
        messages.append(
            checks.Warning(
                f"The TLS certificate {transport.cert} expires on {info.not_after:%Y-%m-%d}.",
                hint="Renew it now; browsers refuse the site the moment it expires.",
                id="shelfguard.W001",
            )
        )
    if info.self_signed:
        messages.append(
            checks.Warning(
                f"The TLS certificate {transport.cert} is self-signed: browsers warn about it "
                "and staff learn to click through warnings.",
                hint="Use a certificate from a certificate authority (see docs/operators/tls.md).",
                id="shelfguard.W002",
            )
        )
    return messages


# --- staff (only when the accounts app is installed) -------------------------------


def _accounts_api():
    """The accounts app's models and helpers, or None when it is not installed.

    Imported here, not at module level: core sits below accounts and must
    work without it.
    """
    if not apps.is_installed("shelfguard.accounts"):
        return None
    from django_otp import devices_for_user
    from django_otp.plugins.otp_static.models import StaticDevice

    from shelfguard.accounts import models, permissions, services

    try:
        # An authenticator app (sealed TOTP) or a passkey counts; recovery codes do not.
        from shelfguard.accounts.mfa import has_second_factor
    except ImportError:
        # Recovery codes alone are a fallback for a lost device, not a factor;
        # every other device (TOTP, passkey) is.
        def has_second_factor(staff) -> bool:
            return any(
                not isinstance(device, StaticDevice)
                for device in devices_for_user(staff, confirmed=True)
            )

    return models, permissions, services, has_second_factor


def _patron_data_codes(staff, permissions) -> list[str]:
    codes: set[str] = set()
    for role in staff.roles.all():
        codes.update(role.permissions or [])
    return sorted(codes & permissions.PATRON_DATA)


@checks.register(checks.Tags.security, deploy=True)
def check_staff(app_configs=None, **kwargs):
    api = _accounts_api()
    if api is None:
        return []
    models, permissions, services, has_second_factor = api
    from django.db import DatabaseError

    from shelfguard.core import clock

    messages: list[checks.CheckMessage] = []
    try:
        staff_members = list(
            models.StaffUser.objects.filter(is_active=True).prefetch_related("roles")
        )
        today = clock.today()
        for staff in staff_members:
            if not has_second_factor(staff):
                messages.append(
                    checks.Error(
                        f"Staff member {staff.username!r} is active without a second factor.",
                        hint=(
                            "They can reach only the enrolment page until they enrol; give "
                            "them a new enrolment code, or `shelfguard staff disable` them."
                        ),
                        id="shelfguard.E010",
                    )
                )
            codes = _patron_data_codes(staff, permissions)
            if not codes or services.current_certification(staff) is not None:
                continue
            last = staff.certifications.order_by("-expires_on").first()
            if last is not None and last.expires_on < today:
                messages.append(
                    checks.Error(
                        f"Staff member {staff.username!r} holds patron-data permissions "
                        f"({', '.join(codes)}) with a privacy certification that expired on "
                        f"{last.expires_on.isoformat()}.",
                        hint=(
                            "Record a current certification (`shelfguard staff certify`) or "
                            "take the role away; until then those permissions do not work."
                        ),
                        id="shelfguard.E011",
                    )
                )
    except DatabaseError as exc:
        # Fail closed: a check that cannot look has not passed.
        return [
            checks.Error(
                f"Cannot read the staff accounts ({exc.__class__.__name__}).",
                hint="Run `shelfguard init` to bring the database up to date, then check again.",
                id="shelfguard.E012",
            )
        ]
    return messages


# --- SIP2 terminals (only when the sip2 app is installed) ---------------------------


@checks.register(checks.Tags.security, deploy=True)
def check_sip2_terminals(app_configs=None, **kwargs):
    """Each enabled terminal allowed to sign in without TLS: its password and PINs go in clear."""
    if not apps.is_installed("shelfguard.sip2"):
        return []
    from django.db import DatabaseError

    from shelfguard.sip2.models import Terminal

    try:
        logins = list(
            Terminal.objects.filter(enabled=True, allow_plaintext=True)
            .order_by("login")
            .values_list("login", flat=True)
        )
    except DatabaseError as exc:
        return [
            checks.Error(
                f"Cannot read the SIP2 terminals ({exc.__class__.__name__}).",
                hint="Run `shelfguard init` to bring the database up to date, then check again.",
                id="shelfguard.E020",
            )
        ]
    return [
        checks.Warning(
            f"SIP2 terminal {login!r} may sign in without TLS: its password and patrons' "
            "PINs would cross the network in clear.",
            hint=(
                "Give the SIP2 server a certificate and set the machine up for TLS, then "
                f"`shelfguard sip2 disable-terminal {login}` and add a terminal without "
                "--allow-plaintext; keep plaintext only on a network nobody else can reach."
            ),
            id="shelfguard.W020",
        )
        for login in logins
    ]
