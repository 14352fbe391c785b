"""Every staff URL is refused without a full sign-in, and carries no-store."""

from __future__ import annotations

import pytest
from django.urls import reverse

from shelfguard.staff import urls as staff_urls

pytestmark = pytest.mark.django_db

# Pages anyone may open: they are how one signs in.
PUBLIC = {"login", "enrol"}
# Pages only reachable part-way through signing in or enrolling.
PART_WAY = {"verify", "enrol_device"}


def all_names():
    return [p.name for p in staff_urls.urlpatterns if getattr(p, "name", None)]


@pytest.mark.parametrize("name", sorted(set(all_names()) - PUBLIC))
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
    protected = set(all_names()) - PUBLIC - PART_WAY
    assert protected == {"home", "sessions", "logout", "password", "recovery_codes"}


def test_opac_still_sets_no_cookie(client):
    assert "Set-Cookie" not in client.get("/").headers
