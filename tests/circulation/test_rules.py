"""The loan-rule matrix: the most specific cell wins; editing needs `circulation.rules`."""

from __future__ import annotations

import pytest

from shelfguard.circulation import services
from shelfguard.circulation.models import LoanPolicy
from shelfguard.core.models import Branch
from shelfguard.ledger.models import Entry
from shelfguard.patrons.models import PatronCategory

from .conftest import BOTH_DATABASES, DESK, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def test_the_shipped_default_is_fine_free(library):
    [row] = services.list_policies()
    assert row == {
        "id": row["id"],
        "patron_category": None,
        "item_type": None,
        "branch": None,
        "loan_days": 21,
        "renewals": 2,
        "max_items": 30,
        "holds_allowed": True,
        "grace_days": 0,
        "charges_apply": False,
        "daily_charge_cents": 0,
        "max_charge_cents": 0,
    }


def test_the_most_specific_cell_wins(copy):
    copy(item_type="dvd")
    services.set_policy(category="child", actor=DESK, loan_days=14)
    services.set_policy(item_type="dvd", actor=DESK, loan_days=7)
    services.set_policy(category="child", item_type="dvd", actor=DESK, loan_days=3)
    services.set_policy(category="child", item_type="dvd", branch="EAST", actor=DESK, loan_days=2)
    adult = PatronCategory.objects.get(code="adult").pk
    child = PatronCategory.objects.get(code="child").pk
    dvd = LoanPolicy.objects.get(item_type__code="dvd", patron_category=None).item_type_id
    main, east = (Branch.objects.get(code=c).pk for c in ("MAIN", "EAST"))

    assert services.policy_for(adult, None, main).loan_days == 21
    assert services.policy_for(child, None, main).loan_days == 14
    assert services.policy_for(adult, dvd, main).loan_days == 7
    assert services.policy_for(child, dvd, main).loan_days == 3
    assert services.policy_for(child, dvd, east).loan_days == 2


def test_a_tie_prefers_the_patron_category(copy):
    copy(item_type="dvd")
    services.set_policy(category="child", actor=DESK, loan_days=14)
    services.set_policy(item_type="dvd", actor=DESK, loan_days=7)
    child = PatronCategory.objects.get(code="child").pk
    dvd = LoanPolicy.objects.get(loan_days=7).item_type_id
    assert services.policy_for(child, dvd, None).loan_days == 14


def test_setting_a_cell_twice_changes_it_in_place_and_is_recorded(library):
    services.set_policy(category="child", actor=DESK, purpose="rules", loan_days=14)
    services.set_policy(category="child", actor=DESK, purpose="rules", renewals=5)
    row = LoanPolicy.objects.get(patron_category__code="child")
    assert (row.loan_days, row.renewals) == (14, 5)
    assert Entry.objects.filter(action="circulation.rules_change", patron_id=None).count() == 2


@pytest.mark.parametrize(
    "values", [{"loan_days": 0}, {"renewals": -1}, {"holds_allowed": 1}, {"colour": 3}]
)
def test_bad_rule_values_are_refused(library, values):
    with pytest.raises(services.CirculationError):
        services.set_policy(actor=DESK, **values)


def test_the_last_rule_cannot_be_deleted(library):
    [row] = services.list_policies()
    with pytest.raises(services.CirculationError):
        services.delete_policy(row["id"], actor=DESK)


def test_without_any_matching_rule_nothing_is_lent(make_patron, copy):
    LoanPolicy.objects.all().delete()
    with pytest.raises(services.CirculationError, match="No loan rule"):
        services.checkout(make_patron(), copy().barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
