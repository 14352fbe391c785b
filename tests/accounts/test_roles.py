"""Least privilege: what each shipped role may do, and what it may never do."""

from __future__ import annotations

import pytest

from shelfguard.accounts import services
from shelfguard.accounts.models import Role
from shelfguard.accounts.permissions import PATRON_DATA, PERMISSIONS, UnknownPermission
from shelfguard.core.models import Branch
from tests.accounts.helpers import make_staff

pytestmark = pytest.mark.django_db

SHIPPED = {
    "circulation-desk",
    "cataloguer",
    "branch-manager",
    "privacy-officer",
    "system-administrator",
}


def test_shipped_roles_exist_and_use_known_codes():
    roles = {r.code: r for r in Role.objects.all()}
    assert SHIPPED <= set(roles)
    for role in roles.values():
        assert set(role.permissions) <= set(PERMISSIONS)


def test_view_and_change_and_contact_and_history_are_separate_codes():
    for code in (
        "patron.view_status",
        "patron.view_name",
        "patron.view_contact",
        "patron.change",
        "patron.view_history",
    ):
        assert code in PATRON_DATA


def test_system_administrator_has_no_patron_data_permission_even_certified():
    admin = make_staff("root-admin", "system-administrator")
    assert services.has_permission(admin, "staff.manage")
    assert services.has_permission(admin, "config.change")
    for code in PATRON_DATA:
        decision = services.has_permission(admin, code)
        assert not decision.allowed, code
        assert code in decision.reason


def test_circulation_desk_sees_status_and_name_but_never_history_or_contact():
    desk = make_staff("desk", "circulation-desk")
    assert services.has_permission(desk, "patron.view_status")
    assert services.has_permission(desk, "patron.view_name")
    assert services.has_permission(desk, "circulation.loan")
    for code in (
        "patron.view_history",
        "patron.view_contact",
        "patron.change",
        "patron.erase",
        "ledger.read",
        "staff.manage",
    ):
        assert not services.has_permission(desk, code), code


def test_cataloguer_changes_catalogue_without_any_certification():
    cat = make_staff("cataloguer1", "cataloguer", certified=False)
    assert services.has_permission(cat, "catalog.change")
    assert not services.has_permission(cat, "patron.view_name")


def test_branch_manager_manages_own_branch_only():
    manager = make_staff("manager", "branch-manager", branch="MAIN")
    main, east = Branch.objects.get(code="MAIN"), Branch.objects.get(code="EAST")
    assert services.has_permission(manager, "staff.manage", branch=main)
    other = services.has_permission(manager, "staff.manage", branch=east)
    assert not other and "own branch" in other.reason
    # No branch named: a branch-scoped role fails closed.
    assert not services.has_permission(manager, "staff.manage")
    assert services.has_permission(manager, "patron.view_contact", branch=main.pk)


def test_role_edits_take_effect_at_once():
    desk = make_staff("desk", "circulation-desk")
    role = Role.objects.get(code="circulation-desk")
    role.permissions = [c for c in role.permissions if c != "patron.view_name"]
    role.save()
    desk = type(desk).objects.get(pk=desk.pk)
    assert not services.has_permission(desk, "patron.view_name")


def test_unknown_permission_code_fails_loudly():
    desk = make_staff("desk", "circulation-desk")
    with pytest.raises(UnknownPermission):
        services.has_permission(desk, "patron.view_everything")


def test_disabled_and_anonymous_staff_are_refused():
    from django.contrib.auth.models import AnonymousUser

    officer = make_staff("officer", "privacy-officer")
    services.disable_staff(officer, actor=services.staff_actor(officer, "cli"))
    officer.refresh_from_db()
    assert not services.has_permission(officer, "patron.view_name")
    assert not services.has_permission(AnonymousUser(), "patron.view_name")
    assert not services.has_permission(None, "catalog.change")


def test_require_needs_a_purpose_and_explains_refusals():
    desk = make_staff("desk", "circulation-desk")
    with pytest.raises(services.AccessDenied):
        services.require(desk, "patron.view_name", purpose="  ")
    with pytest.raises(services.AccessDenied) as refused:
        services.require(desk, "patron.view_history", purpose="desk enquiry")
    assert "patron.view_history" in str(refused.value)
    assert services.require(desk, "patron.view_name", purpose="desk enquiry").allowed


def test_an_edited_role_may_hold_only_known_codes():
    from django.core.exceptions import ValidationError

    role = Role.objects.get(code="cataloguer")
    role.permissions = ["catalog.change", "catalog.chagne"]
    with pytest.raises(ValidationError, match="catalog.chagne"):
        role.full_clean()
