"""The loan-rule and branch-calendar pages (permission `circulation.rules`), through the web."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shelfguard.circulation import services as circ
from shelfguard.circulation.models import ClosedDay, LoanPolicy, OpeningHours
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons
from tests.accounts.helpers import make_staff
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import adult_values, library  # noqa: F401  (fixture)
from tests.staff.signin import sign_in

pytestmark = pytest.mark.django_db

#: A Wednesday, far from any daylight-saving change.
T0 = dt.datetime(2026, 6, 10, 9, 0, 5, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(minutes=1)
SYSTEM = Actor(kind="system", ident="tests", channel="job")

RULE_VALUES = {
    "loan_days": "7",
    "renewals": "1",
    "max_items": "5",
    "holds_allowed": "on",
    "grace_days": "0",
    "daily_charge_cents": "0",
    "max_charge_cents": "0",
}


def client_for(staff, at=T0):
    client = Client()
    with clock.frozen(at):
        sign_in(client, staff)
    return client


def get(client, url, at=LATER):
    with clock.frozen(at):
        return client.get(url)


def post(client, url, data, at=LATER):
    with clock.frozen(at):
        return client.post(url, data)


@pytest.fixture
def team(library):  # noqa: F811
    with clock.frozen(T0):
        return {
            "admin": make_staff("admin", "system-administrator"),
            "manager": make_staff("manager", "branch-manager", branch="MAIN"),
            "desk": make_staff("desk", "circulation-desk", branch="MAIN"),
            "cataloguer": make_staff("cataloguer", "cataloguer", branch="MAIN"),
        }


def _default_rule() -> LoanPolicy:
    return LoanPolicy.objects.get(
        patron_category__isnull=True, item_type__isnull=True, branch__isnull=True
    )


# --- who may open the pages ----------------------------------------------------------------


def test_administrator_and_branch_manager_open_the_pages(team):
    default = _default_rule()
    for who in ("admin", "manager"):
        client = client_for(team[who])
        for url in (
            "/staff/admin/circulation/rules/",
            "/staff/admin/circulation/rules/new/",
            "/staff/admin/circulation/calendar/",
            "/staff/admin/circulation/calendar/MAIN/",
        ):
            response = get(client, url)
            assert response.status_code == 200, (who, url)
        page = get(client, "/staff/admin/circulation/rules/").content.decode()
        assert "Default rule" in page and f'id="rule-{default.pk}"' in page
        assert (
            "csrfmiddlewaretoken"
            in get(client, "/staff/admin/circulation/calendar/MAIN/").content.decode()
        )
    # The default rule is library-wide: only a library-wide holder may edit it.
    admin = client_for(team["admin"], at=T0 + dt.timedelta(seconds=31))
    assert get(admin, f"/staff/admin/circulation/rules/{default.pk}/").status_code == 200
    assert get(admin, "/staff/admin/circulation/calendar/EAST/").status_code == 200


def test_branch_manager_is_refused_other_branches_and_library_wide_rules(team):
    client = client_for(team["manager"])
    default = _default_rule()
    east_rule = circ.set_policy(branch="EAST", loan_days=10, actor=SYSTEM)
    response = get(client, "/staff/admin/circulation/calendar/EAST/")
    assert response.status_code == 403 and "own branch" in response.content.decode()
    assert (
        post(
            client, "/staff/admin/circulation/calendar/EAST/closed/add/", {"date": "2026-07-01"}
        ).status_code
        == 403
    )
    assert get(client, f"/staff/admin/circulation/rules/{east_rule.pk}/").status_code == 403
    assert get(client, f"/staff/admin/circulation/rules/{default.pk}/delete/").status_code == 403
    response = post(client, "/staff/admin/circulation/rules/new/", {**RULE_VALUES, "branch": ""})
    assert response.status_code == 403
    assert not ClosedDay.objects.exists()
    assert LoanPolicy.objects.count() == 2


def test_branch_manager_changes_their_own_branch_calendar_only(team):
    """Branch-scoped: the page and the service both check the calendar's branch."""
    client = client_for(team["manager"])
    response = post(
        client,
        "/staff/admin/circulation/calendar/MAIN/closed/add/",
        {"date": "2026-07-01", "reason": "Inventory"},
    )
    assert response.status_code == 302
    assert ClosedDay.objects.filter(branch__code="MAIN", date=dt.date(2026, 7, 1)).exists()
    other = post(
        client,
        "/staff/admin/circulation/calendar/EAST/closed/add/",
        {"date": "2026-07-02", "reason": "Inventory"},
    )
    assert other.status_code == 403
    assert not ClosedDay.objects.filter(date=dt.date(2026, 7, 2)).exists()


@pytest.mark.parametrize("who", ["desk", "cataloguer"])
def test_desk_and_cataloguer_are_refused(team, who):
    client = client_for(team[who])
    default = _default_rule()
    for url in (
        "/staff/admin/circulation/rules/",
        "/staff/admin/circulation/rules/new/",
        f"/staff/admin/circulation/rules/{default.pk}/",
        f"/staff/admin/circulation/rules/{default.pk}/delete/",
        "/staff/admin/circulation/calendar/",
        "/staff/admin/circulation/calendar/MAIN/",
    ):
        assert get(client, url).status_code == 403, url
    response = post(
        client, f"/staff/admin/circulation/rules/{default.pk}/delete/", {"confirm": "on"}
    )
    assert response.status_code == 403
    response = post(
        client, "/staff/admin/circulation/calendar/MAIN/closed/add/", {"date": "2026-07-01"}
    )
    assert response.status_code == 403
    assert LoanPolicy.objects.filter(pk=default.pk).exists()
    assert not ClosedDay.objects.exists()


# --- loan rules ----------------------------------------------------------------------------


def test_add_edit_delete_a_rule_round_trip(team):
    client = client_for(team["admin"])
    response = post(
        client,
        "/staff/admin/circulation/rules/new/",
        {**RULE_VALUES, "category": "adult", "item_type": "", "branch": "MAIN"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = LoanPolicy.objects.get(patron_category__code="adult", branch__code="MAIN")
    assert (rule.loan_days, rule.renewals, rule.max_items, rule.holds_allowed) == (7, 1, 5, True)
    assert not rule.charges_apply
    page = get(client, response["Location"]).content.decode()
    assert "The rule was saved" in page and f'id="rule-{rule.pk}"' in page
    assert Entry.objects.filter(action="circulation.rules_change", actor_id="admin").exists()

    form = get(client, f"/staff/admin/circulation/rules/{rule.pk}/").content.decode()
    assert 'value="7"' in form and "adult" in form
    response = post(
        client,
        f"/staff/admin/circulation/rules/{rule.pk}/",
        {**RULE_VALUES, "loan_days": "28", "charges_apply": "on", "daily_charge_cents": "10"},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.loan_days, rule.charges_apply, rule.daily_charge_cents) == (28, True, 10)
    assert LoanPolicy.objects.count() == 2  # edited in place, not a new cell

    # Deleting needs the confirmation box; an empty POST changes nothing.
    response = post(client, f"/staff/admin/circulation/rules/{rule.pk}/delete/", {})
    assert response.status_code == 200 and "Tick the box" in response.content.decode()
    assert LoanPolicy.objects.filter(pk=rule.pk).exists()
    response = post(client, f"/staff/admin/circulation/rules/{rule.pk}/delete/", {"confirm": "on"})
    assert response.status_code == 302
    assert not LoanPolicy.objects.filter(pk=rule.pk).exists()
    assert "The rule was deleted" in get(client, response["Location"]).content.decode()


def test_the_service_decides_about_deleting_the_last_default_rule(team):
    client = client_for(team["admin"])
    default = _default_rule()
    assert LoanPolicy.objects.count() == 1
    response = post(
        client, f"/staff/admin/circulation/rules/{default.pk}/delete/", {"confirm": "on"}
    )
    assert response.status_code == 200
    assert "Keep at least one (default) rule." in response.content.decode()
    assert LoanPolicy.objects.filter(pk=default.pk).exists()


def test_bad_rule_values_show_the_service_message(team):
    client = client_for(team["admin"])
    default = _default_rule()
    before = default.loan_days
    response = post(
        client, f"/staff/admin/circulation/rules/{default.pk}/", {**RULE_VALUES, "loan_days": "0"}
    )
    assert response.status_code == 200
    assert "loan_days must be a whole number from 1 to 3650." in response.content.decode()
    default.refresh_from_db()
    assert default.loan_days == before
    response = post(
        client, f"/staff/admin/circulation/rules/{default.pk}/", {**RULE_VALUES, "renewals": "x"}
    )
    assert response.status_code == 200
    assert "Fill in every value as a whole number." in response.content.decode()
    response = post(
        client,
        "/staff/admin/circulation/rules/new/",
        {**RULE_VALUES, "item_type": "no-such-type"},
    )
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()
    assert LoanPolicy.objects.count() == 1
    assert get(client, "/staff/admin/circulation/rules/999999/").status_code == 404


# --- calendars -----------------------------------------------------------------------------


def _lend_due(patron, item) -> dt.date:
    with clock.frozen(LATER):
        verdict = circ.may_borrow(patron, item, item.branch)
    assert verdict.allowed, verdict.reason
    return verdict.due_on


def test_closed_day_added_and_removed_moves_the_due_date(team):
    with clock.frozen(T0):
        circ.set_policy(loan_days=7, actor=SYSTEM)
        patron = patrons.register(**adult_values(), actor=SYSTEM)
        item = make_item(make_record("A Synthetic Calendar Title", index=False))
    due = _lend_due(patron, item)
    assert due == dt.date(2026, 6, 17)
    client = client_for(team["admin"])
    url = "/staff/admin/circulation/calendar/MAIN/"
    response = post(client, url + "closed/add/", {"date": "2026-06-17", "reason": "Staff training"})
    assert response.status_code == 302
    page = get(client, response["Location"]).content.decode()
    assert "2026-06-17" in page and "Staff training" in page
    assert _lend_due(patron, item) == dt.date(2026, 6, 18)
    # The same day twice: the service's refusal, shown.
    response = post(client, url + "closed/add/", {"date": "2026-06-17"})
    assert (
        response.status_code == 400 and "That day is already closed." in response.content.decode()
    )

    response = post(client, url + "closed/remove/", {"date": "2026-06-17"})
    assert response.status_code == 302
    assert not ClosedDay.objects.exists()
    assert _lend_due(patron, item) == dt.date(2026, 6, 17)
    response = post(client, url + "closed/remove/", {"date": "2026-06-17"})
    assert response.status_code == 400 and "That day is not closed." in response.content.decode()


def test_opening_hours_and_time_zone(team):
    client = client_for(team["admin"])
    url = "/staff/admin/circulation/calendar/MAIN/"
    response = post(
        client, url + "hours/", {"d2-weekday": "2", "d2-opens": "09:00", "d2-closes": "17:00"}
    )
    assert response.status_code == 302
    hours = OpeningHours.objects.get(branch__code="MAIN", weekday=2)
    assert (hours.opens, hours.closes) == (dt.time(9), dt.time(17))
    assert "09:00–17:00" in get(client, url).content.decode()
    response = post(
        client, url + "hours/", {"d3-weekday": "3", "d3-opens": "17:00", "d3-closes": "09:00"}
    )
    assert response.status_code == 400
    assert "Give an opening time before the closing time." in response.content.decode()
    # Both times empty: closed on that weekday.
    response = post(client, url + "hours/", {"d2-weekday": "2", "d2-opens": "", "d2-closes": ""})
    assert response.status_code == 302
    assert not OpeningHours.objects.exists()

    response = post(client, url + "time-zone/", {"time_zone": "Europe/London"})
    assert response.status_code == 302
    assert "Europe/London" in get(client, url).content.decode()
    response = post(client, url + "time-zone/", {"time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    assert "Unknown time zone" in response.content.decode()


def test_bad_calendar_input_and_empty_posts_change_nothing(team):
    client = client_for(team["admin"])
    url = "/staff/admin/circulation/calendar/MAIN/"
    for action in ("closed/add/", "closed/remove/", "hours/", "time-zone/"):
        response = post(client, url + action, {})
        assert response.status_code == 400, action
        assert "Check the values entered." in response.content.decode()
    response = post(client, url + "closed/add/", {"date": "not a date"})
    assert response.status_code == 400
    assert not ClosedDay.objects.exists() and not OpeningHours.objects.exists()
    assert get(client, "/staff/admin/circulation/calendar/NOPE/").status_code == 404
