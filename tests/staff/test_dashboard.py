"""The privacy officer's dashboard at /staff/privacy/: who may open it and what it shows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.feedback import services as feedback
from shelfguard.ledger.models import Entry
from shelfguard.lifecycle.models import BackupRun
from tests.accounts.helpers import make_staff
from tests.patrons.conftest import library, make_patron  # noqa: F401  (fixtures)
from tests.staff.signin import sign_in

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

URL = "/staff/privacy/"


def signed_in(role: str, name: str) -> Client:
    client = Client()
    sign_in(client, make_staff(name, role))
    return client


def test_the_privacy_officer_sees_every_section(library):  # noqa: F811
    BackupRun.objects.create(
        kind="verify", outcome="ok", started_at=clock.now() - dt.timedelta(hours=30)
    )
    response = signed_in("privacy-officer", "dash-officer").get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for heading in (
        "Privacy dashboard",
        "Backups",
        "Retention: data destroyed on time",
        "Open privacy requests",
        "Monitoring alerts",
        "Privacy certifications",
        "Break-glass grants",
        "Access ledger",
        "Recycle bin and four-eyes approvals",
        "Charts",
    ):
        assert re.search(rf"<h[12][^>]*>{re.escape(heading)}</h[12]>", html), heading
    # Stale backup: a warning word, in the red "problem" box.
    assert re.search(r'class="problem"[^>]*>\s*<h3>Warning: last verified backup 30.0 hours', html)
    assert "<caption>" in html and 'role="img"' in html
    assert not re.search(r"<(script|link)\b[^>]*(https?:)?//", html)
    entry = Entry.objects.filter(action="lifecycle.privacy_report").get()
    assert entry.actor_id == "dash-officer" and entry.detail["output"] == "page"


def test_overdue_requests_say_so_in_words(library):  # noqa: F811
    with clock.frozen(clock.now() - dt.timedelta(days=60)):
        request, _token = feedback.file_request(
            kind="deletion",
            description="A synthetic request.",
            contact="requester@example.org",
            actor=Actor.public("web"),
            purpose="privacy request",
        )
    html = signed_in("privacy-officer", "dash-officer2").get(URL).content.decode()
    assert request.reference in html
    assert re.search(r"<strong>OVERDUE by \d+ days</strong>", html)
    # The request's own texts are sealed and never on this page.
    assert "A synthetic request." not in html and "requester@example.org" not in html


@pytest.mark.parametrize("role", ["circulation-desk", "cataloguer", "system-administrator"])
def test_other_roles_are_refused(library, role):  # noqa: F811
    response = signed_in(role, f"dash-{role}").get(URL)
    assert response.status_code == 403
    assert not Entry.objects.filter(action="lifecycle.privacy_report").exists()


def test_signed_out_visitors_go_to_sign_in(library):  # noqa: F811
    response = Client().get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/staff/login/")


def test_the_page_only_answers_get(library):  # noqa: F811
    response = signed_in("privacy-officer", "dash-officer3").post(URL)
    assert response.status_code == 405


def test_a_ledger_reader_without_the_admin_permissions_sees_those_sections_withheld(library):  # noqa: F811
    from shelfguard.accounts.models import Role

    Role.objects.create(code="ledger-auditor", name="Ledger auditor", permissions=["ledger.read"])
    html = signed_in("ledger-auditor", "dash-auditor").get(URL).content.decode()
    assert "Not shown: this needs the permission to record certifications." in html
    assert "Not shown: this needs the permission to grant break-glass access." in html
