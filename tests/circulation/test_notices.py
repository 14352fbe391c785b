"""Notices by e-mail: only with consent, titles only when chosen, and the queue purged once sent."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.circulation import services
from shelfguard.circulation.models import Loan, Notice, NoticeKind
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons

from .conftest import BOTH_DATABASES, DESK, NOON, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def lend(patron, *items):
    for item in items:
        services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)


def test_due_soon_notice_names_no_titles_and_the_queue_is_purged(
    make_patron, copy, title, mailoutbox
):
    patron = make_patron(
        consents=("email_notices",), name="Testa Reader", email="reader@example.org"
    )
    lend(patron, copy(title("Secret Garden Title")), copy())
    with clock.frozen(NOON + dt.timedelta(days=19)):
        assert services.queue_due_notices() == 1
        assert services.queue_due_notices() == 0  # once per due date
        report = services.send_notices()

    assert report.as_dict() == {"sent": 1, "skipped": 0, "failed": 0}
    [message] = mailoutbox
    assert message.to == ["reader@example.org"]
    assert "You have 2 items due on 1 July." in message.body
    assert "Sign in to see them" in message.body
    assert "Secret Garden" not in message.body and "Secret Garden" not in message.subject
    assert "Testa Reader" in message.body
    assert not Notice.objects.exists()
    reveal = Entry.objects.filter(action="patron.reveal").last()
    assert reveal.purpose == "circulation notice" and reveal.patron_id == patron.pk


def test_no_consent_no_notice(make_patron, copy, mailoutbox):
    lend(make_patron(), copy())
    with clock.frozen(NOON + dt.timedelta(days=30)):
        assert services.queue_due_notices() == 0
        services.send_notices()
    assert mailoutbox == [] and not Notice.objects.exists()
    assert Loan.objects.get().notice_stage == 2


def test_a_withdrawal_before_sending_wins(make_patron, copy, mailoutbox):
    patron = make_patron(consents=("email_notices",))
    lend(patron, copy())
    with clock.frozen(NOON + dt.timedelta(days=30)):
        services.queue_due_notices()
        assert Notice.objects.get().kind == NoticeKind.OVERDUE
        patrons.withdraw_consent(patron, "email_notices", actor=DESK)
        services.send_notices()
    assert mailoutbox == [] and not Notice.objects.exists()


def test_titles_are_named_only_when_the_patron_chose_so(
    make_patron, copy, title, mailoutbox, monkeypatch
):
    from shelfguard.circulation import notices

    patron = make_patron(consents=("email_notices",))
    lend(patron, copy(title("Named Title")))
    monkeypatch.setattr(notices, "consents", lambda pk, *purposes: dict.fromkeys(purposes, True))
    with clock.frozen(NOON + dt.timedelta(days=30)):
        services.queue_due_notices()
        services.send_notices()
    assert "Named Title" in mailoutbox[0].body
    assert "were due on 1 July" not in mailoutbox[0].body
    assert "was due on 1 July" in mailoutbox[0].body


def test_hold_available_notice(make_patron, copy, title, mailoutbox):
    record = title("Held Title")
    item = copy(record)
    patron = make_patron(consents=("email_notices",))
    services.place_hold(patron, record=record.pk, pickup_branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.send_notices()
    [message] = mailoutbox
    assert "1 item you asked for is waiting for you at Main Library until 17 June." in message.body
    assert "Held Title" not in message.body


def test_a_failing_backend_keeps_the_notice_for_a_retry_then_drops_it(
    make_patron, copy, monkeypatch, settings
):
    settings.CONFIG = {"circulation": {"notice_attempts": 2}}
    from django.core.mail import EmailMessage

    monkeypatch.setattr(EmailMessage, "send", lambda self: (_ for _ in ()).throw(OSError("down")))
    patron = make_patron(consents=("email_notices",))
    lend(patron, copy())
    with clock.frozen(NOON + dt.timedelta(days=30)):
        services.queue_due_notices()
        assert services.send_notices().failed == 1
        assert Notice.objects.get().attempts == 1
        services.send_notices()
    assert not Notice.objects.exists()


def test_nothing_left_to_say_drops_the_notice(make_patron, copy, mailoutbox):
    patron = make_patron(consents=("email_notices",))
    item = copy()
    lend(patron, item)
    with clock.frozen(NOON + dt.timedelta(days=30)):
        services.queue_due_notices()
        services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
        assert services.send_notices().skipped == 1
    assert mailoutbox == [] and not Notice.objects.exists()
