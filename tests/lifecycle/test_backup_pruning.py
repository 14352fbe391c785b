"""Backup retention at its boundaries: days, ISO weeks, months, and keys backups by age."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from shelfguard.core import clock
from shelfguard.lifecycle import archive
from shelfguard.lifecycle.backup_retention import decide

from .backup_helpers import (
    COMMITTING,
    create,
)

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def files(*specs: tuple[str, str]) -> list[archive.BackupFile]:
    return [
        archive.BackupFile(path=Path(f"{kind}-{when}"), kind=kind, created_at=at(when))
        for kind, when in specs
    ]


def kept(decisions) -> list[str]:
    return [d.backup.created_at.isoformat()[:19] for d in decisions if d.keep]


def rules(**overrides: int) -> dict[str, int]:
    base = {"keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0, "keys_keep_days": 7}
    return {**base, **overrides}


def test_daily_keeps_the_newest_of_each_of_the_newest_days():
    backups = files(
        *(("data", f"2026-03-0{day}T02:00:00") for day in range(1, 6)),
        ("data", "2026-03-05T14:00:00"),
    )

    decisions = decide(backups, now=at("2026-03-05T15:00:00"), **rules(keep_daily=3))

    assert kept(decisions) == ["2026-03-03T02:00:00", "2026-03-04T02:00:00", "2026-03-05T14:00:00"]


def test_weekly_buckets_break_between_sunday_and_monday():
    # 2026-03-08 is the Sunday ending ISO week 10; 2026-03-09 is the Monday of week 11.
    backups = files(
        ("data", "2026-03-01T02:00:00"),
        ("data", "2026-03-07T02:00:00"),
        ("data", "2026-03-08T23:59:59"),
        ("data", "2026-03-09T00:00:00"),
        ("data", "2026-03-10T02:00:00"),
    )

    decisions = decide(backups, now=at("2026-03-10T03:00:00"), **rules(keep_weekly=2))

    assert kept(decisions) == ["2026-03-08T23:59:59", "2026-03-10T02:00:00"]


def test_monthly_buckets_break_at_midnight_on_the_first():
    backups = files(
        ("data", "2026-01-31T23:59:59"),
        ("data", "2026-02-01T00:00:00"),
        ("data", "2026-02-28T23:59:59"),
        ("data", "2026-03-01T00:00:00"),
    )

    decisions = decide(backups, now=at("2026-03-01T01:00:00"), **rules(keep_monthly=2))

    assert kept(decisions) == ["2026-02-28T23:59:59", "2026-03-01T00:00:00"]


def test_the_newest_data_backup_is_kept_even_with_every_rule_at_zero():
    backups = files(("data", "2026-01-01T00:00:00"), ("data", "2026-02-01T00:00:00"))

    decisions = decide(backups, now=at("2026-06-01T00:00:00"), **rules())

    assert kept(decisions) == ["2026-02-01T00:00:00"]


def test_a_keys_backup_expires_exactly_at_keys_keep_days_even_the_newest():
    now = at("2026-03-10T12:00:00")
    backups = files(
        ("keys", "2026-03-03T12:00:00"),  # exactly 7 days old: gone
        ("keys", "2026-03-03T12:00:01"),  # one second younger: kept
    )

    assert kept(decide(backups, now=now, **rules())) == ["2026-03-03T12:00:01"]
    later = decide(backups, now=now + dt.timedelta(seconds=1), **rules())
    assert kept(later) == [], "the newest keys backup expires too"


@COMMITTING
def test_prune_deletes_only_what_the_rules_drop_and_dry_run_deletes_nothing(
    configured, make_patron, run_cli
):
    configure_retention = configured / "shelfguard.toml"
    configure_retention.write_text(
        configure_retention.read_text().replace(
            "[backup]",
            "[backup]\nkeep_daily = 2\nkeep_weekly = 0\nkeep_monthly = 0\nkeys_keep_days = 1",
        )
    )
    make_patron()
    with clock.frozen(at("2026-03-05T02:00:00")):
        real = create().path
    directory = real.parent
    names = {
        "shelfguard-data-20260303T020000Z.tar.gz.age",
        "shelfguard-data-20260304T020000Z.tar.gz.age",
        "shelfguard-keys-20260304T020000Z.tar.gz.age",
        "shelfguard-keys-20260304T020001Z.tar.gz.age",
    }
    for name in names:
        shutil.copyfile(real, directory / name)
    (directory / ".tmp-left-by-a-killed-run").write_bytes(b"partial")

    with clock.frozen(at("2026-03-05T02:00:00")):
        dry = run_cli("backup", "prune", "--dry-run", "--json")
        assert dry.code == 0, dry.err
        assert sorted(dry.json()["deleted"]) == [
            "shelfguard-data-20260303T020000Z.tar.gz.age",
            "shelfguard-keys-20260304T020000Z.tar.gz.age",
        ]
        assert all((directory / name).exists() for name in names)
        done = run_cli("backup", "prune", "--json")

    assert done.code == 0, done.err
    remaining = sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))
    assert remaining == [
        "shelfguard-data-20260304T020000Z.tar.gz.age",
        real.name,
        "shelfguard-keys-20260304T020001Z.tar.gz.age",
    ]
    assert not (directory / ".tmp-left-by-a-killed-run").exists()


@pytest.mark.parametrize("value", ["-1", '"seven"', "true"])
@COMMITTING
def test_a_bad_retention_setting_is_refused_with_a_clear_message(configured, run_cli, value):
    config = configured / "shelfguard.toml"
    config.write_text(config.read_text().replace("[backup]", f"[backup]\nkeep_daily = {value}"))

    result = run_cli("backup", "list")

    assert result.code != 0
    assert "keep_daily must be a whole number" in result.err
