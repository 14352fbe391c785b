"""The monitoring staff pages: for the privacy officer (`ledger.read`) only."""

from __future__ import annotations

import pytest
from django.test import Client

from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.monitoring import services
from shelfguard.monitoring.models import Alert, Decoy
from tests.accounts.helpers import make_staff
from tests.monitoring.conftest import BOTH_DATABASES, MONDAY, at
from tests.staff.signin import sign_in

pytestmark = BOTH_DATABASES


@pytest.fixture
def alert(desk, record) -> Alert:
    record(at(MONDAY, 22), "patron.reveal", patron_id=890_001)
    with clock.frozen(at(MONDAY, 23)):
        services.scan()
    return Alert.objects.get()


@pytest.fixture
def officer_client(library) -> Client:
    officer = make_staff("officer-one", "privacy-officer", branch="MAIN")
    client = Client(enforce_csrf_checks=False)
    sign_in(client, officer)
    return client


def test_the_officer_lists_reads_and_reviews_an_alert(officer_client, alert):
    page = officer_client.get("/staff/monitoring/")
    assert page.status_code == 200
    assert "Access outside opening hours" in page.content.decode()
    assert f'href="/staff/monitoring/{alert.pk}/"' in page.content.decode()
    detail = officer_client.get(f"/staff/monitoring/{alert.pk}/")
    assert detail.status_code == 200 and "desk-one" in detail.content.decode()
    refused = officer_client.post(f"/staff/monitoring/{alert.pk}/review/", {"note": ""})
    assert refused.status_code == 400
    assert "Write a short note" in refused.content.decode()
    done = officer_client.post(
        f"/staff/monitoring/{alert.pk}/review/", {"note": "Stocktake night, agreed"}
    )
    assert done.status_code == 302
    after = officer_client.get(done["Location"])
    assert "Stocktake night, agreed" in after.content.decode()
    alert.refresh_from_db()
    assert alert.status == "reviewed" and alert.reviewer == "staff:officer-one"
    review = Entry.objects.get(action="monitoring.alert_review")
    assert review.actor_id == "officer-one" and review.detail["note"] == "Stocktake night, agreed"
    assert Entry.objects.filter(action="monitoring.alert_read", actor_id="officer-one").exists()
    closed = officer_client.get("/staff/monitoring/")
    assert f"/staff/monitoring/{alert.pk}/" not in closed.content.decode()
    everything = officer_client.get("/staff/monitoring/?status=all")
    assert f"/staff/monitoring/{alert.pk}/" in everything.content.decode()
    assert officer_client.get("/staff/monitoring/99999/").status_code == 404


def test_the_thresholds_page_shows_the_values_in_force(officer_client, settings):
    settings.CONFIG["monitoring"] = {"volume_floor": 12, "export_max": 9}
    page = officer_client.get("/staff/monitoring/thresholds/").content.decode()
    assert "<code>volume_floor</code></td><td>12<" in page
    assert "<code>export_max</code></td><td>9<" in page
    assert "alerts at 12 distinct patrons" in page


def test_the_officer_marks_and_unmarks_a_decoy(officer_client, make_patron):
    decoy = make_patron(card="29556660001")
    wrong = officer_client.post("/staff/monitoring/decoys/", {"card": "29556660999"})
    assert wrong.status_code == 400 and "Register the decoy first" in wrong.content.decode()
    added = officer_client.post("/staff/monitoring/decoys/", {"card": "2955 666 0001"})
    assert added.status_code == 302
    assert list(Decoy.objects.values_list("patron_id", flat=True)) == [decoy.pk]
    unconfirmed = officer_client.post("/staff/monitoring/decoys/remove/", {"patron_id": decoy.pk})
    assert unconfirmed.status_code == 400 and Decoy.objects.exists()
    removed = officer_client.post(
        "/staff/monitoring/decoys/remove/", {"patron_id": decoy.pk, "confirm": "on"}
    )
    assert removed.status_code == 302 and not Decoy.objects.exists()


def test_desk_staff_may_not_open_the_monitoring_pages(desk, alert, library):
    clerk = make_staff("desk-two", "circulation-desk", branch="MAIN")
    client = Client()
    sign_in(client, clerk)
    for path in (
        "/staff/monitoring/",
        f"/staff/monitoring/{alert.pk}/",
        "/staff/monitoring/thresholds/",
        "/staff/monitoring/decoys/",
    ):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/staff/monitoring/{alert.pk}/review/", {"note": "x"}).status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"
