"""Django settings for Shelfguard.

One file, read from the environment and `$SHELFGUARD_HOME/shelfguard.toml`
(environment wins). Defaults are the safe choices; anything unsafe must be
asked for by name.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from shelfguard.core import home as _home
from shelfguard.core import tls as _tls
from shelfguard.vault.dbsettings import keystore_database

BASE_DIR = Path(__file__).resolve().parent
HOME = _home.home_dir()
CONFIG = _home.read_config(HOME)
_library = CONFIG.get("library", {})
_web = CONFIG.get("web", {})


def envbool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envlist(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


DEBUG = envbool("SHELFGUARD_DEBUG")

# Before `shelfguard init` there is no key file; an ephemeral key lets `init`
# itself run. Commands that serve or keep state refuse an uninitialised home.
SECRET_KEY = _home.read_secret(
    _home.SECRET_KEY_NAME, env="SHELFGUARD_SECRET_KEY", home=HOME
) or secrets.token_urlsafe(50)

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"] + envlist(
    "SHELFGUARD_ALLOWED_HOSTS", list(_web.get("allowed_hosts", []))
)

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django.contrib.staticfiles",
    "shelfguard.core",
    "shelfguard.catalog",
    "shelfguard.opac",
    "shelfguard.api",
    "shelfguard.vault",
    "shelfguard.ledger",
    "shelfguard.patrons",
    "shelfguard.accounts",
    "shelfguard.staff",
    "shelfguard.circulation",
    "shelfguard.portal",
    "shelfguard.feedback",
    "shelfguard.sip2",
    "shelfguard.lifecycle",
    "shelfguard.jobs",
    "shelfguard.monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Sessions and users are loaded lazily: pages that never touch them (the
    # public catalogue) still set no cookie.
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "shelfguard.accounts.middleware.StaffSessionMiddleware",
    "shelfguard.core.middleware.NoStoreMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shelfguard.urls"
WSGI_APPLICATION = "shelfguard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "shelfguard.core.context_processors.library",
            ],
        },
    }
]

# SQLite is the embedded default; DATABASE_URL=postgres://... selects PostgreSQL.
# It may also come from DATABASE_URL_FILE or keys/database-url (mode 0600), which
# `backup restore --database-url` writes into the home it restores.
_database_url = _home.read_secret(_home.DATABASE_URL_NAME, env="DATABASE_URL", home=HOME)
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_home.database_path(HOME)),
            "OPTIONS": {
                # Seconds a writer waits for another writer before "database is locked".
                "timeout": 20,
                # Take the write lock when the transaction starts, so two writers
                # queue instead of failing when a read lock is upgraded.
                "transaction_mode": "IMMEDIATE",
                # WAL lets readers go on while one process writes; secure_delete
                # overwrites freed pages so deleted values leave the file.
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA secure_delete=ON;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }
# Data keys live apart from the data they seal: on SQLite in keys/keystore.sqlite3,
# on PostgreSQL in the schema "keystore" of the same database (its own connection,
# search_path=keystore). The router keeps the vault's tables there and all others out.
DATABASES["keystore"] = keystore_database(DATABASES["default"], HOME)
DATABASE_ROUTERS = ["shelfguard.vault.routers.KeystoreRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Staff accounts (issue 4). Sessions end with the browser; idle and absolute
# timeouts are enforced on the server by accounts.middleware (see accounts.config).
AUTH_USER_MODEL = "accounts.StaffUser"
LOGIN_URL = "staff:login"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = 12 * 60 * 60

# PINs and passwords are hashed with Argon2 (memory-hard, so stolen hashes resist
# guessing on graphics cards); the others only verify hashes made before a switch.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

LANGUAGE_CODE = os.environ.get("SHELFGUARD_LANGUAGE", _library.get("language", "en"))
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("SHELFGUARD_TIME_ZONE", _library.get("time_zone", "UTC"))
USE_I18N = True
USE_TZ = True

LIBRARY_NAME = os.environ.get(
    "SHELFGUARD_LIBRARY_NAME", _library.get("name", "Shelfguard Public Library")
)

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Assets are served straight from the installed package (no STATIC_ROOT, no
# collectstatic): nothing to collect, nothing fetched from elsewhere.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Headers. Referrer, nosniff and framing come from Django; CSP from django-csp.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Forms carry the CSRF token in the page; no script needs to read the cookie.
CSRF_COOKIE_HTTPONLY = True

# Transport (shelfguard.core.tls): plain HTTP on loopback, direct TLS, or behind
# one named TLS proxy, from the environment or [web] in shelfguard.toml. HSTS and
# Secure cookies only when browsers arrive over HTTPS, never on plain loopback
# HTTP. `shelfguard serve` applies the same function to the flags it is given.
_transport = _tls.transport_from(os.environ, _web, home=HOME)
_transport_settings = _tls.django_settings(_transport)
SECURE_HSTS_SECONDS = _transport_settings["SECURE_HSTS_SECONDS"]
SECURE_HSTS_INCLUDE_SUBDOMAINS = _transport_settings["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
SECURE_HSTS_PRELOAD = _transport_settings["SECURE_HSTS_PRELOAD"]
SECURE_SSL_REDIRECT = _transport_settings["SECURE_SSL_REDIRECT"]
SECURE_PROXY_SSL_HEADER = _transport_settings["SECURE_PROXY_SSL_HEADER"]
SESSION_COOKIE_SECURE = _transport_settings["SESSION_COOKIE_SECURE"]
CSRF_COOKIE_SECURE = _transport_settings["CSRF_COOKIE_SECURE"]
SESSION_COOKIE_NAME = _transport_settings["SESSION_COOKIE_NAME"]
CSRF_COOKIE_NAME = _transport_settings["CSRF_COOKIE_NAME"]
# HSTS preload ([web] hsts_preload) puts the domain on a list built into
# browsers, which takes months to leave: the operator's decision for the whole
# domain, not a default for one program, so Django's reminder is silenced.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Mail: notices, card-application checks, reminders and alerts go out through
# Django's e-mail backend, configured by [mail] in shelfguard.toml. "smtp"
# (default; STARTTLS unless the host is this machine), or "file", which writes
# each message into $SHELFGUARD_HOME/mail-outbox/ (the demo; a trial without a
# mail server). There is no "console" choice: messages hold personal data
# and must not land in logs.
_mail = CONFIG.get("mail", {})
_mail_backend = str(_mail.get("backend", "smtp"))
if _mail_backend == "file":
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(HOME / "mail-outbox")
elif _mail_backend == "smtp":
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = str(_mail.get("host", "localhost"))
    _mail_on_this_machine = EMAIL_HOST in ("localhost", "127.0.0.1")
    EMAIL_PORT = int(_mail.get("port", 25 if _mail_on_this_machine else 587))
    EMAIL_HOST_USER = str(_mail.get("username", ""))
    EMAIL_HOST_PASSWORD = (
        _home.read_secret("mail-password", env="SHELFGUARD_MAIL_PASSWORD", home=HOME) or ""
    )
    EMAIL_USE_SSL = bool(_mail.get("use_ssl", False))
    EMAIL_USE_TLS = bool(_mail.get("use_tls", not EMAIL_USE_SSL and not _mail_on_this_machine))
    EMAIL_TIMEOUT = 20
else:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f'[mail] backend in shelfguard.toml must be "smtp" or "file", not {_mail_backend!r}.'
    )
DEFAULT_FROM_EMAIL = str(_mail.get("from", f"library@{_mail.get('host', 'localhost')}"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SHELFGUARD_LOG_LEVEL", "WARNING")},
}

# Search tuning shared by both backends.
SEARCH_MAX_QUERY_LENGTH = 256
SEARCH_PAGE_SIZE = 20
