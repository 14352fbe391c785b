"""Lifecycle services: the doors for backups (create, keys, verify, restore, prune, status).

Each door takes `actor=` and `purpose=`, and records its run in one
transaction: a `BackupRun` row and a ledger entry (ids and counts only). A
backup copies sealed data without reading it; a verification opens a sample
of sealed fields with the live keystore and throws the values away, and its
ledger entry says so.

The work itself lives by subject: `backup` (create), `verify`, `restore`,
`backup_retention`, `archive` (the file format), `snapshot` (databases).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from django.db import transaction

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.home import home_dir
from shelfguard.ledger import services as ledger
from shelfguard.lifecycle import approvals, archive, backup, recycle
from shelfguard.lifecycle import backup_retention as retention
from shelfguard.lifecycle import restore as restoring
from shelfguard.lifecycle.errors import BackupError
from shelfguard.lifecycle.models import BackupRun
from shelfguard.lifecycle.verify import Verification, verify_file

__all__ = [
    "ApprovalError",
    "BackupError",
    "BackupRun",
    "BinError",
    "approvals",
    "create_backup",
    "create_keys_backup",
    "finish_restore",
    "list_backups",
    "prune_backups",
    "recycle",
    "restore_backup",
    "run_scheduled_backup",
    "status",
    "verify_backup",
]

T = TypeVar("T")

# The recycle bin and four-eyes approvals (issue 7) live in `recycle` and
# `approvals`; their errors are re-exported for the faces.
ApprovalError = approvals.ApprovalError
BinError = recycle.BinError


def _record(
    *,
    actor: Actor,
    purpose: str,
    kind: str,
    started_at: dt.datetime,
    started: float,
    ok: bool,
    file_name: str = "",
    size_bytes: int | None = None,
    dump_bytes: int | None = None,
    problems: list[str] | None = None,
    message: str = "",
    detail: dict[str, Any] | None = None,
) -> BackupRun:
    with transaction.atomic():
        run = BackupRun.objects.create(
            kind=kind,
            outcome=BackupRun.Outcome.OK if ok else BackupRun.Outcome.FAILED,
            started_at=started_at,
            duration_ms=int((time.perf_counter() - started) * 1000),
            file_name=file_name[:255],
            size_bytes=size_bytes,
            dump_bytes=dump_bytes,
            problems=problems or [],
            message=message[:500],
        )
        ledger.append(
            actor=actor,
            action=f"backup.{kind}",
            purpose=purpose,
            detail={"run": run.pk, "ok": ok, **(detail or {})},
        )
    return run


def _recorded(kind: str, actor: Actor, purpose: str, file_name: str, work: Callable[[], T]) -> T:
    """Run `work`, recording a failed run (and re-raising) when it raises BackupError."""
    started_at, started = clock.now(), time.perf_counter()
    try:
        return work()
    except BackupError as exc:
        _record(
            actor=actor,
            purpose=purpose,
            kind=kind,
            started_at=started_at,
            started=started,
            ok=False,
            file_name=file_name,
            problems=[exc.code],
            message=exc.message,
            detail={"code": exc.code},
        )
        raise


def _create_recorded(
    kind: str,
    actor: Actor,
    purpose: str,
    make: Callable[[], backup.Created],
    *,
    size_in_detail: bool,
) -> backup.Created:
    """Run `make` (a backup writer) and record its run, failed or done."""
    started_at, started = clock.now(), time.perf_counter()
    created = _recorded(kind, actor, purpose, "", make)
    _record(
        actor=actor,
        purpose=purpose,
        kind=kind,
        started_at=started_at,
        started=started,
        ok=True,
        file_name=created.path.name,
        size_bytes=created.size_bytes,
        dump_bytes=created.dump_bytes,
        detail={"size_bytes": created.size_bytes} if size_in_detail else None,
    )
    return created


def create_backup(
    *, actor: Actor, purpose: str, directory: Path | None = None, show_progress: bool = False
) -> backup.Created:
    """Take an encrypted data backup; returns what was written."""
    return _create_recorded(
        BackupRun.Kind.CREATE,
        actor,
        purpose,
        lambda: backup.create_data_backup(directory, show_progress=show_progress),
        size_in_detail=True,
    )


def create_keys_backup(
    *, actor: Actor, purpose: str, directory: Path | None = None, show_progress: bool = False
) -> backup.Created:
    """Back up the master and index keys and the keystore, to the recovery recipients."""
    return _create_recorded(
        BackupRun.Kind.KEYS,
        actor,
        purpose,
        lambda: backup.create_keys_backup(directory, show_progress=show_progress),
        size_in_detail=False,
    )


def verify_backup(
    path: Path, identity: Path, *, actor: Actor, purpose: str, show_progress: bool = False
) -> Verification:
    """Prove a backup restores (see `verify.py`); records the outcome whatever it is."""
    started_at, started = clock.now(), time.perf_counter()
    result = verify_file(Path(path), Path(identity), show_progress=show_progress)
    size = Path(path).stat().st_size if Path(path).is_file() else None
    with transaction.atomic():
        _record(
            actor=actor,
            purpose=purpose,
            kind=BackupRun.Kind.VERIFY,
            started_at=started_at,
            started=started,
            ok=result.ok,
            file_name=Path(path).name,
            size_bytes=size,
            dump_bytes=result.manifest.get("dump_bytes"),
            problems=[p.code for p in result.problems],
            message="; ".join(p.message for p in result.problems),
            detail={
                "sampled": result.checks.get("sealed_sampled", 0),
                "readable": result.checks.get("sealed_readable", 0),
                "erased": result.checks.get("expected_erased", 0),
            },
        )
        # Each patron whose sealed values were opened (and thrown away) is named,
        # so their own access log shows the test restore.
        for patron_id, fields in result.opened:
            ledger.append(
                actor=actor,
                action="backup.verify_seal",
                purpose=purpose,
                patron_id=patron_id,
                fields=fields,
                detail={"file": Path(path).name[:200]},
            )
    return result


def restore_backup(
    path: Path,
    identity: Path,
    target: Path,
    *,
    actor: Actor,
    purpose: str,
    keys_backup: Path | None = None,
    keys_identity: Path | None = None,
    database_url: str | None = None,
    overwrite: bool = False,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Restore a data backup into a data home, re-applying every later erasure first.

    A PostgreSQL backup is loaded into the database `database_url` names,
    which the restored home is then configured to use.
    """
    started_at, started = clock.now(), time.perf_counter()
    outcome = _recorded(
        BackupRun.Kind.RESTORE,
        actor,
        purpose,
        Path(path).name,
        lambda: restoring.restore(
            path,
            identity,
            target,
            keys_backup=keys_backup,
            keys_identity=keys_identity,
            database_url=database_url,
            overwrite=overwrite,
            show_progress=show_progress,
        ),
    )
    if Path(target).expanduser().resolve() == home_dir():
        # The live home was replaced: its database is the restored one now.
        from django.db import connections

        connections.close_all()
    _record(
        actor=actor,
        purpose=purpose,
        kind=BackupRun.Kind.RESTORE,
        started_at=started_at,
        started=started,
        ok=True,
        file_name=Path(path).name,
        detail={
            "keys_destroyed": outcome.get("keys_destroyed", 0),
            "tombstoned": outcome.get("tombstoned", 0),
        },
    )
    return outcome


def finish_restore(*, actor: Actor, purpose: str) -> dict[str, Any]:
    """In a freshly staged home: migrate, destroy journalled keys, erase journalled patrons."""
    from django.core.management import call_command

    from shelfguard.core.home import restrict_database_file
    from shelfguard.lifecycle.verify import patron_id_of
    from shelfguard.patrons import services as patrons
    from shelfguard.patrons.models import Patron, PatronStatus
    from shelfguard.vault import keystore
    from shelfguard.vault.dbsettings import KEYSTORE_ALIAS

    call_command("migrate", interactive=False, verbosity=0)
    call_command("migrate", database=KEYSTORE_ALIAS, interactive=False, verbosity=0)
    journal = keystore.journal_path()
    destroyed = keystore.reapply_journal(journal)
    tombstoned = refused = 0
    for entry in keystore.read_journal(journal):
        patron_id = patron_id_of(entry.owner)
        if patron_id is None:
            continue
        status_now = Patron.objects.filter(pk=patron_id).values_list("status", flat=True).first()
        if status_now is None or status_now == PatronStatus.ERASED:
            continue
        try:
            patrons.erase(
                patron_id,
                actor=actor,
                reason="erased after this backup was taken; re-applied on restore",
                purpose=purpose,
            )
            tombstoned += 1
        except patrons.PatronError:
            # The key is destroyed already; the row stays, unreadable.
            refused += 1
    restrict_database_file(home_dir())
    summary = {
        "journal_entries": len(keystore.read_journal(journal)),
        "keys_destroyed": destroyed,
        "tombstoned": tombstoned,
        "tombstone_refused": refused,
    }
    with transaction.atomic():
        ledger.append(actor=actor, action="backup.finish_restore", purpose=purpose, detail=summary)
    return summary


def list_backups(directory: Path | None = None) -> list[retention.Decision]:
    """Every backup in the directory, with what the retention rules would do with it."""
    retention.configured_rules()  # a bad setting is reported even before the first backup
    target = Path(directory).resolve() if directory else archive.default_directory()
    return retention.plan(target) if target.is_dir() else []


def prune_backups(
    *, actor: Actor, purpose: str, directory: Path | None = None, dry_run: bool = False
) -> list[retention.Decision]:
    retention.configured_rules()
    target = Path(directory).resolve() if directory else archive.default_directory()
    if not target.is_dir():
        return []
    decisions = retention.prune(target, dry_run=dry_run)
    if not dry_run:
        with transaction.atomic():
            ledger.append(
                actor=actor,
                action="backup.prune",
                purpose=purpose,
                detail={"deleted": sum(1 for d in decisions if not d.keep)},
            )
    return decisions


def _run_dict(run: BackupRun | None, now: dt.datetime) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "at": run.started_at.isoformat(),
        "age_hours": round((now - run.started_at).total_seconds() / 3600, 2),
        "outcome": run.outcome,
        "file": run.file_name,
        "size_bytes": run.size_bytes,
        "duration_ms": run.duration_ms,
        "problems": run.problems,
    }


def status() -> dict[str, Any]:
    """Last backup, last successful verification and their ages, for dashboards and jobs."""
    now = clock.now()
    runs = BackupRun.objects.all()
    last_create = runs.filter(kind=BackupRun.Kind.CREATE).first()
    last_good = runs.filter(kind=BackupRun.Kind.CREATE, outcome=BackupRun.Outcome.OK).first()
    last_verified = runs.filter(kind=BackupRun.Kind.VERIFY, outcome=BackupRun.Outcome.OK).first()
    last_verify = runs.filter(kind=BackupRun.Kind.VERIFY).first()
    last_keys = runs.filter(kind=BackupRun.Kind.KEYS, outcome=BackupRun.Outcome.OK).first()
    try:
        configured = bool(archive.settings().get("recipients"))
    except BackupError:
        configured = False
    return {
        "recipients_configured": configured,
        "last_backup": _run_dict(last_create, now),
        "last_successful_backup": _run_dict(last_good, now),
        "last_verification": _run_dict(last_verify, now),
        "last_successful_verification": _run_dict(last_verified, now),
        "last_keys_backup": _run_dict(last_keys, now),
    }


SCHEDULED_PURPOSE = "scheduled backup"


def run_scheduled_backup() -> dict[str, Any]:
    """The job runner's entry point: a data backup, its verification when possible, a prune.

    Verification needs an identity; the library's own stays offline, so an
    automatic test restore uses a second recipient whose identity file is named
    in `[backup] verify_identity` (see docs/operators/backups.md). Without it
    the backup is made and pruned, and `status()` shows it unverified.
    """
    actor = Actor.system("backup")
    created = create_backup(actor=actor, purpose=SCHEDULED_PURPOSE)
    summary: dict[str, Any] = {"file": created.path.name, "size_bytes": created.size_bytes}
    identity = archive.settings().get("verify_identity")
    if identity:
        result = verify_backup(
            created.path, Path(str(identity)), actor=actor, purpose=SCHEDULED_PURPOSE
        )
        summary["verified"] = result.ok
        summary["problems"] = [p.code for p in result.problems]
    decisions = prune_backups(actor=actor, purpose=SCHEDULED_PURPOSE)
    summary["pruned"] = sum(1 for d in decisions if not d.keep)
    return summary
