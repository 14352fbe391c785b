"""Anonymous feedback: nothing about the writer is stored or set, and staff answer in public."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from shelfguard.core import clock
from shelfguard.feedback.models import Feedback, FeedbackStatus, RateWindow
from shelfguard.ledger.models import Entry
from tests.feedback.conftest import T0

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

ADDRESS = "198.51.100.23"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) SyntheticBrowser/99.1"
TEXT = "The reading room lights flicker on the second floor."


def post_feedback(client, text=TEXT, category="building", **headers):
    headers.setdefault("REMOTE_ADDR", ADDRESS)
    headers.setdefault("HTTP_USER_AGENT", AGENT)
    return client.post("/feedback/", {"category": category, "text": text}, **headers)


def all_column_values(model) -> list[str]:
    """Every value of every column of every row, read with plain SQL (nothing hidden by the ORM)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return [str(value) for row in cursor.fetchall() for value in row]


def test_the_form_and_its_answer_set_no_cookie(client):
    page = client.get("/feedback/", REMOTE_ADDR=ADDRESS)
    assert page.status_code == 200
    assert "Set-Cookie" not in page.headers and not page.cookies
    assert "csrfmiddlewaretoken" not in page.content.decode()
    sent = post_feedback(client)
    assert sent.status_code == 200, sent.content.decode()[:1000]
    assert "Set-Cookie" not in sent.headers and not sent.cookies
    assert "no-store" in sent["Cache-Control"]


def test_the_row_holds_no_identifier(client):
    with clock.frozen(T0):
        post_feedback(client)
    columns = {f.column for f in Feedback._meta.concrete_fields}
    assert columns == {
        "id",
        "category",
        "text",
        "created_on",
        "status",
        "public_text",
        "answer",
        "answered_on",
        "closed_on",
    }
    values = all_column_values(Feedback)
    joined = " ".join(values)
    assert ADDRESS not in joined and "SyntheticBrowser" not in joined
    assert "10:15" not in joined  # the day only, not the time
    row = Feedback.objects.get()
    assert row.created_on == dt.date(2026, 3, 2)
    assert row.status == FeedbackStatus.NEW
    # The rate limiter keeps a keyed hash of the hour, not the address.
    assert ADDRESS not in " ".join(all_column_values(RateWindow))
    # Filing writes no ledger entry (its exact time would undo the day precision).
    assert not Entry.objects.filter(action__startswith="feedback.").exists()


def test_cross_site_posts_are_refused(client):
    refused = post_feedback(client, HTTP_SEC_FETCH_SITE="cross-site")
    assert refused.status_code == 403
    assert "own pages" in refused.content.decode()
    refused = post_feedback(client, HTTP_ORIGIN="https://elsewhere.example")
    assert refused.status_code == 403
    assert not Feedback.objects.exists()
    same = post_feedback(client, HTTP_SEC_FETCH_SITE="same-origin", HTTP_ORIGIN="http://testserver")
    assert same.status_code == 200
    assert Feedback.objects.count() == 1


def test_too_long_text_gets_a_clear_message(client):
    response = post_feedback(client, text="x" * 2001)
    assert response.status_code == 400
    assert "shorten it to 2000" in response.content.decode()
    assert not Feedback.objects.exists()


def test_a_huge_upload_gets_a_clear_message(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = post_feedback(client, text="y" * 20_000)
    assert response.status_code == 413
    assert "too large" in response.content.decode()
    assert not Feedback.objects.exists()


def test_unknown_category_is_refused(client):
    response = post_feedback(client, category="vip")
    assert response.status_code == 400
    assert not Feedback.objects.exists()


def test_rate_limit_per_address_and_hour(client):
    with clock.frozen(T0):
        for n in range(5):
            assert post_feedback(client, text=f"comment {n}").status_code == 200
        limited = post_feedback(client, text="one too many")
        assert limited.status_code == 429
        assert int(limited["Retry-After"]) > 0
        # Another address is not affected.
        assert post_feedback(client, text="other", REMOTE_ADDR="203.0.113.9").status_code == 200
    assert Feedback.objects.count() == 6
    with clock.frozen(T0 + dt.timedelta(hours=1)):
        assert post_feedback(client, text="next hour").status_code == 200
        # Past hours' counters are gone.
        assert not RateWindow.objects.filter(
            window__lt=T0.replace(minute=0) + dt.timedelta(hours=1)
        )


def test_staff_answer_in_public_with_edited_text_escaped(client, staff_client):
    with clock.frozen(T0):
        post_feedback(client, text="<script>alert(1)</script> Ask Jo Example at desk 4")
    item = Feedback.objects.get()
    manager = staff_client("branch-manager")
    detail = manager.get(f"/staff/feedback/{item.pk}/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    empty = manager.post(f"/staff/feedback/{item.pk}/answer/", {})
    assert empty.status_code == 400
    answered = manager.post(
        f"/staff/feedback/{item.pk}/answer/",
        {"public_text": "<script>alert(1)</script> Ask at the desk", "answer": "<b>Fixed</b>"},
    )
    assert answered.status_code == 302
    page = client.get("/feedback/answered/")
    assert "Set-Cookie" not in page.headers
    html = page.content.decode()
    assert "Jo Example" not in html  # the staff member's edit, not the original, is published
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ask at the desk" in html
    assert "&lt;b&gt;Fixed&lt;/b&gt;" in html and "<script>" not in html
    item.refresh_from_db()
    assert item.status == FeedbackStatus.ANSWERED
    assert manager.post(f"/staff/feedback/{item.pk}/close/", {}).status_code == 400
    assert manager.post(f"/staff/feedback/{item.pk}/close/", {"confirm": "on"}).status_code == 302
    item.refresh_from_db()
    assert item.status == FeedbackStatus.CLOSED
    entries = list(Entry.objects.filter(action__startswith="feedback.").order_by("seq"))
    assert [e.action for e in entries] == [
        "feedback.read",
        "feedback.read",  # the form shown again with the error
        "feedback.answer",
        "feedback.read",  # the refused close shows the page again
        "feedback.close",
    ]
    assert all(e.patron_id is None and e.actor_kind == "staff" for e in entries)


def test_withdrawn_answer_leaves_the_public_page(client, staff_client):
    post_feedback(client)
    item = Feedback.objects.get()
    officer = staff_client("privacy-officer")
    officer.post(
        f"/staff/feedback/{item.pk}/answer/", {"public_text": "Lights flicker", "answer": "Fixed."}
    )
    assert "Lights flicker" in client.get("/feedback/answered/").content.decode()
    officer.post(f"/staff/feedback/{item.pk}/withdraw/", {"confirm": "on"})
    assert "Lights flicker" not in client.get("/feedback/answered/").content.decode()


def test_staff_without_the_permission_are_refused(client, staff_client):
    post_feedback(client)
    item = Feedback.objects.get()
    desk = staff_client("circulation-desk")
    assert desk.get("/staff/feedback/").status_code == 403
    assert desk.get(f"/staff/feedback/{item.pk}/").status_code == 403
    manager = staff_client("branch-manager")
    listing = manager.get("/staff/feedback/?status=new&category=building&order=newest")
    assert listing.status_code == 200 and TEXT[:40] in listing.content.decode()
    assert manager.get("/staff/feedback/999999/").status_code == 404
