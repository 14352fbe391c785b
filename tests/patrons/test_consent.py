"""Consent: recorded against the notice version in force; withdrawal takes effect at once."""

from __future__ import annotations

import pytest

from shelfguard.ledger.models import Entry
from shelfguard.patrons import privacy_notice, services
from shelfguard.patrons.models import Consent, PrivacyNotice
from shelfguard.patrons.validation import PatronError

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


def _state(patron, purpose):
    return {s.purpose: s for s in services.consents(patron, actor=DESK, purpose="desk")}[purpose]


def test_consent_records_the_current_notice_version(make_patron):
    patron = make_patron()

    record = services.give_consent(patron, "reading_history", actor=DESK)

    assert record.notice_version == privacy_notice.current_version() == 1
    assert record.given and record.channel == "web" and not record.by_guardian
    assert services.has_consent(patron, "reading_history")
    entry = Entry.objects.get(patron_id=patron.pk, action="patron.consent.give")
    assert entry.fields == ["consents"]
    assert entry.detail == {"consent": "reading_history", "notice_version": 1, "by_guardian": False}


def test_a_new_notice_version_asks_for_renewal(make_patron, settings):
    patron = make_patron()
    services.give_consent(patron, "recommendations", actor=DESK)

    # The library stops collecting addresses: the notice changes, so a new version is published.
    settings.CONFIG = {"patrons": {"collect": ["email", "phone", "birth_year"]}}
    publication = privacy_notice.publish()

    assert publication == privacy_notice.Publication(version=2, created=True)
    state = _state(patron, "recommendations")
    assert state.given and state.notice_version == 1 and state.needs_renewal
    services.give_consent(patron, "recommendations", actor=DESK)
    state = _state(patron, "recommendations")
    assert state.notice_version == 2 and not state.needs_renewal


def test_publishing_the_same_notice_again_makes_no_new_version(library):
    assert privacy_notice.publish() == privacy_notice.Publication(version=1, created=False)
    assert PrivacyNotice.objects.filter(version=1).count() == 2  # English and Chinese


def test_withdrawal_is_effective_at_once_and_kept_as_history(make_patron):
    patron = make_patron()
    services.give_consent(patron, "sms_notices", actor=DESK)

    services.withdraw_consent(patron, "sms_notices", actor=DESK)

    assert not services.has_consent(patron, "sms_notices")
    assert list(
        Consent.objects.filter(patron=patron, purpose="sms_notices").values_list("given", flat=True)
    ) == [True, False]
    assert not _state(patron, "sms_notices").given
    assert Entry.objects.filter(patron_id=patron.pk, action="patron.consent.withdraw").count() == 1


def test_withdrawing_service_consent_stops_service(make_patron):
    patron = make_patron()

    services.withdraw_consent(patron, "service", actor=DESK)

    assert not services.has_consent(patron, "service")


def test_withdrawal_handlers_run_in_the_same_transaction(make_patron):
    calls = []

    def unlink_history(patron, purpose, actor):
        calls.append((patron.pk, purpose, actor.ident))

    def refuse(patron, purpose, actor):
        raise RuntimeError("history store unavailable")

    patron = make_patron()
    services.register_withdrawal_handler(unlink_history)
    try:
        services.withdraw_consent(patron, "reading_history", actor=DESK)
    finally:
        services.unregister_withdrawal_handler(unlink_history)
    assert calls == [(patron.pk, "reading_history", "desk-7")]

    services.give_consent(patron, "recommendations", actor=DESK)
    services.register_withdrawal_handler(refuse)
    try:
        with pytest.raises(RuntimeError):
            services.withdraw_consent(patron, "recommendations", actor=DESK)
    finally:
        services.unregister_withdrawal_handler(refuse)
    # Rolled back together: the withdrawal and its ledger entry are not recorded.
    assert services.has_consent(patron, "recommendations")
    withdrawals = Entry.objects.filter(patron_id=patron.pk, action="patron.consent.withdraw")
    assert [e.detail["consent"] for e in withdrawals] == ["reading_history"]


@pytest.mark.parametrize("purpose", ["marketing", "", "SERVICE"])
def test_unknown_purposes_are_refused(make_patron, purpose):
    patron = make_patron()

    with pytest.raises(PatronError, match="Unknown consent purpose"):
        services.give_consent(patron, purpose, actor=DESK)
    assert not services.has_consent(patron, purpose)


def test_consent_under_a_notice_never_published_is_refused(make_patron):
    patron = make_patron()

    with pytest.raises(PatronError, match="never published"):
        services.give_consent(patron, "email_notices", actor=DESK, notice_version=7)


def test_without_a_published_notice_nobody_can_consent(make_patron):
    patron = make_patron()
    PrivacyNotice.objects.all().delete()

    with pytest.raises(privacy_notice.NoticeError, match="shelfguard init"):
        services.give_consent(patron, "email_notices", actor=DESK)
