"""Every retention rule at its boundary: one day before it keeps, on the day it destroys.

"Kept N days" means a record dated D goes in the sweep of day D + N. The
clock is the project's (`shelfguard.core.clock`), frozen on the day swept.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.core import mail

from shelfguard.accounts.models import EnrolmentCode, StaffSession, StaffUser, Throttle
from shelfguard.circulation import services as circulation
from shelfguard.circulation.models import Charge, Hold, Loan
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.ledger.models import Entry
from shelfguard.lifecycle import retention
from shelfguard.patrons.models import Patron
from shelfguard.portal.models import PasswordLink, PatronSession

from .conftest import BOTH_DATABASES, TODAY, at, days, frozen_on

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]

DESK = Actor(kind="system", ident="tests", channel="job")


def sweep_on(day: dt.date, rule: str, **kwargs) -> dict[str, int]:
    """Run one rule for real with the clock on `day`; return its counts."""
    with frozen_on(day):
        report = retention.sweep(only=[rule], **kwargs)
    (result,) = report.rules
    assert result.status == "done", result.error
    return result.counts


def ended_loan(make_patron, copy, ended_on: dt.date, **patron_kwargs) -> Loan:
    """A returned loan that (as if check-in had been interrupted) still names its patron."""
    patron = make_patron(**patron_kwargs)
    item = copy()
    with frozen_on(ended_on - days(7)):
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose="test")
    loan = Loan.objects.get(item=item)
    Loan.objects.filter(pk=loan.pk).update(outcome="returned", ended_on=ended_on)
    return loan


# --- ended loans' patron link ---------------------------------------------------------


def test_loan_link_is_dropped_on_the_day_its_period_ends(settings, make_patron, copy):
    settings.CONFIG = {"retention": {"loan_link_days": 3}}
    loan = ended_loan(make_patron, copy, TODAY)

    assert sweep_on(TODAY + days(2), "loan-patron-link")["destroyed"] == 0
    assert Loan.objects.get(pk=loan.pk).patron_id is not None

    assert sweep_on(TODAY + days(3), "loan-patron-link")["destroyed"] == 1
    assert Loan.objects.get(pk=loan.pk).patron_id is None


def test_loan_link_goes_the_same_day_by_default(make_patron, copy):
    loan = ended_loan(make_patron, copy, TODAY)
    assert sweep_on(TODAY - days(1), "loan-patron-link")["destroyed"] == 0
    assert sweep_on(TODAY, "loan-patron-link")["destroyed"] == 1
    assert Loan.objects.get(pk=loan.pk).patron_id is None


def test_loan_link_is_kept_for_a_patron_who_keeps_a_history(make_patron, copy):
    loan = ended_loan(make_patron, copy, TODAY, consents=("reading_history",))
    counts = sweep_on(TODAY + days(400), "loan-patron-link")
    assert counts == {"destroyed": 0, "kept_history": 1}
    assert Loan.objects.get(pk=loan.pk).patron_id is not None


def test_loan_link_is_kept_while_a_charge_on_it_is_unpaid(make_patron, copy):
    loan = ended_loan(make_patron, copy, TODAY)
    Charge.objects.create(patron_id=loan.patron_id, loan=loan, amount_cents=50, created_on=TODAY)
    assert sweep_on(TODAY + days(5), "loan-patron-link")["destroyed"] == 0
    assert Loan.objects.get(pk=loan.pk).patron_id is not None


def test_open_loans_keep_their_patron(make_patron, copy):
    patron = make_patron()
    item = copy()
    with frozen_on(TODAY):
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose="test")
    assert sweep_on(TODAY + days(100), "loan-patron-link")["destroyed"] == 0
    assert Loan.objects.get(item=item).patron_id == patron.pk


def test_loans_are_unlinked_in_batches(settings, make_patron, copy):
    loans = [ended_loan(make_patron, copy, TODAY) for _ in range(5)]
    assert sweep_on(TODAY, "loan-patron-link", batch_size=2)["destroyed"] == 5
    assert not Loan.objects.filter(pk__in=[loan.pk for loan in loans], patron__isnull=False)


def test_ended_hold_loses_its_patron_on_the_day_it_ends(make_patron, title):
    patron = make_patron()
    hold = Hold.objects.create(
        patron=patron,
        record=title(),
        pickup_branch=Branch.objects.get(code="MAIN"),
        status="cancelled",
        placed_at=at(TODAY - days(3)),
        ended_on=TODAY,
    )
    assert sweep_on(TODAY - days(1), "hold-patron-link")["destroyed"] == 0
    assert sweep_on(TODAY, "hold-patron-link")["destroyed"] == 1
    assert Hold.objects.get(pk=hold.pk).patron_id is None


# --- expired patrons ---------------------------------------------------------------------


def expire(patron: Patron, on: dt.date) -> None:
    Patron.objects.filter(pk=patron.pk).update(expires_on=on)


def test_expired_patron_is_erased_two_years_after_expiry(make_patron):
    patron = make_patron()  # has an e-mail address but no consent to e-mail notices
    expire(patron, TODAY)

    counts = sweep_on(TODAY + days(729), "expired-patrons")
    assert counts["destroyed"] == 0
    assert Patron.objects.get(pk=patron.pk).status != "erased"

    counts = sweep_on(TODAY + days(730), "expired-patrons")
    assert counts["destroyed"] == 1
    erased = Patron.objects.get(pk=patron.pk)
    assert erased.status == "erased" and erased.name_sealed is None
    assert Entry.objects.filter(action="patron.erase", patron_id=patron.pk).count() == 1
    assert mail.outbox == []


def test_expired_patron_period_is_configurable_within_bounds(settings, make_patron):
    settings.CONFIG = {"retention": {"expired_patron_days": 90}}
    patron = make_patron()
    expire(patron, TODAY)
    assert sweep_on(TODAY + days(89), "expired-patrons")["destroyed"] == 0
    assert sweep_on(TODAY + days(90), "expired-patrons")["destroyed"] == 1

    settings.CONFIG = {"retention": {"expired_patron_days": 5}}
    with pytest.raises(retention.RetentionError, match="between 30 and 3650"):
        retention.sweep(only=["expired-patrons"], dry_run=True)


def test_patron_with_items_on_loan_is_kept(make_patron, copy):
    patron = make_patron()
    item = copy()
    with frozen_on(TODAY):
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose="test")
    expire(patron, TODAY)
    counts = sweep_on(TODAY + days(800), "expired-patrons")
    assert (counts["destroyed"], counts["kept_outstanding"]) == (0, 1)
    assert Patron.objects.get(pk=patron.pk).status != "erased"


def test_patron_who_wants_email_is_told_before_erasure(make_patron):
    patron = make_patron(consents=("email_notices",))
    expire(patron, TODAY)
    erase_day = TODAY + days(730)

    assert sweep_on(erase_day - days(31), "expired-patrons")["notices_sent"] == 0
    counts = sweep_on(erase_day - days(30), "expired-patrons")
    assert counts["notices_sent"] == 1
    (message,) = mail.outbox
    assert message.subject == "Your library record will be erased"
    assert erase_day.isoformat() in message.body
    entry = Entry.objects.get(action=retention.NOTICE_ACTION)
    assert entry.patron_id == patron.pk and entry.detail == {"erase_on": erase_day.isoformat()}

    # Not sent twice; erased on the day, 30 days after the notice.
    assert sweep_on(erase_day - days(1), "expired-patrons")["notices_sent"] == 0
    assert len(mail.outbox) == 1
    assert Patron.objects.get(pk=patron.pk).status != "erased"
    assert sweep_on(erase_day, "expired-patrons")["destroyed"] == 1


def test_a_late_notice_postpones_the_erasure(make_patron):
    patron = make_patron(consents=("email_notices",))
    expire(patron, TODAY)
    first_sweep = TODAY + days(900)  # the sweep never ran in the notice window

    counts = sweep_on(first_sweep, "expired-patrons")
    assert (counts["notices_sent"], counts["destroyed"], counts["waiting_for_notice"]) == (1, 0, 1)
    assert sweep_on(first_sweep + days(29), "expired-patrons")["destroyed"] == 0
    assert sweep_on(first_sweep + days(30), "expired-patrons")["destroyed"] == 1
    assert Patron.objects.get(pk=patron.pk).status == "erased"


# --- sign-in failures, sessions, links ----------------------------------------------------


def test_signin_failures_go_after_thirty_days():
    row = Throttle.objects.create(
        scope="account", key="k" * 64, failures=4, last_failure_at=at(TODAY, 23)
    )
    assert sweep_on(TODAY + days(29), "signin-failures")["destroyed"] == 0
    assert sweep_on(TODAY + days(30), "signin-failures")["destroyed"] == 1
    assert not Throttle.objects.filter(pk=row.pk).exists()


def test_a_current_lockout_is_kept():
    Throttle.objects.create(
        scope="account",
        key="l" * 64,
        failures=10,
        last_failure_at=at(TODAY),
        locked_until=at(TODAY + days(40)),
    )
    assert sweep_on(TODAY + days(35), "signin-failures")["destroyed"] == 0


def staff_member() -> StaffUser:
    return StaffUser.objects.create(
        username="retention-test", branch=Branch.objects.get(code="MAIN"), created_at=at(TODAY)
    )


def test_staff_sessions_go_thirty_days_after_they_end():
    staff = staff_member()
    ended = StaffSession.objects.create(
        staff=staff,
        key_hash="a" * 64,
        created_at=at(TODAY),
        last_seen=at(TODAY),
        ended_at=at(TODAY),
    )
    abandoned = StaffSession.objects.create(
        staff=staff, key_hash="b" * 64, created_at=at(TODAY), last_seen=at(TODAY + days(1))
    )
    assert sweep_on(TODAY + days(29), "staff-sessions")["destroyed"] == 0
    assert sweep_on(TODAY + days(30), "staff-sessions")["destroyed"] == 1
    assert not StaffSession.objects.filter(pk=ended.pk).exists()
    assert sweep_on(TODAY + days(31), "staff-sessions")["destroyed"] == 1
    assert not StaffSession.objects.filter(pk=abandoned.pk).exists()


def test_patron_sessions_go_after_the_configured_period(settings, make_patron):
    settings.CONFIG = {"retention": {"session_days": 10}}
    patron = make_patron()
    session = PatronSession.objects.create(
        patron=patron,
        key_hash="c" * 64,
        created_at=at(TODAY),
        last_seen=at(TODAY),
        ended_at=at(TODAY),
    )
    assert sweep_on(TODAY + days(9), "patron-sessions")["destroyed"] == 0
    assert sweep_on(TODAY + days(10), "patron-sessions")["destroyed"] == 1
    assert not PatronSession.objects.filter(pk=session.pk).exists()


def test_used_and_expired_links_go_after_seven_days(make_patron):
    patron = make_patron()
    used = PasswordLink.objects.create(
        patron=patron,
        token_hash="d" * 64,
        created_at=at(TODAY),
        used_at=at(TODAY),
        expires_at=at(TODAY + days(20)),
    )
    expired = PasswordLink.objects.create(
        patron=patron,
        token_hash="e" * 64,
        created_at=at(TODAY - days(2)),
        expires_at=at(TODAY),
    )
    open_link = PasswordLink.objects.create(
        patron=patron,
        token_hash="f" * 64,
        created_at=at(TODAY),
        expires_at=at(TODAY + days(20)),
    )
    code = EnrolmentCode.objects.create(
        staff=staff_member(),
        code_hash="g" * 64,
        created_at=at(TODAY),
        expires_at=at(TODAY),
    )
    assert sweep_on(TODAY + days(6), "one-time-links")["destroyed"] == 0
    assert sweep_on(TODAY + days(7), "one-time-links")["destroyed"] == 3
    assert list(PasswordLink.objects.values_list("pk", flat=True)) == [open_link.pk]
    assert not PasswordLink.objects.filter(pk__in=[used.pk, expired.pk]).exists()
    assert not EnrolmentCode.objects.filter(pk=code.pk).exists()


def test_expired_web_sessions_go_the_day_after_expiry():
    Session.objects.create(session_key="x" * 32, session_data="", expire_date=at(TODAY, 10))
    assert sweep_on(TODAY - days(1), "web-sessions")["destroyed"] == 0
    assert sweep_on(TODAY, "web-sessions")["destroyed"] == 1


# --- rules others register ------------------------------------------------------------------


def test_a_registered_rule_runs_and_a_missing_one_is_reported(make_patron):
    patron = make_patron()
    Throttle.objects.create(scope="source", key="h" * 64, failures=1, last_failure_at=at(TODAY))
    retention.register_rule(
        "test-throttle-rows",
        applies_to="test rows",
        sweep=lambda ctx: retention.delete_in_batches(
            ctx, Throttle.objects.filter(last_failure_at__lt=ctx.cutoff)
        ),
        setting="test_days",
        default_days=2,
        minimum=1,
        maximum=10,
    )
    retention.register_rule(
        "test-missing",
        applies_to="rows of an app not installed",
        sweep="shelfguard.not_an_app.services:sweep",
        setting="missing_days",
        default_days=1,
        minimum=1,
        maximum=10,
    )
    try:
        with frozen_on(TODAY + days(2)):
            report = retention.sweep(only=["test-throttle-rows", "test-missing"])
        results = {r.name: r for r in report.rules}
        assert results["test-throttle-rows"].counts == {"destroyed": 1}
        assert results["test-missing"].status == "not installed"
        assert report.failed == []
    finally:
        retention.unregister_rule("test-throttle-rows")
        retention.unregister_rule("test-missing")
    assert patron.pk


def test_a_notice_period_longer_than_the_retention_period_is_sent_once(settings, make_patron):
    settings.CONFIG = {"retention": {"expired_patron_days": 30, "erasure_notice_days": 60}}
    patron = make_patron(consents=("email_notices",))
    expire(patron, TODAY)
    assert sweep_on(TODAY - days(31), "expired-patrons")["notices_sent"] == 0
    assert sweep_on(TODAY - days(30), "expired-patrons")["notices_sent"] == 1
    assert sweep_on(TODAY - days(29), "expired-patrons")["notices_sent"] == 0
    assert sweep_on(TODAY + days(29), "expired-patrons")["destroyed"] == 0
    assert sweep_on(TODAY + days(30), "expired-patrons")["destroyed"] == 1
    assert len(mail.outbox) == 1


def test_a_renewed_card_gets_a_fresh_notice_when_it_expires_again(make_patron):
    patron = make_patron(consents=("email_notices",))
    expire(patron, TODAY)
    assert sweep_on(TODAY + days(700), "expired-patrons")["notices_sent"] == 1
    expire(patron, TODAY + days(800))  # renewed before the erasure
    assert sweep_on(TODAY + days(800 + 700), "expired-patrons")["notices_sent"] == 1
    assert sweep_on(TODAY + days(800 + 729), "expired-patrons")["destroyed"] == 0
    assert sweep_on(TODAY + days(800 + 730), "expired-patrons")["destroyed"] == 1
    assert len(mail.outbox) == 2


# --- anonymous feedback (registered by the feedback app) ---------------------------------


def test_anonymous_feedback_goes_a_year_after_it_was_sent():
    from shelfguard.feedback import services as feedback
    from shelfguard.feedback.models import Feedback

    with frozen_on(TODAY):
        kept = feedback.submit(
            category="service", text="More evening hours, please.", actor=DESK, purpose="test"
        )
    assert sweep_on(TODAY + days(364), "anonymous-feedback")["destroyed"] == 0
    assert Feedback.objects.filter(pk=kept.pk).exists()
    assert sweep_on(TODAY + days(365), "anonymous-feedback")["destroyed"] == 1
    assert not Feedback.objects.filter(pk=kept.pk).exists()
