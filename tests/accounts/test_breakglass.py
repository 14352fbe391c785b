"""Break-glass: time-limited access outside a role, justified, recorded, flagged."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.accounts import services
from shelfguard.accounts.permissions import UnknownPermission
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from tests.accounts.helpers import make_staff

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
WHY = "Patron complaint 42: check the loans the desk disputes"


@pytest.fixture
def people():
    with clock.frozen(START):
        officer = make_staff("officer", "privacy-officer")
        desk = make_staff("desk", "circulation-desk")
    return officer, desk


def test_grant_works_until_it_ends_and_every_use_is_flagged(people):
    officer, desk = people
    with clock.frozen(START):
        assert not services.has_permission(desk, "patron.view_history")
        grant = services.grant_break_glass(
            desk,
            ["patron.view_history"],
            justification=WHY,
            by=officer,
            ends=START + dt.timedelta(hours=2),
        )
        granted = Entry.objects.get(action="accounts.breakglass_grant")
        assert granted.detail["review"] is True and granted.actor_id == "officer"
    with clock.frozen(START + dt.timedelta(hours=1)):
        decision = services.require(desk, "patron.view_history", purpose="complaint 42")
        assert decision.allowed and decision.grant_id == grant.pk
        use = Entry.objects.filter(action="accounts.breakglass_use").last()
        assert use.actor_id == "desk"
        assert use.purpose == "complaint 42"
        assert use.detail == {
            "grant": grant.pk,
            "permission": "patron.view_history",
            "review": True,
        }
        # Other codes stay closed.
        assert not services.has_permission(desk, "patron.erase")
    with clock.frozen(START + dt.timedelta(hours=2)):
        assert not services.has_permission(desk, "patron.view_history")


def test_role_permissions_write_no_break_glass_entry(people):
    _officer, desk = people
    with clock.frozen(START):
        assert services.has_permission(desk, "patron.view_name")
    assert not Entry.objects.filter(action="accounts.breakglass_use").exists()


def test_grant_still_needs_a_current_certification(people):
    officer, _desk = people
    with clock.frozen(START):
        rookie = make_staff("rookie", "circulation-desk", certified=False)
        services.grant_break_glass(
            rookie,
            ["patron.view_history"],
            justification=WHY,
            by=officer,
            ends=START + dt.timedelta(hours=2),
        )
        decision = services.has_permission(rookie, "patron.view_history")
        assert not decision and "certification" in decision.reason


def test_grant_rules(people):
    officer, desk = people
    with clock.frozen(START):
        ends = START + dt.timedelta(hours=1)
        with pytest.raises(services.AccessDenied):
            services.grant_break_glass(
                officer, ["patron.change"], justification=WHY, by=desk, ends=ends
            )
        other = make_staff("officer2", "privacy-officer")
        with pytest.raises(services.AccountError, match="themselves"):
            services.grant_break_glass(
                other, ["patron.change"], justification=WHY, by=other, ends=ends
            )
        with pytest.raises(services.AccountError, match="justification"):
            services.grant_break_glass(
                desk, ["patron.change"], justification="because", by=officer, ends=ends
            )
        with pytest.raises(services.AccountError, match="72 hours"):
            services.grant_break_glass(
                desk,
                ["patron.change"],
                justification=WHY,
                by=officer,
                ends=START + dt.timedelta(hours=73),
            )
        with pytest.raises(UnknownPermission):
            services.grant_break_glass(
                desk, ["patron.everything"], justification=WHY, by=officer, ends=ends
            )


def test_account_entries_keep_the_ledger_chain_whole(people, home):
    from shelfguard.ledger.verify import verify

    officer, desk = people
    with clock.frozen(START):
        services.grant_break_glass(
            desk,
            ["patron.view_history"],
            justification=WHY,
            by=officer,
            ends=START + dt.timedelta(hours=1),
        )
        services.require(desk, "patron.view_history", purpose="complaint 42")
    assert Entry.objects.filter(action__startswith="accounts.").count() >= 5
    assert verify(home=home).ok
