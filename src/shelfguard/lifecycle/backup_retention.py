"""Which backups to keep: daily, weekly and monthly data backups; keys backups for days.

(The retention of records inside the database is `retention.py`; this is
about backup files.)

Data backups follow grandfather-father-son retention: the newest backup of
each of the last `keep_daily` days that have one, of each of the last
`keep_weekly` ISO weeks and of each of the last `keep_monthly` months (UTC
dates of the time in the file name). The newest data backup is always kept.

Keys backups are kept strictly by age, `keys_keep_days` (default 7): one
made at T is kept while now - T < keys_keep_days days. The newest is *not*
exempt: a keystore backup holds the keys of patrons erased since it was
made, so it must expire whatever else happens. Make one every day (see
docs/operators/backups.md) so that a fresh one always exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelfguard.core import clock
from shelfguard.lifecycle import archive


@dataclass
class Decision:
    backup: archive.BackupFile
    keep: bool
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.backup.path.name,
            "kind": self.backup.kind,
            "created_at": self.backup.created_at.isoformat(),
            "size_bytes": self.backup.size,
            "keep": self.keep,
            "reasons": self.reasons,
        }


def _buckets(
    data: list[archive.BackupFile],
    count: int,
    period: Callable[[dt.datetime], Any],
    label: str,
    reasons: dict[Path, list[str]],
) -> None:
    """Mark the newest backup of each of the newest `count` periods that have one."""
    seen: list[Any] = []
    for backup in sorted(data, key=lambda b: b.created_at, reverse=True):
        bucket = period(backup.created_at)
        if bucket in seen:
            continue
        if len(seen) >= count:
            break
        seen.append(bucket)
        reasons[backup.path].append(label)


def decide(
    backups: list[archive.BackupFile],
    *,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    keys_keep_days: int,
    now: dt.datetime,
) -> list[Decision]:
    reasons: dict[Path, list[str]] = {b.path: [] for b in backups}
    data = [b for b in backups if b.kind == archive.DATA]
    if data:
        reasons[max(data, key=lambda b: (b.created_at, b.path.name)).path].append("newest")
    _buckets(data, keep_daily, lambda t: t.date(), "daily", reasons)
    _buckets(data, keep_weekly, lambda t: tuple(t.isocalendar())[:2], "weekly", reasons)
    _buckets(data, keep_monthly, lambda t: (t.year, t.month), "monthly", reasons)
    limit = dt.timedelta(days=keys_keep_days)
    for backup in backups:
        if backup.kind == archive.KEYS and now - backup.created_at < limit:
            reasons[backup.path].append("keys_recent")
    return [Decision(b, bool(reasons[b.path]), reasons[b.path]) for b in backups]


def configured_rules() -> dict[str, int]:
    """The `[backup]` retention settings (defaults 7 daily, 4 weekly, 6 monthly, keys 7 days)."""
    return {name: archive.retention_setting(name) for name in archive.DEFAULT_RETENTION}


def plan(directory: Path) -> list[Decision]:
    return decide(archive.backup_files(directory), now=clock.now(), **configured_rules())


def prune(directory: Path, *, dry_run: bool) -> list[Decision]:
    """Delete the backups the retention rules do not keep (unless `dry_run`)."""
    with archive.locked(directory):
        decisions = plan(directory)
        if not dry_run:
            for decision in decisions:
                if not decision.keep:
                    decision.backup.path.unlink(missing_ok=True)
    return decisions
