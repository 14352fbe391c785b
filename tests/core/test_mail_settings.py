"""[mail] in shelfguard.toml: which backend sends the library's e-mail.

Settings are read once per process, so each case starts a fresh Python with
its own data home.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shelfguard.core.home import create_home

PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k, None) for k in ('EMAIL_BACKEND', 'EMAIL_FILE_PATH', "
    "'EMAIL_HOST', 'EMAIL_PORT', 'EMAIL_USE_TLS', 'EMAIL_HOST_PASSWORD', 'DEFAULT_FROM_EMAIL')}))"
)


def settings_with(tmp_path: Path, mail: str, **env: str) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    create_home(home)
    with (home / "shelfguard.toml").open("a", encoding="utf-8") as fh:
        fh.write(mail)
    environ = {**os.environ, "SHELFGUARD_HOME": str(home), **env}
    environ["DJANGO_SETTINGS_MODULE"] = "shelfguard.settings"
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True, timeout=60
    )


def test_the_file_outbox_writes_into_the_data_home(tmp_path):
    done = settings_with(tmp_path, '\n[mail]\nbackend = "file"\nfrom = "desk@example.org"\n')
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["EMAIL_BACKEND"].endswith("filebased.EmailBackend")
    assert got["EMAIL_FILE_PATH"] == str(tmp_path / "home" / "mail-outbox")
    assert got["DEFAULT_FROM_EMAIL"] == "desk@example.org"


def test_smtp_to_another_host_uses_starttls_and_the_password_from_the_environment(tmp_path):
    done = settings_with(
        tmp_path,
        '\n[mail]\nhost = "mail.example.org"\nusername = "sg"\n',
        SHELFGUARD_MAIL_PASSWORD="synthetic-secret",
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
    assert (got["EMAIL_HOST"], got["EMAIL_PORT"], got["EMAIL_USE_TLS"]) == (
        "mail.example.org",
        587,
        True,
    )
    assert got["EMAIL_HOST_PASSWORD"] == "synthetic-secret"


def test_without_a_mail_section_mail_goes_to_this_machine(tmp_path):
    done = settings_with(tmp_path, "")
    got = json.loads(done.stdout)
    assert (got["EMAIL_HOST"], got["EMAIL_PORT"], got["EMAIL_USE_TLS"]) == ("localhost", 25, False)


@pytest.mark.parametrize("backend", ["console", "carrier-pigeon"])
def test_an_unknown_or_log_writing_backend_is_refused_with_the_choices(tmp_path, backend):
    done = settings_with(tmp_path, f'\n[mail]\nbackend = "{backend}"\n')
    assert done.returncode != 0
    assert '[mail] backend in shelfguard.toml must be "smtp" or "file"' in done.stderr
