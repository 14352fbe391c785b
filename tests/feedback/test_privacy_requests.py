"""Privacy requests: sealed, reached by a token shown once, handled to a deadline."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.db import connection

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.feedback import services
from shelfguard.feedback.models import PrivacyRequest, RequestStatus, RequestStep
from shelfguard.ledger.models import Entry
from shelfguard.patrons.export_sections import export_sections
from shelfguard.vault import KeyDestroyed, sealing
from tests.feedback.conftest import T0, portal_client

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

CONTACT = "requester7@example.org"
DESCRIPTION = "Please send me a copy of everything you hold about my card."
OFFICER = Actor(kind="staff", ident="officer-tests", channel="web")
FORM = "/feedback/privacy-request/"
LINK = re.compile(r"http://testserver(/feedback/privacy-request/status/[A-Za-z0-9_-]{43}/)")


def file(client, *, kind="access", description=DESCRIPTION, contact=CONTACT, url=FORM, **extra):
    data = {"kind": kind, "description": description, "answer_by": "contact", "contact": contact}
    data.update(extra)
    return client.post(url, data, REMOTE_ADDR="198.51.100.40")


def filed(client, **kwargs) -> tuple[PrivacyRequest, str]:
    with clock.frozen(kwargs.pop("at", T0)):
        response = file(client, **kwargs)
    assert response.status_code == 200, response.content.decode()[:2000]
    path = LINK.search(response.content.decode())[1]
    reference = re.search(r'id="reference">([^<]+)<', response.content.decode())[1]
    return PrivacyRequest.objects.get(reference=reference), path


def raw_rows(model) -> bytes:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        rows = cursor.fetchall()
    return b" ".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for r in rows for v in r
    )


def test_filing_seals_the_texts_and_stores_only_the_token_hash(
    client, library, django_capture_on_commit_callbacks
):
    # The e-mail goes after the commit; the test's transaction never commits.
    with clock.frozen(T0), django_capture_on_commit_callbacks(execute=True):
        response = file(client)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "no-store" in response["Cache-Control"]
    path = LINK.search(response.content.decode())[1]
    token = path.rstrip("/").rsplit("/", 1)[1]
    request = PrivacyRequest.objects.get()
    assert re.fullmatch(r"PR-2026-\d{6}", request.reference)
    assert request.due_on == dt.date(2026, 3, 17)  # 15 days
    raw = raw_rows(PrivacyRequest)
    for secret in (CONTACT, DESCRIPTION, token):
        assert secret.encode() not in raw
    assert request.token_hash != token and len(request.token_hash) == 64
    # The link went to the contact address, and only there.
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [CONTACT]
    assert path in mail.outbox[0].body and request.reference in mail.outbox[0].subject
    entry = Entry.objects.get(action="feedback.privacy_request_file")
    assert entry.patron_id is None and entry.actor_kind == "public"
    assert CONTACT not in str(entry.detail) and DESCRIPTION not in str(entry.detail)


def test_status_page_by_token_only(client, library):
    first, first_path = filed(client)
    second, second_path = filed(client, description="Please delete my old address.")
    page = client.get(first_path)
    assert page.status_code == 200
    assert first.reference in page.content.decode()
    assert second.reference not in page.content.decode()
    assert "Set-Cookie" not in page.headers and "no-store" in page["Cache-Control"]
    assert second.reference in client.get(second_path).content.decode()
    not_found = client.get("/feedback/privacy-request/status/nothing-like-a-token/")
    token = first_path.rstrip("/").rsplit("/", 1)[1]
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    one_off = client.get(f"/feedback/privacy-request/status/{changed}/")
    assert not_found.status_code == 404 and one_off.status_code == 404
    assert not_found.content == one_off.content
    assert client.get("/feedback/privacy-request/status/" + "x" * 500 + "/").status_code == 404


def test_token_guessing_is_rate_limited(client, library):
    with clock.frozen(T0):
        _request, path = filed(client)
        for n in range(10):
            assert client.get(f"/feedback/privacy-request/status/guess{n:040d}/").status_code == 404
        # Now even the right token is refused from this address: guessing stops here.
        assert client.get(path).status_code == 429
        assert client.get(path, REMOTE_ADDR="203.0.113.77").status_code == 200
    with clock.frozen(T0 + dt.timedelta(hours=1)):
        assert client.get(path).status_code == 200


def test_a_contact_or_a_signed_in_session_is_needed(client, library):
    response = file(client, contact="")
    assert response.status_code == 400 and "e-mail address" in response.content.decode()
    response = file(client, contact="not an address")
    assert response.status_code == 400
    # "I am signed in" without a portal session: said clearly, nothing filed.
    response = file(client, contact="", answer_by="signed_in")
    assert response.status_code == 400
    assert "cannot see that you are signed in" in response.content.decode()
    assert not PrivacyRequest.objects.exists()


def test_signed_in_requests_are_linked_to_the_patron_and_exported(make_patron, settings):
    # Served under /account/ too, where browsers send the portal cookie (path=/account/).
    patron = make_patron()
    with clock.frozen(T0):
        client = portal_client(patron)
        response = file(
            client,
            contact="",
            answer_by="signed_in",
            kind="objection",
            url="/account/privacy-request/",
        )
    assert response.status_code == 200, response.content.decode()[:2000]
    request = PrivacyRequest.objects.get()
    assert request.patron_id == patron.pk and request.contact_sealed is None
    entry = Entry.objects.get(action="feedback.privacy_request_file")
    assert entry.patron_id == patron.pk and entry.actor_kind == "patron"
    assert not mail.outbox
    section = {s.name: s for s in export_sections()}["privacy_requests"]
    rows = section.rows(patron)
    assert len(rows) == 1 and set(rows[0]) == set(section.columns)
    assert rows[0]["description"] == DESCRIPTION and rows[0]["kind"] == "objection"


def test_the_lifecycle_with_steps_answers_and_closing(client, library, staff_client):
    request, path = filed(client, description="<img src=x onerror=alert(1)> my data please")
    officer = staff_client("privacy-officer")
    page = officer.get(f"/staff/feedback/requests/{request.pk}/")
    assert page.status_code == 200
    assert "onerror" not in page.content.decode()  # sealed until revealed
    assert not Entry.objects.filter(action="feedback.privacy_request_reveal").exists()
    revealed = officer.post(f"/staff/feedback/requests/{request.pk}/", {"reveal": "1"})
    html = revealed.content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert CONTACT in html
    reveal = Entry.objects.get(action="feedback.privacy_request_reveal")
    assert reveal.actor_kind == "staff" and "contact" in reveal.fields

    assert officer.post(f"/staff/feedback/requests/{request.pk}/step/", {}).status_code == 400
    officer.post(
        f"/staff/feedback/requests/{request.pk}/step/", {"text": "Checked the loan records."}
    )
    officer.post(
        f"/staff/feedback/requests/{request.pk}/step/",
        {"text": "<b>We are gathering your data.</b>", "answer": "on"},
    )
    status = client.get(path).content.decode()
    assert "Being handled" in status
    assert "&lt;b&gt;We are gathering your data.&lt;/b&gt;" in status
    assert "Checked the loan records" not in status  # internal notes stay internal
    raw = raw_rows(RequestStep)
    assert b"Checked the loan records" not in raw and b"gathering" not in raw

    assert officer.post(f"/staff/feedback/requests/{request.pk}/close/", {}).status_code == 400
    closed = officer.post(
        f"/staff/feedback/requests/{request.pk}/close/",
        {"outcome": "fulfilled", "text": "Your copy is attached.", "confirm": "on"},
    )
    assert closed.status_code == 302
    status = client.get(path).content.decode()
    assert "Closed" in status and "Done as asked" in status and "Your copy is attached." in status
    actions = list(
        Entry.objects.filter(action__startswith="feedback.privacy_request").values_list(
            "action", flat=True
        )
    )
    assert actions.count("feedback.privacy_request_note") == 1
    assert actions.count("feedback.privacy_request_answer") == 1
    assert actions.count("feedback.privacy_request_close") == 1
    assert "feedback.privacy_request_status" in actions


def test_dashboard_shows_days_left_and_overdue_in_words(client, library, staff_client):
    early, _ = filed(client, at=T0)
    later, _ = filed(client, at=T0 + dt.timedelta(days=10))
    with clock.frozen(T0 + dt.timedelta(days=17)):
        officer = staff_client("privacy-officer")
        html = officer.get("/staff/feedback/requests/").content.decode()
    assert html.index(early.reference) < html.index(later.reference)  # oldest first
    assert 'class="overdue">Overdue by 2 days<' in html
    assert "8 days" in html


def test_reminders_at_the_boundary(client, library, settings):
    settings.CONFIG = {"privacy": {"officer_email": "dpo@example.org", "reminder_days": 3}}
    request, _ = filed(client, at=T0)  # due 2026-03-17
    mail.outbox.clear()
    four_days_before = dt.datetime(2026, 3, 13, 8, 0, tzinfo=dt.UTC)
    report = services.send_reminders(four_days_before)
    assert report.due == 0 and not report.sent and not mail.outbox
    three_days_before = dt.datetime(2026, 3, 14, 8, 0, tzinfo=dt.UTC)
    with clock.frozen(three_days_before):
        report = services.send_reminders(three_days_before)
    assert report.due == 1 and report.overdue == 0 and report.sent
    assert mail.outbox[0].to == ["dpo@example.org"]
    assert request.reference in mail.outbox[0].body and "3 days left" in mail.outbox[0].body
    assert DESCRIPTION not in mail.outbox[0].body and CONTACT not in mail.outbox[0].body
    day_after = dt.datetime(2026, 3, 18, 8, 0, tzinfo=dt.UTC)
    with clock.frozen(day_after):
        report = services.send_reminders(day_after)
    assert report.overdue == 1 and "OVERDUE by 1 day" in mail.outbox[-1].body
    services.close_request(request.pk, outcome="no_data", actor=OFFICER, purpose="tests")
    assert services.send_reminders(day_after).due == 0


def test_deadline_comes_from_the_configuration(client, library, settings):
    settings.CONFIG = {"privacy": {"request_deadline_days": 30}}
    request, _ = filed(client, at=T0)
    assert request.due_on == dt.date(2026, 4, 1)


def test_remind_command(client, library, settings, run_cli):
    filed(client, at=T0)
    with clock.frozen(T0 + dt.timedelta(days=20)):
        settings.CONFIG = {}
        result = run_cli("feedback", "remind", "--json")
        assert result.code != 0 and "officer_email" in result.err
        settings.CONFIG = {"privacy": {"officer_email": "dpo@example.org"}}
        result = run_cli("feedback", "remind", "--json")
    assert result.code == 0, result.err
    assert result.json()["overdue"] == 1 and result.json()["sent"] is True


def test_erasure_at_the_end_of_retention(client, library, settings, run_cli):
    request, path = filed(client, at=T0)
    with clock.frozen(T0 + dt.timedelta(days=1)):
        services.close_request(
            request.pk, outcome="fulfilled", text="Done.", actor=OFFICER, purpose="tests"
        )
    # Three years after closing on day 1 (the default `request_retention_days`).
    with clock.frozen(T0 + dt.timedelta(days=1095)):
        assert run_cli("feedback", "expire", "--json").json()["erased"] == 0
    with clock.frozen(T0 + dt.timedelta(days=1097)):
        result = run_cli("feedback", "expire", "--json")
    assert result.code == 0 and result.json()["erased"] == 1
    request.refresh_from_db()
    assert request.erased_at is not None and request.status == RequestStatus.CLOSED
    sealing.forget_cached_keys()
    with pytest.raises(KeyDestroyed):
        sealing.unseal(request.key_id, request.owner, "description", request.description_sealed)
    page = client.get(path).content.decode()
    assert "destroyed" in page and request.reference in page
    detail = services.detail(request.pk, reveal=True, actor=OFFICER, purpose="tests")
    assert detail.erased and detail.description is None


def test_forged_ids_and_permissions_on_staff_pages(client, library, staff_client):
    request, _ = filed(client)
    manager = staff_client("branch-manager")  # feedback.manage, not privacy.requests
    assert manager.get("/staff/feedback/requests/").status_code == 403
    assert manager.get(f"/staff/feedback/requests/{request.pk}/").status_code == 403
    officer = staff_client("privacy-officer")
    assert officer.get("/staff/feedback/requests/999999/").status_code == 404
    assert officer.post("/staff/feedback/requests/999999/", {"reveal": "1"}).status_code == 404
    assert officer.get("/staff/feedback/requests/").status_code == 200


def test_bad_input_on_the_request_form(client, library, settings):
    data = {
        "kind": "access",
        "description": DESCRIPTION,
        "answer_by": "contact",
        "contact": CONTACT,
    }
    assert client.post(FORM, data, HTTP_SEC_FETCH_SITE="cross-site").status_code == 403
    assert client.post(FORM, data, HTTP_ORIGIN="https://elsewhere.example").status_code == 403
    assert file(client, description="z" * 5001).status_code == 400
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    huge = file(client, description="z" * 20_000)
    assert huge.status_code == 413 and "too large" in huge.content.decode()
    assert file(client, kind="everything").status_code == 400
    assert not PrivacyRequest.objects.exists()


def test_filing_is_rate_limited(client, library):
    with clock.frozen(T0):
        for _n in range(5):
            assert file(client).status_code == 200
        limited = file(client)
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert PrivacyRequest.objects.count() == 5
