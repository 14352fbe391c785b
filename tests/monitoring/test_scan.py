"""The scan: incremental, idempotent, bounded, recorded, mailed without patron data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from shelfguard.core import clock
from shelfguard.jobs import services as jobs
from shelfguard.ledger.models import Entry
from shelfguard.monitoring import services
from shelfguard.monitoring.models import Alert, ScanCursor
from tests.monitoring.conftest import BOTH_DATABASES, MONDAY, OFFICER_EMAIL, at

pytestmark = BOTH_DATABASES

NIGHT = at(MONDAY, 22)


def night_reveals(record, patrons=(987_651, 987_652)):
    for patron in patrons:
        record(NIGHT, "patron.reveal", patron_id=patron)
        record(NIGHT + dt.timedelta(minutes=1), "circulation.checkout", patron_id=patron)


def test_rescanning_never_duplicates_an_alert(desk, record):
    night_reveals(record)
    with clock.frozen(at(MONDAY, 23)):
        first = services.scan()
        again = services.scan()
    assert len(first.raised) == 1 and again.raised == [] and again.scanned <= 1
    # Even from the very start of the ledger, the same alerts are found and refused.
    ScanCursor.objects.update(last_seq=0, idle_seq=0)
    with clock.frozen(at(MONDAY, 23, 5)):
        rescan = services.scan()
    assert rescan.scanned > 4 and rescan.raised == []
    assert Alert.objects.count() == 1


def test_later_entries_in_the_same_window_do_not_raise_a_second_alert(desk, record):
    night_reveals(record, patrons=(987_653,))
    with clock.frozen(at(MONDAY, 22, 30)):
        services.scan()
    night_reveals(record, patrons=(987_654,))
    with clock.frozen(at(MONDAY, 23)):
        services.scan()
    assert Alert.objects.filter(rule="after_hours").count() == 1


def test_each_run_examines_at_most_scan_batch_entries(desk, record, settings):
    settings.CONFIG["monitoring"] = {"scan_batch": 100}
    for n in range(75):
        night_reveals(record, patrons=(900_000 + n,))
    head = Entry.objects.order_by("-seq").values_list("seq", flat=True).first()
    with clock.frozen(at(MONDAY, 23)):
        first = services.scan()
        assert (first.through_seq - first.after_seq, first.behind) == (100, head - 100)
        reports = [first]
        while reports[-1].behind:
            reports.append(services.scan())
    assert ScanCursor.objects.get().last_seq >= head
    assert Alert.objects.filter(rule="after_hours").count() == 1
    assert Alert.objects.get(rule="after_hours").first_seq < 100  # found in the first run


def test_the_scan_is_recorded_in_the_ledger_but_does_not_feed_itself(desk, record):
    night_reveals(record)
    with clock.frozen(at(MONDAY, 23)):
        services.scan()
        services.scan()
        services.scan()
    scans = list(Entry.objects.filter(action="monitoring.scan").values_list("actor_id", "detail"))
    assert len(scans) == 1
    assert scans[0][0] == "anomaly-scan" and scans[0][1]["raised"] == 1


def test_new_alerts_are_mailed_naming_rule_and_time_not_patrons(
    desk, record, make_patron, django_capture_on_commit_callbacks
):
    patron = make_patron(name="Testa Mailcheck", card="29558880001")
    with clock.frozen(at(MONDAY, 8, 30)):
        services.add_decoy("29558880001", actor=services.SCAN_ACTOR, purpose="tests")
    record(NIGHT, "patron.reveal", patron_id=patron.pk)
    # The mail goes after the commit, so a rolled-back scan never mails.
    with clock.frozen(at(MONDAY, 23)), django_capture_on_commit_callbacks(execute=True):
        report = services.scan()
    assert sorted(Alert.objects.values_list("rule", "patron_id")) == [
        ("after_hours", None),
        ("decoy", patron.pk),
    ]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [OFFICER_EMAIL]
    assert message.subject == "Shelfguard: 2 new access alert(s)"
    lines = [line for line in message.body.splitlines() if line.startswith("#")]
    # Each alert is its number, its rule and its window: nothing about the patron or staff.
    assert sorted(lines) == sorted(
        f"#{pk}  {label}  2026-10-05 00:00–2026-10-06 00:00"
        for pk, label in zip(
            report.raised,
            [services.rule_label(Alert.objects.get(pk=pk).rule) for pk in report.raised],
            strict=True,
        )
    )
    assert "Mailcheck" not in message.body and "desk-one" not in message.body
    assert "patron" not in message.body.lower()
    assert Alert.objects.filter(notified_at__isnull=True).count() == 0
    with clock.frozen(at(MONDAY, 23, 5)), django_capture_on_commit_callbacks(execute=True):
        services.scan()
    assert len(mail.outbox) == 1


def test_without_an_officer_address_alerts_are_kept_but_not_mailed(
    desk, record, settings, django_capture_on_commit_callbacks
):
    settings.CONFIG["privacy"] = {}
    night_reveals(record)
    with clock.frozen(at(MONDAY, 23)), django_capture_on_commit_callbacks(execute=True):
        services.scan()
    assert Alert.objects.count() == 1 and mail.outbox == []


def test_a_wrong_threshold_stops_the_scan_before_anything_moves(desk, record, settings):
    night_reveals(record)
    settings.CONFIG["monitoring"] = {"volume_floor": "many"}
    with clock.frozen(at(MONDAY, 23)), pytest.raises(ImproperlyConfigured, match="volume_floor"):
        services.scan()
    settings.CONFIG["monitoring"] = {"volume_flor": 3}
    with clock.frozen(at(MONDAY, 23)), pytest.raises(ImproperlyConfigured, match="volume_flor"):
        services.scan()
    assert not ScanCursor.objects.exists() and not Alert.objects.exists()


def test_the_anomaly_scan_job_runs_the_scan(desk, record):
    night_reveals(record)
    with clock.frozen(at(MONDAY, 23)):
        run = jobs.run_job("anomaly-scan", trigger="manual")
    assert run.outcome == "ok", run.error
    assert run.summary["raised"] == 1


def test_review_is_final_and_written_to_the_ledger(desk, record):
    night_reveals(record)
    with clock.frozen(at(MONDAY, 23)):
        services.scan()
    alert = Alert.objects.get()
    officer = services.Actor(kind="staff", ident="officer-one", channel="web")
    with pytest.raises(services.MonitoringError) as empty:
        services.review_alert(alert.pk, note="  ", actor=officer, purpose="tests")
    assert empty.value.code == "note_required"
    with pytest.raises(services.MonitoringError) as long:
        services.review_alert(alert.pk, note="x" * 201, actor=officer, purpose="tests")
    assert long.value.code == "note_too_long"
    with clock.frozen(at(MONDAY + dt.timedelta(days=1), 9)):
        services.review_alert(
            alert.pk, note="Late shift covering the stocktake", actor=officer, purpose="tests"
        )
    alert.refresh_from_db()
    assert (alert.status, alert.reviewer, alert.review_note) == (
        "reviewed",
        "staff:officer-one",
        "Late shift covering the stocktake",
    )
    entry = Entry.objects.get(action="monitoring.alert_review")
    assert entry.actor_id == "officer-one"
    assert entry.detail == {
        "alert": alert.pk,
        "note": "Late shift covering the stocktake",
        "rule": "after_hours",
    }
    with pytest.raises(services.MonitoringError) as twice:
        services.review_alert(alert.pk, note="again", actor=officer, purpose="tests")
    assert twice.value.code == "already_reviewed"
    with pytest.raises(services.AlertNotFound):
        services.review_alert(alert.pk + 100, note="none", actor=officer, purpose="tests")


def test_summary_for_the_dashboard(desk, record):
    assert services.summary(now=at(MONDAY, 23)) == {
        "open_alerts": [],
        "open_count": 0,
        "alerts_per_week": [
            {"week_start": MONDAY - dt.timedelta(weeks=11 - i), "count": 0} for i in range(12)
        ],
        "last_scan_at": None,
        "last_scan_seq": 0,
    }
    night_reveals(record)
    with clock.frozen(at(MONDAY, 23)):
        report = services.scan()
    state = services.summary(now=at(MONDAY + dt.timedelta(days=2), 9))
    assert state["open_count"] == 1
    assert state["open_alerts"] == [
        {
            "id": report.raised[0],
            "rule": "after_hours",
            "rule_label": "Access outside opening hours",
            "raised_at": at(MONDAY, 23),
            "staff": "desk-one",
            "patron_id": None,
        }
    ]
    assert state["alerts_per_week"][-1] == {"week_start": MONDAY, "count": 1}
    assert sum(w["count"] for w in state["alerts_per_week"]) == 1
    assert state["last_scan_at"] == at(MONDAY, 23)
    assert state["last_scan_seq"] == report.through_seq
