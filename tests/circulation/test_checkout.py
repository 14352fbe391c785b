"""Checkout: the one decision, the loan, the item status, the statistics and the ledger entry."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.catalog.models import ItemStatus
from shelfguard.circulation import errors as e
from shelfguard.circulation import services
from shelfguard.circulation.models import CirculationStat, Loan, LoanOutcome
from shelfguard.ledger.models import Entry

from .conftest import BOTH_DATABASES, DESK, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def test_checkout_lends_with_the_default_fine_free_rule(make_patron, copy):
    patron = make_patron()
    item = copy()

    result = services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)

    assert result.due_on == dt.date(2026, 7, 1)  # 21 days
    loan = Loan.objects.get()
    assert loan.patron_id == patron.pk and loan.outcome == LoanOutcome.OPEN
    assert loan.patron_category == "adult" and loan.age_band == "14_plus"
    item.refresh_from_db()
    assert item.status == ItemStatus.ON_LOAN
    assert CirculationStat.objects.get(action="checkout").count == 1
    entry = Entry.objects.get(action="circulation.checkout")
    assert entry.patron_id == patron.pk
    assert entry.detail == {"branch": "MAIN"}
    assert entry.fields == ["loans"]


def test_due_at_is_the_end_of_the_local_day_without_hours(make_patron, copy):
    result = services.checkout(
        make_patron(), copy().barcode, branch="MAIN", actor=DESK, purpose=PURPOSE
    )
    assert result.due_at == dt.datetime(2026, 7, 1, 23, 59, 59, tzinfo=dt.UTC)


def test_unknown_barcode_is_refused_clearly(make_patron):
    with pytest.raises(e.CirculationError) as caught:
        services.checkout(make_patron(), "NO-SUCH", branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.UNKNOWN_ITEM
    assert not Loan.objects.exists()
    assert not Entry.objects.filter(action__startswith="circulation.").exists()


def test_unknown_card_is_refused_clearly(library):
    with pytest.raises(e.CirculationError) as caught:
        services.find_patron("29999999999")
    assert caught.value.code == e.UNKNOWN_PATRON
    with pytest.raises(e.CirculationError) as caught:
        services.checkout(987654, "X", branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code in (e.UNKNOWN_PATRON, e.UNKNOWN_ITEM)


def test_find_patron_by_card(make_patron):
    patron = make_patron(card_number="29000000777")
    assert services.find_patron("29000000777").pk == patron.pk


def test_unknown_branch_is_refused(make_patron, copy):
    with pytest.raises(e.CirculationError) as caught:
        services.checkout(make_patron(), copy().barcode, branch="NOPE", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.UNKNOWN_BRANCH


def test_item_already_on_loan_to_the_same_patron(make_patron, copy):
    patron, item = make_patron(), copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    with pytest.raises(e.CirculationError) as caught:
        services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.ALREADY_ON_LOAN_TO_PATRON
    assert "renew" in caught.value.message


def test_item_already_on_loan_to_another_patron(make_patron, copy):
    item = copy()
    services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    with pytest.raises(e.CirculationError) as caught:
        services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.ON_LOAN_TO_OTHER
    assert Loan.objects.count() == 1
    assert Entry.objects.filter(action="circulation.checkout").count() == 1


@pytest.mark.parametrize(
    "status", [ItemStatus.LOST, ItemStatus.MISSING, ItemStatus.WITHDRAWN, ItemStatus.DAMAGED]
)
def test_unavailable_items_are_refused(make_patron, copy, status):
    item = copy(status=status)
    with pytest.raises(e.CirculationError) as caught:
        services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.ITEM_UNAVAILABLE


def test_maximum_items(make_patron, copy):
    services.set_policy(actor=DESK, max_items=2)
    patron = make_patron()
    for _ in range(2):
        services.checkout(patron, copy().barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    with pytest.raises(e.CirculationError) as caught:
        services.checkout(patron, copy().barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.LIMIT_REACHED


def test_may_borrow_answers_without_lending(make_patron, copy):
    from shelfguard.circulation.common import branch_of

    patron, item = make_patron(), copy()
    verdict = services.may_borrow(patron, item, branch_of("MAIN"))
    assert verdict and verdict.due_on == dt.date(2026, 7, 1)
    assert not Loan.objects.exists()


def test_a_crash_mid_checkout_leaves_nothing_half_done(make_patron, copy, monkeypatch):
    from shelfguard.circulation import loans

    patron, item = make_patron(), copy()

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(loans, "entry", crash)
    with pytest.raises(RuntimeError):
        services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    item.refresh_from_db()
    assert item.status == ItemStatus.AVAILABLE
    assert not Loan.objects.exists()
    assert not CirculationStat.objects.exists()
    assert not Entry.objects.filter(action__startswith="circulation.").exists()

    monkeypatch.undo()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert Loan.objects.count() == 1


def test_the_database_allows_one_open_loan_per_item(make_patron, copy):
    from django.db import IntegrityError, transaction

    from shelfguard.core.models import Branch

    patron, item = make_patron(), copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Loan.objects.create(
            item=item,
            patron=patron,
            branch=Branch.objects.get(code="MAIN"),
            loaned_on=dt.date(2026, 6, 10),
            due_on=dt.date(2026, 7, 1),
        )


def test_an_item_in_transit_must_be_checked_in_first(make_patron, copy):
    item = copy(branch="MAIN")
    services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.checkin(item.barcode, branch="EAST", actor=DESK, purpose=PURPOSE)
    with pytest.raises(e.CirculationError) as caught:
        services.checkout(make_patron(), item.barcode, branch="EAST", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.ITEM_UNAVAILABLE


def test_loans_of_a_patron_are_recorded_when_read(make_patron, copy):
    patron, item = make_patron(), copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    rows = services.loans_of(patron, actor=DESK, purpose=PURPOSE)
    assert [(r["barcode"], r["due_on"]) for r in rows] == [(item.barcode, "2026-07-01")]
    read = Entry.objects.get(action="circulation.loans_read")
    assert read.patron_id == patron.pk and read.detail == {"branch": None, "count": 1}
