"""Fixtures shared by the whole suite.

Run the suite with `./dev.sh test`: it gives each run a fresh `SHELFGUARD_HOME`
and runs it on SQLite and on PostgreSQL. Django's settings are read once, when
pytest-django starts, so `SHELFGUARD_HOME` must be set before pytest starts;
the `home` fixture then gives each test its own data home, which is what the
code reads on every call to `shelfguard.core.home.home_dir()`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from shelfguard.core.home import create_home

# Database work makes examples slower and less even than Hypothesis's default
# deadline allows; CI prints the blob that reproduces a failure.
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, print_blob=True)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres_only"):
        from django.conf import settings

        if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
            pytest.skip("needs PostgreSQL (./dev.sh test runs the suite on both databases)")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh, initialised data home (keys, secret key, config); no database work."""
    path = tmp_path / "shelfguard-home"
    monkeypatch.setenv("SHELFGUARD_HOME", str(path))
    create_home(path)
    yield path


@dataclass(frozen=True)
class CliResult:
    """What a `shelfguard` command did: exit code and everything it printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The standard output parsed as JSON (for commands run with `--json`)."""
        try:
            return json.loads(self.out)
        except json.JSONDecodeError as exc:
            raise AssertionError(
                f"output is not JSON ({exc}):\n--- stdout\n{self.out}--- stderr\n{self.err}"
            ) from None


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run `shelfguard ARGS...` in this process, as the console script would.

    `run_cli("branch", "list", "--json")` returns a `CliResult`. The command
    uses the test database, so tests that touch data also ask for `db`.
    """
    from django.db import connections

    from shelfguard.cli import main

    # A management command run from the command line closes every database
    # connection when it ends. On PostgreSQL that would drop the connection
    # holding the test's transaction, so the test could not read what the
    # command wrote; the process is not ending here, so keep the connections.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run(*args: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return CliResult(code=code, out=out.getvalue(), err=err.getvalue())

    return run


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Let every database test use the keystore alias as well as the main database.

    Patron data keys live in their own database (`keystore`); `init`, patron
    services and erasure all touch it, so a test allowed the main database is
    allowed the keystore too.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        fixtures = set(getattr(item, "fixturenames", ()))
        if marker is None and not {"db", "transactional_db"} & fixtures:
            continue
        kwargs = dict(marker.kwargs) if marker else {}
        if marker is None and "transactional_db" in fixtures:
            kwargs["transaction"] = True
        databases = kwargs.get("databases") or ["default"]
        if databases != "__all__" and "keystore" not in databases:
            kwargs["databases"] = [*databases, "keystore"]
            item.add_marker(
                pytest.mark.django_db(*(marker.args if marker else ()), **kwargs), append=False
            )


@pytest.fixture(autouse=True)
def _english_after_each_test() -> Iterator[None]:
    """Switch translation off after every test.

    Django's LocaleMiddleware leaves the last request's language active in the
    thread; a test that asked for Chinese must not make the next one Chinese.
    """
    yield
    from django.utils import translation

    translation.deactivate()


def restore_shipped_rows(using: str = "default") -> None:
    """Put back the rows data migrations ship (roles, the default loan rule).

    A transactional test without `available_apps` ends by flushing every
    table, data-migration rows included, so a later committing test (the
    browser tests) must not count on them being there. Each migration's own
    function is run again; they only add what is missing.
    """
    import importlib
    from types import SimpleNamespace

    from django.apps import apps as registry
    from django.db import connections

    # Every model, even while `available_apps` cuts the registry down for a test.
    apps = SimpleNamespace(get_model=lambda label, name: registry.all_models[label][name.lower()])
    editor = SimpleNamespace(connection=connections[using])
    for module, function in (
        ("shelfguard.accounts.migrations.0002_shipped_roles", "add_roles"),
        ("shelfguard.accounts.migrations.0003_more_permissions", "add"),
        ("shelfguard.accounts.migrations.0006_request_permissions", "add"),
        ("shelfguard.circulation.migrations.0002_default_policy", "add_default"),
    ):
        getattr(importlib.import_module(module), function)(apps, editor)


@pytest.fixture(autouse=True)
def _shipped_rows_in_committing_tests(request: pytest.FixtureRequest) -> None:
    """Committing tests start with the shipped rows, whatever an earlier flush removed."""
    marker = request.node.get_closest_marker("django_db")
    committing = bool(marker and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    databases = (marker.kwargs.get("databases") if marker else None) or ["default"]
    if committing and (databases == "__all__" or "default" in databases):
        request.getfixturevalue("transactional_db")
        restore_shipped_rows()
