"""`shelfguard keys`: the state of the keys, and rotation of the master or index key.

    shelfguard keys status [--json]
    shelfguard keys rotate [--json]            re-wrap every data key under a new master key
    shelfguard keys rotate --index [--json]    new index key, rebuild every blind index

Nothing here ever prints key material: versions, counts and where keys live.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json as jsonlib
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.models import Count

from shelfguard.core import progress as progress_bars
from shelfguard.core.actors import Actor
from shelfguard.vault import rotation
from shelfguard.vault.dbsettings import KEYSTORE_ALIAS, KEYSTORE_SCHEMA
from shelfguard.vault.errors import VaultError
from shelfguard.vault.keys import (
    data_key_count,
    index_keyring,
    master_keyring,
    verify_master_keyring,
)
from shelfguard.vault.models import DataKey, ErasureEntry

REBUILD_MODULE = "shelfguard.patrons.services"
REBUILD_FUNCTION = "rebuild_blind_indexes"


class Command(BaseCommand):
    help = (
        "Show the state of Shelfguard's keys (versions and counts, never key material), "
        "or rotate the master key or the blind-index key."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{status,rotate}")
        status = actions.add_parser(
            "status",
            help="show key versions, data key counts and pending rotations",
            description=(
                "Show the master key and index key versions, how many data keys the keystore "
                "holds (by master key version), how many were erased, and any unfinished "
                "rotation. Exits non-zero if the master key does not open the keystore."
            ),
        )
        status.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        rotate = actions.add_parser(
            "rotate",
            help="rotate the master key (or, with --index, the blind-index key)",
            description=(
                "Without --index: make a new master key version and re-wrap every data key "
                "with it; sealed values are not touched. With --index: make a new index key "
                "version and rebuild every blind index (through the patrons service). Both "
                "can be rerun after an interruption and finish the rotation under way."
            ),
        )
        rotate.add_argument(
            "--index", action="store_true", help="rotate the blind-index key instead"
        )
        rotate.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args, action: str, as_json: bool = False, **options):
        try:
            if action == "status":
                self._status(as_json=as_json)
            elif options.get("index"):
                self._rotate_index(as_json=as_json)
            else:
                self._rotate_master(as_json=as_json)
        except VaultError as exc:
            raise CommandError(str(exc)) from exc

    # --- status ---------------------------------------------------------------------------

    def _status(self, *, as_json: bool) -> None:
        report, problems = key_status()
        if as_json:
            self.stdout.write(_dumps(report))
        else:
            self.stdout.write(_status_text(report))
        if problems:
            raise CommandError(problems[0])

    # --- rotation -------------------------------------------------------------------------

    def _rotate_master(self, *, as_json: bool) -> None:
        with progress_bars.count_progress(
            None, "Re-wrapping data keys", progress_bars.wanted(as_json)
        ) as bar:
            rewrapped = rotation.rotate_master_key(progress=_advance(bar))
        ring = master_keyring(fresh=True)
        version = ring.current if ring else None
        if as_json:
            self.stdout.write(
                _dumps({"rotated": "master", "version": version, "rewrapped": rewrapped})
            )
        else:
            self.stdout.write(
                f"Master key is now version {version}; {rewrapped} data keys re-wrapped. "
                "Back up keys/master.key now: older backups of it no longer open the keystore."
            )

    def _rotate_index(self, *, as_json: bool) -> None:
        rebuild = _rebuild_function()
        with progress_bars.count_progress(
            None, "Rebuilding blind indexes", progress_bars.wanted(as_json)
        ) as bar:
            rebuilt = rotation.rotate_index_key(rebuild, progress=_advance(bar))
        ring = index_keyring(fresh=True)
        current = ring.current if ring else None
        data = {
            "rotated": "index",
            "version": current.version if current else None,
            "bits": dict(current.bits) if current else None,
            "rebuilt": rebuilt,
        }
        if as_json:
            self.stdout.write(_dumps(data))
        else:
            self.stdout.write(
                f"Index key is now version {data['version']}; {rebuilt} rows re-indexed. "
                "Back up keys/index.key now."
            )


def _advance(bar) -> Callable[[int, int | None], None] | None:
    if bar is None:
        return None
    task = bar.tasks[0].id

    def advance(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total)

    return advance


def _rebuild_function() -> Callable[[Callable[[str, str], bytes]], int]:
    """The patrons service's rebuild, found by name: the vault imports no service app."""
    try:
        spec = importlib.util.find_spec(REBUILD_MODULE)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        raise CommandError(
            f"cannot rotate the index key: {REBUILD_MODULE} is not installed, and only the "
            "patrons service can rebuild the blind indexes of its rows"
        )
    function = getattr(importlib.import_module(REBUILD_MODULE), REBUILD_FUNCTION, None)
    if not callable(function):
        raise CommandError(
            f"cannot rotate the index key: {REBUILD_MODULE} has no {REBUILD_FUNCTION}() "
            "to rebuild the blind indexes"
        )
    # Services take actor= and purpose= (one door per action, with its ledger
    # entry); pass them when the rebuild asks for them.
    parameters = inspect.signature(function).parameters
    extra: dict[str, Any] = {}
    if "actor" in parameters:
        extra["actor"] = Actor.cli_operator()
    if "purpose" in parameters:
        extra["purpose"] = "blind index key rotation"
    if not extra:
        return function

    def rebuild(index: Callable[[str, str], bytes]) -> int:
        return function(index, **extra)

    return rebuild


# --- status report ---------------------------------------------------------------------------


def key_status() -> tuple[dict[str, Any], list[str]]:
    """The status report (JSON-ready) and the problems found, if any."""
    problems: list[str] = []
    master = master_keyring(fresh=True)
    index = index_keyring(fresh=True)
    count = data_key_count()
    by_version: dict[str, int] = {}
    erased = 0
    if count:
        rows = (
            DataKey.objects.using(KEYSTORE_ALIAS)
            .values("kek_version")
            .annotate(n=Count("key_id"))
            .order_by("kek_version")
        )
        by_version = {str(row["kek_version"]): row["n"] for row in rows}
    if ErasureEntry._meta.db_table in _keystore_tables():
        erased = ErasureEntry.objects.using(KEYSTORE_ALIAS).count()

    master_report: dict[str, Any] | None = None
    if master is None:
        if count:
            problems.append(
                f"keys/master.key is missing but the keystore holds {count} data keys; restore "
                "it from your key backup"
            )
    else:
        master_report = {
            "version": master.current,
            "source": master.source,
            "versions_available": list(master.versions),
            "rotation_pending": master.rotation_pending,
        }
        try:
            verify_master_keyring(master)
            master_report["opens_keystore"] = True
        except VaultError as exc:
            master_report["opens_keystore"] = False
            problems.append(str(exc))

    index_report: dict[str, Any] | None = None
    if index is not None:
        index_report = {
            "version": index.current.version if index.current else None,
            "source": index.source,
            "bits": dict(index.current.bits) if index.current else None,
            "pending_version": index.pending.version if index.pending else None,
        }

    report = {
        "master_key": master_report,
        "index_key": index_report,
        "data_keys": count,
        "data_keys_by_master_version": by_version,
        "erased_keys": erased,
        "keystore": _keystore_location(),
    }
    return report, problems


def _keystore_tables() -> list[str]:
    connection = connections[KEYSTORE_ALIAS]
    with connection.cursor() as cursor:
        return connection.introspection.table_names(cursor)


def _keystore_location() -> dict[str, str]:
    connection = connections[KEYSTORE_ALIAS]
    if connection.vendor == "postgresql":
        return {
            "engine": "postgresql",
            "location": f"schema {KEYSTORE_SCHEMA} of database {connection.settings_dict['NAME']}",
        }
    return {"engine": connection.vendor, "location": str(connection.settings_dict["NAME"])}


def _status_text(report: dict[str, Any]) -> str:
    lines: list[str] = []
    master = report["master_key"]
    if master is None:
        lines.append("Master key: none (run `shelfguard init`)")
    else:
        lines.append(f"Master key: version {master['version']} ({master['source']})")
        if master["rotation_pending"]:
            older = ", ".join(
                str(v) for v in master["versions_available"] if v != master["version"]
            )
            lines.append(
                f"  rotation unfinished: version {older} kept until every data key is "
                "re-wrapped; run `shelfguard keys rotate` to finish"
            )
        if not master.get("opens_keystore", True):
            lines.append("  DOES NOT OPEN THE KEYSTORE: restore the right key from your backup")
    index = report["index_key"]
    if index is None:
        lines.append("Index key: none (run `shelfguard init`)")
    else:
        if index["version"] is None:
            lines.append("Index key: none current")
        else:
            bits = ", ".join(f"{kind} {n}" for kind, n in index["bits"].items())
            lines.append(
                f"Index key: version {index['version']} ({index['source']}); index lengths in "
                f"bits: {bits}"
            )
        if index["pending_version"] is not None:
            lines.append(
                f"  rotation unfinished: version {index['pending_version']} pending; run "
                "`shelfguard keys rotate --index` to finish"
            )
    by_version = ", ".join(
        f"master key v{version}: {n}"
        for version, n in report["data_keys_by_master_version"].items()
    )
    lines.append(f"Data keys: {report['data_keys']}" + (f" ({by_version})" if by_version else ""))
    lines.append(f"Erased keys: {report['erased_keys']}")
    lines.append(f"Keystore: {report['keystore']['engine']}, {report['keystore']['location']}")
    return "\n".join(lines)


def _dumps(obj: Any) -> str:
    return jsonlib.dumps(obj, ensure_ascii=False)
