"""Every staff URL is refused without a full sign-in, and carries no-store.

The URL list comes from Django's resolver (see tests/staff/test_every_url.py),
and each page's rule from its own `staff_access`, so nothing here needs
editing when a page is added.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from shelfguard.accounts.permissions import PERMISSIONS
from tests.staff.test_every_url import staff_routes

pytestmark = pytest.mark.django_db

# Pages anyone may open: they are how one signs in.
PUBLIC = {"login", "enrol"}
# Pages only reachable part-way through signing in or enrolling.
PART_WAY = {"verify", "enrol_device"}


def _rules() -> dict[str, str]:
    return {r.name: getattr(r.view, "staff_access", "") for r in staff_routes()}


def all_names():
    """Staff pages without URL arguments, by their name in the `staff` namespace."""
    return [
        r.name.split(":", 1)[1]
        for r in staff_routes()
        if not r.converters and r.name.startswith("staff:")
    ]


def guarded_names():
    rules = _rules()
    return [n for n in all_names() if rules[f"staff:{n}"] != "public"]


@pytest.mark.parametrize("name", sorted(guarded_names()))
@pytest.mark.parametrize("method", ["get", "post"])
def test_refused_without_sign_in(client, name, method):
    response = getattr(client, method)(reverse(f"staff:{name}"))
    assert response.status_code in (302, 405), response.status_code
    if response.status_code == 302:
        assert response["Location"].startswith(("/staff/login/", "/staff/enrol/"))
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_sign_in_pages_are_not_cached(client, name):
    response = client.get(reverse(f"staff:{name}"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_every_url_is_classified():
    rules = _rules()
    unclassified = sorted(n for n, rule in rules.items() if not rule)
    assert not unclassified, f"staff pages without staff_access: {unclassified}"
    public = {n.split(":", 1)[1] for n, rule in rules.items() if rule == "public"}
    assert PUBLIC | PART_WAY <= public
    own = {n.split(":", 1)[1] for n, rule in rules.items() if rule == "signed-in"}
    assert {"home", "sessions", "password", "recovery_codes"} <= own
    # Everything else names a permission the program defines.
    for name, rule in rules.items():
        if rule not in ("public", "signed-in"):
            assert rule in PERMISSIONS, (name, rule)
    # The administration pages demand the permission of their subject.
    assert rules["staff:admin_staff_detail"] == "staff.manage"
    assert rules["staff:admin_roles"] == "role.manage"
    assert rules["staff:admin_certifications"] == "certification.record"
    assert rules["staff:admin_breakglass"] == "breakglass.grant"


def test_opac_still_sets_no_cookie(client):
    assert "Set-Cookie" not in client.get("/").headers
