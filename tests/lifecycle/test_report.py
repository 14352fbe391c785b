"""The privacy report's gatherer: figures from crafted data, compared with direct counts.

All data is synthetic. The clock is frozen so that ages and deadlines are exact.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.db import transaction
from django.db.models.functions import TruncDate
from django.utils import timezone

from shelfguard.accounts import services as accounts
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.feedback import services as feedback
from shelfguard.jobs.models import JobRun
from shelfguard.ledger.models import Entry
from shelfguard.lifecycle import report
from shelfguard.lifecycle.models import BackupRun
from shelfguard.patrons import services as patrons
from tests.accounts.helpers import make_staff

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
OPERATOR = Actor(kind="cli", ident="report-tests", channel="cli")
PURPOSE = "privacy report test"


def backup_run(kind: str, outcome: str, at: dt.datetime) -> BackupRun:
    return BackupRun.objects.create(kind=kind, outcome=outcome, started_at=at, file_name="b.age")


def gather(**kwargs):
    with clock.frozen(NOW):
        return report.gather(actor=OPERATOR, purpose=PURPOSE, **kwargs)


def test_a_verified_backup_older_than_26_hours_is_flagged(library):
    backup_run("create", "ok", NOW - dt.timedelta(hours=30))
    backup_run("verify", "ok", NOW - dt.timedelta(hours=29))
    backup_run("verify", "failed", NOW - dt.timedelta(hours=3))
    backups = gather()["backups"]
    assert backups["stale"] is True
    assert backups["verified_age_hours"] == 29.0
    assert backups["last_verification"]["outcome"] == "failed"
    assert backups["last_successful_verification"]["age_hours"] == 29.0
    # The chart's last day ends "now": the same age.
    assert backups["verified_age_per_day"][-1]["hours"] == 29.0


def test_a_fresh_verified_backup_is_not_flagged_and_never_verified_is(library):
    assert gather()["backups"]["stale"] is True  # nothing verified at all
    backup_run("verify", "ok", NOW - dt.timedelta(hours=25, minutes=30))
    backups = gather()["backups"]
    assert backups["stale"] is False
    assert backups["verified_age_hours"] == 25.5


def test_certifications_expiring_expired_and_missing(library):
    today = NOW.date()
    with clock.frozen(NOW):
        soon = make_staff("cert-soon", "circulation-desk", certified=False, enrol=False)
        later = make_staff("cert-later", "circulation-desk", certified=False, enrol=False)
        gone = make_staff("cert-gone", "circulation-desk", certified=False, enrol=False)
        make_staff("cert-none", "circulation-desk", certified=False, enrol=False)
        make_staff("cert-cataloguer", "cataloguer", certified=False, enrol=False)
    # Recorded when the course was passed, 400 days ago.
    with clock.frozen(NOW - dt.timedelta(days=400)):
        for staff, until in ((soon, 12), (later, 90), (gone, -3)):
            accounts.certify(
                staff,
                course="Synthetic privacy course",
                until=today + dt.timedelta(days=until),
                actor=OPERATOR,
            )
    certs = gather()["certifications"]
    assert certs["shown"] is True
    assert [(c["staff"], c["days_left"]) for c in certs["expiring"]] == [("cert-soon", 12)]
    assert [(c["staff"], c["days_ago"]) for c in certs["expired"]] == [("cert-gone", 3)]
    # The cataloguer needs no certification, so is not listed as missing.
    assert [c["staff"] for c in certs["missing"]] == ["cert-none"]


def test_overdue_privacy_requests_are_counted_with_their_age(library):
    filed_at = NOW - dt.timedelta(days=45)
    for kind in ("access", "deletion"):
        with clock.frozen(filed_at):
            feedback.file_request(
                kind=kind,
                description="A synthetic request text.",
                contact="requester@example.org",
                actor=Actor.public("web"),
                purpose="privacy request",
            )
    with clock.frozen(NOW - dt.timedelta(days=1)):
        feedback.file_request(
            kind="access",
            description="Another synthetic request.",
            contact="someone@example.org",
            actor=Actor.public("web"),
            purpose="privacy request",
        )
    requests = gather()["privacy_requests"]
    assert requests["open_count"] == 3
    assert requests["overdue_count"] == 2
    oldest = requests["open"][0]
    assert oldest["age_days"] == 45 and oldest["overdue"] is True
    assert oldest["days_overdue"] == -oldest["days_left"] > 0
    assert requests["open"][-1]["overdue"] is False


def test_reveals_per_day_by_channel_and_role_equal_a_direct_count(library, make_patron):
    with clock.frozen(NOW - dt.timedelta(days=40)):
        desk = make_staff("rv-desk", "circulation-desk", enrol=False)
        officer = make_staff("rv-officer", "privacy-officer", enrol=False)
        patron = make_patron()
    plan = [
        (2, accounts.staff_actor(desk), 3),
        (2, accounts.staff_actor(officer, "api"), 1),
        (5, accounts.staff_actor(desk, "sip2"), 2),
        (29, accounts.staff_actor(officer), 1),
        (35, accounts.staff_actor(desk), 4),  # outside the 30 days
        (0, Actor(kind="patron", ident=str(patron.pk), channel="web"), 2),
    ]
    for days_ago, actor, times in plan:
        for _ in range(times):
            with clock.frozen(NOW - dt.timedelta(days=days_ago, hours=1)):
                patrons.reveal(patron, ["name"], actor=actor, purpose="desk enquiry")
    reveals = gather()["reveals"]

    # The same figures counted directly, one entry at a time.
    start = timezone.make_aware(dt.datetime.combine(report.chart_days(NOW)[0], dt.time.min))
    entries = list(
        Entry.objects.filter(action="patron.reveal", at__gte=start, at__lte=NOW).annotate(
            day=TruncDate("at", tzinfo=timezone.get_current_timezone())
        )
    )
    roles = {"rv-desk": "circulation-desk", "rv-officer": "privacy-officer"}
    by_channel = Counter((e.day.isoformat(), e.channel) for e in entries)
    by_role = Counter(
        (e.day.isoformat(), roles.get(e.actor_id, f"({e.actor_kind})")) for e in entries
    )
    assert reveals["total"] == len(entries) == 9
    for name, series in reveals["by_channel"].items():
        for day, n in zip(reveals["days"], series, strict=True):
            assert by_channel.pop((day, name), 0) == n
    for name, series in reveals["by_role"].items():
        for day, n in zip(reveals["days"], series, strict=True):
            assert by_role.pop((day, name), 0) == n
    assert not by_channel and not by_role
    assert set(reveals["by_channel"]) == {"api", "sip2", "web"}
    assert set(reveals["by_role"]) == {"circulation-desk", "privacy-officer", "(patron)"}


def test_last_retention_run_counts_per_rule_and_as_of_cuts_off(library):
    JobRun.objects.create(
        job="retention",
        started_at=NOW - dt.timedelta(days=3),
        finished_at=NOW - dt.timedelta(days=3),
        outcome="ok",
        summary={"destroyed": 4, "rules": 2, "failed": 0, "web-sessions": {"destroyed": 4}},
    )
    JobRun.objects.create(
        job="retention",
        started_at=NOW - dt.timedelta(hours=5),
        finished_at=NOW - dt.timedelta(hours=5),
        outcome="ok",
        summary={
            "destroyed": 7,
            "rules": 2,
            "failed": 0,
            "loan-patron-link": {"destroyed": 5, "kept": 1},
            "web-sessions": {"destroyed": 2},
        },
    )
    last = gather()["retention"]["last_run"]
    assert last["destroyed"] == 7
    assert last["rules"] == [
        {"rule": "loan-patron-link", "counts": {"destroyed": 5, "kept": 1}},
        {"rule": "web-sessions", "counts": {"destroyed": 2}},
    ]
    earlier = gather(now=report.end_of_day((NOW - dt.timedelta(days=2)).date()))
    assert earlier["retention"]["last_run"]["destroyed"] == 4


def test_gathering_is_recorded_with_counts_only(library):
    backup_run("verify", "ok", NOW - dt.timedelta(hours=1))
    figures = gather(output="json")
    assert tuple(figures) == report.KEYS
    entry = Entry.objects.filter(action="lifecycle.privacy_report").get()
    assert entry.patron_id is None and entry.fields == []
    assert entry.detail["output"] == "json" and entry.detail["backup_stale"] == 0
    assert all(isinstance(v, int) for k, v in entry.detail.items() if k != "output")


def test_ledger_status_shows_the_recorded_verification(library, run_cli):
    assert gather()["ledger"]["last_verification"] is None
    result = run_cli("audit", "verify", "--json")
    assert result.code == 0, result.err
    ledger = report.gather(actor=OPERATOR, purpose=PURPOSE)["ledger"]
    verification = ledger["last_verification"]
    assert verification["ok"] is True
    assert verification["entries"] == result.json()["entries"]
    assert ledger["head_seq"] >= verification["head_seq"]


def test_an_unknown_output_is_refused(library):
    with pytest.raises(ValueError, match="output must be one of"):
        gather(output="xlsx")


def test_recycle_bin_and_pending_approvals(library, make_patron):
    from shelfguard.lifecycle import approvals, recycle

    with clock.frozen(NOW - dt.timedelta(hours=2)):
        binned, first, second = make_patron(), make_patron(), make_patron()
        recycle.delete(
            "patron", binned.pk, actor=OPERATOR, purpose=PURPOSE, reason="duplicate card"
        )
        asked = approvals.request(
            approvals.ERASE_PATRONS,
            {"patron_ids": [first.pk, second.pk]},
            actor=OPERATOR,
            purpose=PURPOSE,
            reason="closing two test accounts",
        )
    figures = gather()
    assert figures["recycle_bin"]["installed"] is True
    assert figures["recycle_bin"]["items"] == 1
    assert figures["recycle_bin"]["by_kind"] == {"patron": 1}
    assert figures["recycle_bin"]["purge_due"] == 0
    [pending] = figures["approvals"]["pending"]
    assert pending["id"] == asked.pk and pending["count"] == 2
    assert "reason" not in pending  # free text stays out of the report


def test_first_seq_since_finds_the_start_of_a_period(library):
    from shelfguard.ledger import services as ledger_services

    start = NOW - dt.timedelta(days=10)
    seqs = []
    for hours in range(0, 240, 7):
        with clock.frozen(start + dt.timedelta(hours=hours)), transaction.atomic():
            seqs.append(
                (
                    hours,
                    ledger_services.append(actor=OPERATOR, action="test.tick", purpose=PURPOSE).seq,
                )
            )
    for hours in (0, 1, 7, 50, 233, 239):
        moment = start + dt.timedelta(hours=hours)
        expected = next((seq for h, seq in seqs if h >= hours), seqs[-1][1] + 1)
        assert report.first_seq_since(moment) == expected, hours
    assert report.first_seq_since(start - dt.timedelta(days=1)) <= seqs[0][1]
