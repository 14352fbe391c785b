"""Consistent copies of the data database, and temporary databases to restore them into.

SQLite: SQLite's online backup API copies the data database page by page
while others go on writing (WAL readers are not blocked); the copy is one
consistent state. PostgreSQL: a REPEATABLE READ transaction exports its
snapshot; `pg_dump --snapshot` dumps exactly that state while the same
transaction counts the rows and reads the ledger head, so the manifest and
the dump describe the same moment. Only the data schema is dumped: the
keystore (its own SQLite file, or the `keystore` schema) never enters a
data backup, so crypto-erasure reaches old backups too.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connections
from django.db.utils import load_backend

from shelfguard.lifecycle.errors import BackupError

SQLITE_DUMP = "database.sqlite3"
POSTGRESQL_DUMP = "database.sql"
_PAGES_PER_STEP = 256


@dataclass
class Facts:
    """What the manifest says about a database state."""

    vendor: str
    row_counts: dict[str, int] = field(default_factory=dict)
    migrations: dict[str, str] = field(default_factory=dict)
    ledger_head: dict[str, Any] | None = None
    schema: str | None = None


def _ledger_head_table() -> str:
    from shelfguard.ledger.models import ChainHead

    return ChainHead._meta.db_table


def _facts_from_cursor(cursor: Any, vendor: str, tables: list[str], quote: Callable) -> Facts:
    facts = Facts(vendor=vendor)
    for table in sorted(tables):
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
        facts.row_counts[table] = int(cursor.fetchone()[0])
    if "django_migrations" in tables:
        cursor.execute("SELECT app, MAX(name) FROM django_migrations GROUP BY app ORDER BY app")
        facts.migrations = {app: name for app, name in cursor.fetchall()}
    head = _ledger_head_table()
    if head in tables:
        cursor.execute(f"SELECT seq, hash FROM {quote(head)} WHERE id = 1")
        row = cursor.fetchone()
        facts.ledger_head = {"seq": int(row[0]), "hash": row[1]} if row else None
    return facts


def sqlite_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_facts(path: Path) -> Facts:
    """Row counts, migration state and ledger head of an SQLite file (opened read-only)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = db.cursor()
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        return _facts_from_cursor(cursor, "sqlite", tables, sqlite_quote)
    finally:
        db.close()


def sqlite_integrity(path: Path) -> str:
    """'ok', or SQLite's first complaint about the file."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("PRAGMA integrity_check").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return str(row[0]) if row else "no answer"


def copy_sqlite(alias: str, target: Path, step: Callable[[int, int], None] | None = None) -> None:
    """Copy the SQLite database behind `alias` into `target` with the online backup API."""
    connection = connections[alias]
    if connection.in_atomic_block:
        # The copy would wait forever for this very connection's own write
        # lock, or copy changes that may yet roll back: refuse instead.
        raise BackupError(
            "database_busy",
            "A backup cannot be taken inside an open transaction; run it on its own.",
        )
    connection.ensure_connection()
    dest = sqlite3.connect(target)
    try:

        def progress(_status: int, remaining: int, total: int) -> None:
            if step is not None:
                step(total - remaining, total)

        connection.connection.backup(dest, pages=_PAGES_PER_STEP, progress=progress)
    finally:
        dest.close()
    os.chmod(target, 0o600)


# --- PostgreSQL -------------------------------------------------------------------------------


def _server_major(alias: str) -> int:
    connection = connections[alias]
    connection.ensure_connection()
    return connection.pg_version // 10000


def _tool_major(binary: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def find_pg_tool(name: str, alias: str = "default") -> Path:
    """`pg_dump` or `psql` of a version that can talk to the server behind `alias`.

    Looked for in `$PG_BINDIR`, then `pg_config --bindir`, then the Debian
    layout `/usr/lib/postgresql/<major>/bin`. pg_dump refuses servers newer
    than itself, so a tool older than the server's major version is skipped.
    """
    server = _server_major(alias)
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]) / name)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            bindir = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()
            candidates.append(Path(bindir) / name)
    debian = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(re.sub(r"\D", "", Path(p).parent.parent.name) or 0),
        reverse=True,
    )
    candidates += [Path(p) for p in debian]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            major = _tool_major(candidate)
            if major is not None and major >= server:
                return candidate
    raise BackupError(
        "pg_tools",
        f"No {name} of PostgreSQL {server} or newer was found; install the PostgreSQL "
        f"{server} client programs or point PG_BINDIR at their bin directory.",
    )


def _pg_environment(settings_dict: dict[str, Any], database: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    pairs = {
        "PGHOST": settings_dict.get("HOST"),
        "PGPORT": settings_dict.get("PORT"),
        "PGUSER": settings_dict.get("USER"),
        "PGPASSWORD": settings_dict.get("PASSWORD"),
        "PGDATABASE": database or settings_dict.get("NAME"),
    }
    for key, value in pairs.items():
        if value:
            env[key] = str(value)
    options = settings_dict.get("OPTIONS") or {}
    if options.get("sslmode"):
        env["PGSSLMODE"] = str(options["sslmode"])
    return env


def _run_pg_dump(
    pg_dump: Path, connection, schema: str, target: Path, *first: str
) -> subprocess.CompletedProcess[str]:
    """pg_dump of `schema` as plain SQL into `target` (no owners, no grants); `first` goes first."""
    return subprocess.run(
        [
            str(pg_dump),
            *first,
            "--format=plain",
            "--no-owner",
            "--no-privileges",
            f"--schema={schema}",
            f"--file={target}",
        ],
        env=_pg_environment(connection.settings_dict),
        capture_output=True,
        text=True,
        check=False,
    )


def dump_postgresql(alias: str, target: Path) -> Facts:
    """pg_dump of the data schema at one snapshot, and the facts of that same snapshot."""
    pg_dump = find_pg_tool("pg_dump", alias)
    connection = connections[alias]
    raw = connection.get_new_connection(connection.get_connection_params())
    try:
        raw.autocommit = False
        with raw.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot(), current_schema()")
            snapshot, schema = cursor.fetchone()
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            tables = [row[0] for row in cursor.fetchall()]
            facts = _facts_from_cursor(cursor, "postgresql", tables, connection.ops.quote_name)
            result = _run_pg_dump(pg_dump, connection, schema, target, f"--snapshot={snapshot}")
        raw.rollback()
    finally:
        raw.close()
    if result.returncode != 0:
        if "No space left" in result.stderr or "File too large" in result.stderr:
            raise BackupError("disk_full", "pg_dump ran out of disk space.")
        raise BackupError(
            "pg_dump", f"pg_dump failed: {result.stderr.strip().splitlines()[-1:] or ['?']}"
        )
    os.chmod(target, 0o600)
    facts.schema = schema
    return facts


def dump_postgresql_schema(alias: str, schema: str, target: Path) -> None:
    """pg_dump of one schema (the keystore's) as plain SQL."""
    pg_dump = find_pg_tool("pg_dump", alias)
    connection = connections[alias]
    result = _run_pg_dump(pg_dump, connection, schema, target)
    if result.returncode != 0:
        raise BackupError("pg_dump", f"pg_dump of the {schema} schema failed.")
    os.chmod(target, 0o600)


# --- Temporary databases for verification -----------------------------------------------------


@contextlib.contextmanager
def temporary_alias(settings_dict: dict[str, Any]) -> Iterator[str]:
    """A Django database alias for a restored copy, closed and forgotten afterwards.

    The connection is made directly rather than added to settings.DATABASES:
    it exists only for this check and is invisible to everything else.
    """
    alias = f"backup_check_{uuid.uuid4().hex[:12]}"
    configured = connections.configure_settings(
        {"default": dict(settings_dict), alias: dict(settings_dict)}
    )[alias]
    wrapper = load_backend(configured["ENGINE"]).DatabaseWrapper(configured, alias)
    setattr(connections._connections, alias, wrapper)
    try:
        yield alias
    finally:
        wrapper.close()
        delattr(connections._connections, alias)


@contextlib.contextmanager
def restored_sqlite(path: Path) -> Iterator[str]:
    """An alias reading the SQLite dump at `path`."""
    base = dict(connections["default"].settings_dict) if _vendor() == "sqlite" else {}
    settings_dict = {
        **_alias_defaults(),
        **base,
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {},
        "TEST": {},
    }
    with temporary_alias(settings_dict) as alias:
        yield alias


def _vendor() -> str:
    return connections["default"].vendor


def _alias_defaults() -> dict[str, Any]:
    return {
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
    }


@contextlib.contextmanager
def restored_postgresql(dump: Path, schema: str) -> Iterator[str]:
    """A temporary PostgreSQL database holding the dump; dropped afterwards.

    A new database already has the schema `public`, which the dump of that
    schema creates: it is dropped first.
    """
    psql = find_pg_tool("psql")
    connection = connections["default"]
    name = f"shelfguard_verify_{uuid.uuid4().hex[:16]}"
    quoted = connection.ops.quote_name(name)
    maintenance = connection.get_new_connection(connection.get_connection_params())
    maintenance.autocommit = True
    try:
        with maintenance.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {quoted}")
        try:
            result = subprocess.run(
                [
                    str(psql),
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    f"DROP SCHEMA IF EXISTS {connection.ops.quote_name(schema)} CASCADE",
                    "-f",
                    str(dump),
                ],
                env=_pg_environment(connection.settings_dict, database=name),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise BackupError(
                    "restore", "The dump does not load into a fresh PostgreSQL database."
                )
            settings_dict = {**dict(connection.settings_dict), "NAME": name, "TEST": {}}
            settings_dict["CONN_MAX_AGE"] = 0
            with temporary_alias(settings_dict) as alias:
                yield alias
        finally:
            with maintenance.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        maintenance.close()


def facts_of_alias(alias: str) -> Facts:
    """The same facts as the manifest's, read through an alias of a restored copy."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        tables = [
            name
            for name in connection.introspection.table_names(cursor)
            if not name.startswith("sqlite_")
        ]
        return _facts_from_cursor(cursor, connection.vendor, tables, connection.ops.quote_name)


# --- Restoring into a named PostgreSQL database -----------------------------------------------


def postgresql_settings(url: str) -> dict[str, Any]:
    """Django settings for the database a `postgres://` URL names (no test settings)."""
    import dj_database_url

    try:
        parsed = dj_database_url.parse(url)
    except ValueError:
        parsed = {}
    if "postgresql" not in str(parsed.get("ENGINE", "")) or not parsed.get("NAME"):
        raise BackupError("database_url", "--database-url must be postgres://HOST/DATABASE.")
    return {**_alias_defaults(), **parsed, "CONN_MAX_AGE": 0, "TEST": {}}


def load_postgresql(url: str, schemas: list[str], files: list[Path], *, replace: bool) -> None:
    """Load plain SQL dumps into the database `url` names, in one transaction.

    A database holding any table is refused unless `replace`; the dumped
    `schemas` are dropped first (a new database already has `public`). psql
    runs with `--single-transaction`: an interrupted or failed load leaves
    the database as it was.
    """
    settings_dict = postgresql_settings(url)
    with temporary_alias(settings_dict) as alias:
        connection = connections[alias]
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT COUNT(*) FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                )
                tables = int(cursor.fetchone()[0])
        except Exception as exc:
            if isinstance(exc, BackupError):
                raise
            raise BackupError(
                "database_url",
                "Cannot connect to the database named by --database-url; create it first "
                "(createdb) and check the URL.",
            ) from None
        if tables and not replace:
            raise BackupError(
                "target_exists",
                "The target database is not empty; add --yes to replace it, or create a new one.",
            )
        psql = find_pg_tool("psql", alias)
        command = [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
        for schema in schemas:
            command += ["-c", f"DROP SCHEMA IF EXISTS {connection.ops.quote_name(schema)} CASCADE"]
        for path in files:
            command += ["-f", str(path)]
        result = subprocess.run(
            command,
            env=_pg_environment(settings_dict),
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        # psql's message may quote row values: it is not repeated.
        raise BackupError("restore", "psql could not load the dump into the target database.")


def empty_postgresql(url: str, schemas: list[str]) -> None:
    """Drop what `load_postgresql` loaded (after a failed restore); `public` comes back empty."""
    with temporary_alias(postgresql_settings(url)) as alias:
        connection = connections[alias]
        with connection.cursor() as cursor:
            for schema in schemas:
                cursor.execute(f"DROP SCHEMA IF EXISTS {connection.ops.quote_name(schema)} CASCADE")
            cursor.execute("CREATE SCHEMA IF NOT EXISTS public")
