"""The permission gate: staff need the permission; jobs, operators and terminals have own rules."""

from __future__ import annotations

import pytest

from shelfguard.accounts.models import Role
from shelfguard.accounts.services import AccessDenied, staff_actor
from shelfguard.circulation import services
from shelfguard.circulation.models import Loan
from shelfguard.core.actors import Actor
from tests.accounts.helpers import make_staff

from .conftest import BOTH_DATABASES, DESK, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def test_desk_staff_may_lend(make_patron, copy):
    desk = staff_actor(make_staff("lena", "circulation-desk", enrol=False))
    services.checkout(make_patron(), copy().barcode, branch="MAIN", actor=desk, purpose=PURPOSE)
    assert Loan.objects.count() == 1


def test_staff_without_the_permission_may_not(make_patron, copy):
    cataloguer = staff_actor(make_staff("cato", "cataloguer", enrol=False))
    with pytest.raises(AccessDenied, match="circulation.loan"):
        services.checkout(
            make_patron(), copy().barcode, branch="MAIN", actor=cataloguer, purpose=PURPOSE
        )
    assert not Loan.objects.exists()


def test_uncertified_staff_may_not(make_patron, copy):
    desk = staff_actor(make_staff("nina", "circulation-desk", certified=False, enrol=False))
    with pytest.raises(AccessDenied, match="certification"):
        services.checkout(make_patron(), copy().barcode, branch="MAIN", actor=desk, purpose=PURPOSE)


def test_branch_scoped_roles_lend_only_at_their_own_branch(make_patron, copy):
    manager = staff_actor(make_staff("mo", "branch-manager", branch="EAST", enrol=False))
    with pytest.raises(AccessDenied):
        services.checkout(
            make_patron(), copy().barcode, branch="MAIN", actor=manager, purpose=PURPOSE
        )
    services.checkout(make_patron(), copy().barcode, branch="EAST", actor=manager, purpose=PURPOSE)


def test_an_unknown_staff_name_is_refused(make_patron, copy):
    ghost = Actor(kind="staff", ident="nobody", channel="web")
    with pytest.raises(AccessDenied):
        services.checkout(
            make_patron(), copy().barcode, branch="MAIN", actor=ghost, purpose=PURPOSE
        )


def test_an_empty_purpose_is_refused(make_patron, copy):
    with pytest.raises(AccessDenied):
        services.checkout(make_patron(), copy().barcode, branch="MAIN", actor=DESK, purpose=" ")


def test_rule_editing_needs_circulation_rules(library):
    desk = staff_actor(make_staff("lena", "circulation-desk", enrol=False))
    with pytest.raises(AccessDenied, match="circulation.rules"):
        services.set_policy(actor=desk, loan_days=7)
    Role.objects.create(
        code="rules-editor", name="Rules", permissions=["circulation.rules"], scope="library"
    )
    editor = staff_actor(make_staff("ruth", "rules-editor", enrol=False))
    services.set_policy(actor=editor, loan_days=7)


def test_terminals_may_lend_but_not_edit_rules(make_patron, copy):
    kiosk = Actor(kind="terminal", ident="selfcheck-1", channel="sip2")
    services.checkout(make_patron(), copy().barcode, branch="MAIN", actor=kiosk, purpose=PURPOSE)
    with pytest.raises(AccessDenied):
        services.set_policy(actor=kiosk, loan_days=7)


def test_patrons_may_renew_only_their_own_loans_and_never_lend(make_patron, copy):
    patron, other = make_patron(), make_patron()
    item = copy()
    me = Actor(kind="patron", ident=str(patron.pk), channel="web")
    with pytest.raises(AccessDenied):
        services.checkout(patron, item.barcode, branch="MAIN", actor=me, purpose=PURPOSE)
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.renew(item.barcode, actor=me, purpose="portal renewal")
    them = Actor(kind="patron", ident=str(other.pk), channel="web")
    with pytest.raises(AccessDenied):
        services.renew(item.barcode, actor=them, purpose="portal renewal")


def test_the_public_may_do_nothing(make_patron, copy):
    with pytest.raises(AccessDenied):
        services.checkout(
            make_patron(), copy().barcode, branch="MAIN", actor=Actor.public("web"), purpose=PURPOSE
        )
