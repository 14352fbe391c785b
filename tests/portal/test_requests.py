"""The correction pages end to end: patron asks, staff decide, patron sees; self-registration pages.

Every value is synthetic. Portal requests run on the frozen test clock (the
portal session's timeouts are checked against it); staff pages on the real one.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client

from shelfguard.accounts.models import Throttle
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import (
    CorrectionRequest,
    CorrectionStatus,
    Patron,
    PatronChange,
    PatronStatus,
)
from tests.accounts.helpers import make_staff
from tests.patrons.conftest import DESK
from tests.portal.conftest import PASSWORD, T0, signed_in
from tests.staff.signin import sign_in as staff_sign_in

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

AT = T0 + dt.timedelta(minutes=1)
SCRIPT = "<script>alert(1)</script>"


def get(client: Client, path: str, **extra):
    with clock.frozen(AT):
        return client.get(path, **extra)


def post(client: Client, path: str, data: dict, **extra):
    with clock.frozen(AT):
        return client.post(path, data, **extra)


def staff(username: str, role: str, branch: str = "MAIN") -> Client:
    client = Client()
    staff_sign_in(client, make_staff(username, role, branch=branch))
    return client


def ask(client: Client, **values) -> CorrectionRequest:
    data = {"action": "submit", **{f"fix-{k}": val for k, val in values.items()}}
    response = post(client, "/account/requests/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    return CorrectionRequest.objects.order_by("-id").first()


def name_of(patron) -> str:
    return patrons.reveal(patron, ["name"], actor=DESK, purpose="tests")["name"]


# --- the patron's page --------------------------------------------------------------------


def test_the_page_offers_the_register_driven_forms(reader):
    _patron, card = reader()
    page = get(signed_in(card, at=AT), "/account/requests/").content.decode()
    assert 'name="own-email"' in page and 'name="own-phone"' in page
    assert 'name="fix-name"' in page and 'name="fix-address"' in page
    assert 'name="fix-email"' not in page and 'name="fix-card_number"' not in page


def test_self_edit_of_email_needs_the_password(reader):
    patron, card = reader()
    client = signed_in(card, at=AT)
    wrong = post(
        client,
        "/account/requests/",
        {"action": "own", "own-email": "moved@example.org", "own-current_password": "nope nope"},
    )
    assert wrong.status_code == 400 and "Sign-in failed" in wrong.content.decode()
    assert patrons.find_by_email("moved@example.org") == []
    right = post(
        client,
        "/account/requests/",
        {"action": "own", "own-email": "moved@example.org", "own-current_password": PASSWORD},
    )
    assert right.status_code == 302 and right["Location"].endswith("done=changed")
    assert patrons.find_by_email("moved@example.org") == [patron]
    change = PatronChange.objects.filter(patron=patron).last()
    assert change.actor == f"patron:{patron.pk}" and change.fields == ["email"]


def test_correction_end_to_end_with_approval(reader):
    patron, card = reader()
    client = signed_in(card, at=AT)
    request = ask(client, name="Testa Rightname", note="Spelling at registration was wrong")
    page = get(client, "/account/requests/").content.decode()
    assert f'id="request-{request.pk}"' in page and "Waiting for review" in page

    reviewer = staff("officer", "privacy-officer")
    queue = reviewer.get("/staff/corrections/").content.decode()
    assert f"/staff/corrections/{request.pk}/" in queue
    assert "Rightname" not in queue  # the queue names fields, never values
    detail = reviewer.get(f"/staff/corrections/{request.pk}/").content.decode()
    assert "Testa Rightname" in detail and name_of(patron) in detail
    assert Entry.objects.filter(
        patron_id=patron.pk,
        actor_id="officer",
        action="patron.reveal",
        purpose="review correction request",
    ).exists()
    response = reviewer.post(f"/staff/corrections/{request.pk}/", {"action": "approve"})
    assert response.status_code == 302
    assert name_of(patron) == "Testa Rightname"
    change = PatronChange.objects.filter(patron=patron).last()
    assert change.actor == "staff:officer" and change.fields == ["name"]
    page = get(client, "/account/requests/").content.decode()
    assert "Approved" in page
    assert "Withdraw this request" not in page


def test_ask_for_proof_then_note_then_reject_all_escaped(reader):
    patron, card = reader()
    client = signed_in(card, at=AT)
    request = ask(client, address=f"1 {SCRIPT} Road")
    reviewer = staff("officer", "privacy-officer")
    detail = reviewer.get(f"/staff/corrections/{request.pk}/").content.decode()
    assert SCRIPT not in detail and "&lt;script&gt;" in detail
    refused = reviewer.post(f"/staff/corrections/{request.pk}/", {"action": "proof"})
    assert refused.status_code == 400
    reviewer.post(
        f"/staff/corrections/{request.pk}/",
        {"action": "proof", "reason": f"Show a bill {SCRIPT}"},
    )
    page = get(client, "/account/requests/").content.decode()
    assert "Proof asked for" in page and SCRIPT not in page and "&lt;script&gt;" in page
    response = post(
        client,
        "/account/requests/",
        {"action": "note", "request": request.pk, "note": f"Bringing it {SCRIPT}"},
    )
    assert response.status_code == 302
    assert CorrectionRequest.objects.get(pk=request.pk).status == CorrectionStatus.OPEN
    detail = reviewer.get(f"/staff/corrections/{request.pk}/").content.decode()
    assert "Bringing it &lt;script&gt;" in detail
    reviewer.post(
        f"/staff/corrections/{request.pk}/", {"action": "reject", "reason": "Not readable."}
    )
    page = get(client, "/account/requests/").content.decode()
    assert "Rejected" in page and "Not readable." in page
    address = patrons.reveal(patron, ["address"], actor=DESK, purpose="tests")["address"]
    assert SCRIPT not in address  # a rejected request changes nothing


def test_huge_input_is_refused_with_a_clear_message(reader):
    _patron, card = reader()
    client = signed_in(card, at=AT)
    response = post(client, "/account/requests/", {"action": "submit", "fix-name": "x" * 5000})
    assert response.status_code == 400
    assert "at most 200 characters" in response.content.decode()
    assert CorrectionRequest.objects.count() == 0


def test_patron_b_never_sees_or_acts_on_a_s_request(reader):
    _a, card_a = reader()
    _b, card_b = reader()
    request = ask(signed_in(card_a, at=AT), name="Testa Private")
    client_b = signed_in(card_b, at=AT)
    assert "Testa Private" not in get(client_b, "/account/requests/").content.decode()
    for data in (
        {"action": "withdraw", "request": request.pk},
        {"action": "note", "request": request.pk, "note": "taken over"},
        {"action": "withdraw", "request": 999999},
        {"action": "withdraw", "request": "abc"},
    ):
        assert post(client_b, "/account/requests/", data).status_code == 404
    assert CorrectionRequest.objects.get(pk=request.pk).status == CorrectionStatus.OPEN


def test_staff_without_permission_or_of_another_branch_are_refused(reader):
    patron, card = reader()  # of MAIN
    request = ask(signed_in(card, at=AT), name="Testa Scoped")
    assert patron.home_branch.code == "MAIN"
    path = f"/staff/corrections/{request.pk}/"
    desk = staff("desk", "circulation-desk")
    assert desk.get("/staff/corrections/").status_code == 403
    assert desk.get(path).status_code == 403
    east = staff("eastie", "branch-manager", branch="EAST")
    assert (
        f"/staff/corrections/{request.pk}/" not in east.get("/staff/corrections/").content.decode()
    )
    assert east.get(path).status_code == 403
    assert east.post(path, {"action": "approve"}).status_code == 403
    # A forged id looks the same to a branch-scoped reviewer as another branch's request.
    assert east.get("/staff/corrections/999999/").status_code == 403
    main = staff("manager", "branch-manager")
    assert main.get(path).status_code == 200
    assert staff("officer", "privacy-officer").get("/staff/corrections/999999/").status_code == 404
    assert name_of(patron) != "Testa Scoped"


# --- self-registration pages -----------------------------------------------------------------


@pytest.fixture
def selfreg(library, settings):
    settings.CONFIG = {"portal": {"self_registration": True}}
    return settings


def apply_data(**overrides) -> dict:
    data = {
        "name": "Testa Webapplicant",
        "email": "webapplicant@example.org",
        "home_branch": "MAIN",
        "adult": "on",
        "new_password": PASSWORD,
        "new_password_again": PASSWORD,
        "accept": "on",
    }
    data.update(overrides)
    return data


def test_switched_off_is_a_404_page_saying_so(library, settings):
    settings.CONFIG = {}
    response = Client().get("/account/register/")
    assert response.status_code == 404
    assert "does not take card applications online" in response.content.decode()
    response = Client().post("/account/register/", apply_data())
    assert response.status_code == 404 and Patron.objects.count() == 0


def test_the_form_shows_the_notice_in_the_page_language_and_optional_purposes_unticked(selfreg):
    page = Client().get("/account/register/").content.decode()
    assert "Privacy notice (version 1)" in page
    assert 'name="consent_reading_history"' in page
    assert re.search(r'<input[^>]*name="consent_reading_history"[^>]*checked', page) is None
    assert 'name="phone"' not in page  # the register: name and e-mail only
    # The notice's headings and lists are rendered, not shown as Markdown.
    assert "<h4>" in page and "<li><strong>" in page
    assert "<p># " not in page and "<p>## " not in page
    chinese = Client().get("/account/register/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert re.search(r"[\u4e00-\u9fff]", chinese)


def test_apply_confirm_and_see_the_card_number_once(selfreg):
    client = Client()
    response = client.post("/account/register/", apply_data())
    assert response.status_code == 200, response.content.decode()[:3000]
    assert "Check your e-mail" in response.content.decode()
    [message] = mail.outbox
    link = re.search(r"https?://\S+/account/register/confirm/(\S+)/", message.body)
    path = f"/account/register/confirm/{link.group(1)}/"
    assert Client().get(path).status_code == 200  # a link scanner's GET uses nothing up
    confirmed = Client().post(path)
    page = confirmed.content.decode()
    card = re.search(r'id="card-number"><strong>(SR\d{10})<', page).group(1)
    assert card not in message.body
    assert Client().post(path).status_code == 404
    assert Client().get(path).status_code == 404
    patron = patrons.find_by_card(card)
    assert patron.status == PatronStatus.ACTIVE
    with clock.frozen(clock.now()):
        signed = Client().post("/account/login/", {"card": card, "password": PASSWORD})
    assert signed.status_code == 302 and signed["Location"] == "/account/"


def test_password_rules_and_escaping_on_the_form(selfreg):
    response = Client().post(
        "/account/register/",
        apply_data(name=SCRIPT, new_password="short", new_password_again="short"),
    )
    page = response.content.decode()
    assert response.status_code == 400 and "at least 15 characters" in page
    assert SCRIPT not in page
    assert Patron.objects.count() == 0 and not mail.outbox


def test_applications_are_rate_limited_without_keeping_the_address(selfreg):
    codes = []
    with clock.frozen(T0):
        for n in range(5):
            response = Client().post(
                "/account/register/",
                apply_data(email=f"burst{n}@example.org"),
                REMOTE_ADDR="198.51.100.7",
            )
            codes.append(response.status_code)
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    keys = " ".join(Throttle.objects.values_list("key", flat=True))
    assert "198.51.100.7" not in keys


def test_desk_verification_lifts_the_provisional_status(selfreg):
    Client().post("/account/register/", apply_data())
    token = re.search(r"/confirm/(\S+)/", mail.outbox[0].body).group(1)
    Client().post(f"/account/register/confirm/{token}/")
    patron = Patron.objects.get(selfreg__isnull=False)
    manager = staff("manager", "branch-manager")
    page = manager.get(f"/staff/desk/patrons/{patron.pk}/").content.decode()
    assert 'id="provisional"' in page
    path = f"/staff/desk/patrons/{patron.pk}/verify-identity/"
    assert manager.post(path, {}).status_code == 400
    assert patrons.is_provisional(patron)
    assert staff("desk", "circulation-desk").post(path, {"confirm": "yes"}).status_code == 403
    response = manager.post(path, {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"].endswith("done=identity")
    patron.refresh_from_db()
    assert patron.category.code == "adult" and not patrons.is_provisional(patron)
    assert Entry.objects.filter(
        patron_id=patron.pk, action="patron.identity_check", actor_id="manager"
    ).exists()
