"""The patron desk pages: permissions, masking, reveals in the ledger, registration, card, blocks.

Every patron and value here is synthetic (example.org addresses, 555 numbers).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from shelfguard.accounts import services as accounts
from shelfguard.circulation.models import PatronBlock
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Consent, Patron, PatronStatus
from shelfguard.staff import desk_urls
from tests.accounts.helpers import ADMIN, make_staff
from tests.patrons.conftest import BOTH_DATABASES, DESK, adult_values, library  # noqa: F401
from tests.staff.signin import sign_in

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]

MASK = "•••"


def client_for(username: str, *roles: str, branch: str = "MAIN") -> Client:
    client = Client()
    sign_in(client, make_staff(username, *roles, branch=branch))
    return client


@pytest.fixture
def desk() -> Client:
    return client_for("desk", "circulation-desk")


@pytest.fixture
def officer() -> Client:
    """Library-wide, with patron.view_contact (the privacy officer's role)."""
    return client_for("officer", "privacy-officer")


@pytest.fixture
def manager() -> Client:
    """A branch manager of MAIN: changes records of MAIN's patrons only."""
    return client_for("manager", "branch-manager")


@pytest.fixture
def east_manager() -> Client:
    return client_for("eastie", "branch-manager", branch="EAST")


@pytest.fixture
def cataloguer() -> Client:
    return client_for("cataloguer", "cataloguer")


@pytest.fixture
def patron() -> Patron:
    values = adult_values(
        card_number="29000000001",
        name="Wren Example",
        email="wren@example.org",
        phone="+1 555 010 1234",
        address="1 Test Lane\nSampletown",
    )
    return patrons.register(**values, actor=DESK)


def url(name: str, *args) -> str:
    return reverse(f"staff:{name}", args=args)


def reveals(patron_id: int, **filters) -> list[Entry]:
    return list(Entry.objects.filter(patron_id=patron_id, action="patron.reveal", **filters))


def text(response) -> str:
    return response.content.decode()


# --- every page declares its permission ----------------------------------------------


def test_every_desk_patron_page_declares_its_permission():
    access = {
        p.name: p.callback.staff_access
        for p in desk_urls.urlpatterns
        if p.name.startswith("desk_patron")
    }
    assert access == {
        "desk_patron_find": "patron.view_status",
        "desk_patron_register": "patron.register",
        "desk_patron": "patron.view_status",
        "desk_patron_reveal": "patron.view_status",
        "desk_patron_edit": "patron.change",
        "desk_patron_renew": "patron.change",
        "desk_patron_replace_card": "patron.change",
        "desk_patron_block": "circulation.loan",
        "desk_patron_unblock": "circulation.loan",
        "desk_patron_verify_identity": "patron.change",
    }


PAGES = [
    ("desk_patron_find", False),
    ("desk_patron_register", False),
    ("desk_patron", True),
    ("desk_patron_edit", True),
    ("desk_patron_renew", True),
    ("desk_patron_replace_card", True),
    ("desk_patron_block", True),
    ("desk_patron_unblock", True),
]


@pytest.mark.parametrize(("name", "with_patron"), PAGES)
def test_every_page_needs_a_sign_in(client, patron, name, with_patron):
    response = client.get(url(name, patron.pk) if with_patron else url(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/staff/login/")


@pytest.mark.parametrize(("name", "with_patron"), PAGES)
def test_a_role_without_patron_data_is_refused_everywhere(cataloguer, patron, name, with_patron):
    response = cataloguer.get(url(name, patron.pk) if with_patron else url(name))
    assert response.status_code == 403
    assert "Not allowed" in text(response)
    assert not reveals(patron.pk)


@pytest.mark.parametrize(
    "name", ["desk_patron_edit", "desk_patron_renew", "desk_patron_replace_card"]
)
def test_the_desk_role_cannot_change_records(desk, patron, name):
    response = desk.get(url(name, patron.pk))
    assert response.status_code == 403
    assert "patron.change" in text(response)


@pytest.mark.parametrize("name", [n for n, with_patron in PAGES if with_patron])
def test_a_manager_may_open_every_page_for_their_branch(manager, patron, name):
    response = manager.get(url(name, patron.pk))
    assert response.status_code == 200, text(response)[:500]
    assert "no-store" in response["Cache-Control"]


def test_an_uncertified_desk_member_sees_no_patron_page(patron):
    from django.test import Client

    client = Client()
    staff = make_staff("fresh", "circulation-desk", certified=False)
    sign_in(client, staff)
    response = client.get(url("desk_patron", patron.pk))
    assert response.status_code == 403
    assert "certification" in text(response)


# --- find -------------------------------------------------------------------------


def test_the_find_page_starts_in_the_scan_box(desk):
    response = desk.get(url("desk_patron_find"))
    assert response.status_code == 200
    box = re.search(r"<input[^>]*name=\"q\"[^>]*>", text(response)).group(0)
    assert "autofocus" in box
    assert 'autocomplete="off"' in box


def test_a_scanned_card_goes_straight_to_the_patron(desk, patron):
    response = desk.post(url("desk_patron_find"), {"q": " 2900 0000 001 "})
    assert response.status_code == 302
    assert response["Location"] == url("desk_patron", patron.pk)
    # The card number is not in the URL, nor was anything revealed to find it.
    assert "29000000001" not in response["Location"]
    assert not reveals(patron.pk)


def test_a_name_search_lists_names_to_the_desk_and_records_each(desk, patron):
    other = patrons.register(**adult_values(name="Wren Otherly"), actor=DESK)
    patrons.register(**adult_values(name="Nobody Relevant"), actor=DESK)

    response = desk.post(url("desk_patron_find"), {"q": "wren"})

    body = text(response)
    assert response.status_code == 200
    assert "Wren Example" in body and "Wren Otherly" in body
    assert "Nobody Relevant" not in body
    for found in (patron, other):
        (entry,) = reveals(found.pk)
        assert entry.purpose == "patron search"
        assert entry.fields == ["name"]
        assert entry.actor_id == "desk"
    # Nothing else is revealed: no e-mail, no card number.
    assert "wren@example.org" not in body and "29000000001" not in body


def test_search_shows_masked_names_without_view_name(patron):
    accounts.create_role(
        "status-only",
        name="Status only",
        permissions=["patron.view_status"],
        actor=ADMIN,
    )
    client = client_for("looker", "status-only")

    body = text(client.post(url("desk_patron_find"), {"q": "Wren Example"}))

    assert "Wren" not in body
    assert MASK in body
    assert not reveals(patron.pk)


def test_an_email_search_finds_the_patron(desk, patron):
    body = text(desk.post(url("desk_patron_find"), {"q": "WREN@example.org"}))
    assert url("desk_patron", patron.pk) in body
    assert "Wren Example" in body


def test_no_match_says_so_and_empties_the_box(desk, patron):
    body = text(desk.post(url("desk_patron_find"), {"q": "Zyxw"}))
    assert "No patron matches." in body
    assert 'value="Zyxw"' not in body


def test_search_is_never_a_get_query(desk, patron):
    """A name or address typed into the box must not end up in a URL or a log."""
    body = text(desk.get(url("desk_patron_find")))
    form = re.search(r"<form[^>]*role=\"search\"[^>]*>", body).group(0)
    assert 'method="post"' in form


# --- the patron page: masked, name shown for circulation ------------------------------


def test_the_desk_sees_name_and_status_with_the_rest_masked(desk, patron):
    response = desk.get(url("desk_patron", patron.pk))

    body = text(response)
    assert response.status_code == 200
    assert "Wren Example" in body
    assert "Active" in body
    for secret in ("wren@example.org", "555 010 1234", "1 Test Lane", "29000000001", "1980"):
        assert secret not in body
    assert MASK in body
    (entry,) = reveals(patron.pk)
    assert entry.purpose == "circulation"
    assert entry.fields == ["name"]
    # The desk role does not include contact details: no box to reveal them.
    assert 'value="email"' not in body
    assert 'value="card_number"' in body
    # Consents are shown (and their reading is recorded).
    assert Entry.objects.filter(patron_id=patron.pk, action="patron.consent.read").exists()


def test_a_detail_not_kept_says_so_without_a_reveal(officer):
    patron = patrons.register(**adult_values(phone=None), actor=DESK)

    body = text(officer.get(url("desk_patron", patron.pk)))

    row = re.search(r'<tr id="detail-phone".*?</tr>', body, re.DOTALL).group(0)
    assert "not kept" in row and 'type="checkbox"' not in row
    # An adult has no guardian: no row for one.
    assert 'id="detail-guardian_name"' not in body
    assert 'value="email"' in body


def test_a_reveal_is_recorded_with_its_purpose_and_shown_only_once(officer, patron):
    response = officer.post(
        url("desk_patron_reveal", patron.pk),
        {"details": ["email", "phone"], "purpose": "contact patron", "note": "hold is waiting"},
    )

    body = text(response)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "wren@example.org" in body and "+1 555 010 1234" in body
    assert "1 Test Lane" not in body  # not asked for
    (entry,) = reveals(patron.pk, purpose="contact patron: hold is waiting")
    assert entry.fields == ["email", "phone"]
    assert entry.actor_id == "officer"

    again = text(officer.get(url("desk_patron", patron.pk)))
    assert "wren@example.org" not in again
    assert "555 010 1234" not in again
    session = officer.session
    assert "wren@example.org" not in str(dict(session.items()))


def test_a_note_with_control_characters_is_cleaned_for_the_ledger(officer, patron):
    response = officer.post(
        url("desk_patron_reveal", patron.pk),
        {"details": ["email"], "purpose": "other", "note": "bounced\x1b[31m  mail\u200b"},
    )
    assert response.status_code == 200
    assert reveals(patron.pk, purpose="other: bounced[31m mail", fields=["email"])


def test_a_reveal_needs_a_stated_purpose(officer, patron):
    response = officer.post(
        url("desk_patron_reveal", patron.pk), {"details": ["email"], "purpose": "other"}
    )
    assert response.status_code == 400
    assert "wren@example.org" not in text(response)
    assert not reveals(patron.pk, fields=["email"])

    response = officer.post(url("desk_patron_reveal", patron.pk), {"details": ["email"]})
    assert response.status_code == 400
    assert not reveals(patron.pk, fields=["email"])


def test_a_reveal_needs_something_ticked(officer, patron):
    response = officer.post(url("desk_patron_reveal", patron.pk), {"purpose": "circulation"})
    assert response.status_code == 400
    assert "Tick the details you need." in text(response)


def test_contact_details_need_view_contact(desk, patron):
    response = desk.post(
        url("desk_patron_reveal", patron.pk), {"details": ["email"], "purpose": "circulation"}
    )
    assert response.status_code == 403
    assert "patron.view_contact" in text(response)
    assert "wren@example.org" not in text(response)
    assert not reveals(patron.pk)


def test_the_desk_may_reveal_the_card_number(desk, patron):
    response = desk.post(
        url("desk_patron_reveal", patron.pk),
        {"details": ["card_number"], "purpose": "identity check"},
    )
    assert "29000000001" in text(response)
    assert reveals(patron.pk, purpose="identity check", fields=["card_number"])


def test_a_reveal_is_a_post_only(officer, patron):
    assert officer.get(url("desk_patron_reveal", patron.pk)).status_code == 405


def test_an_unknown_patron_is_not_found(desk):
    assert desk.get(url("desk_patron", 999999)).status_code == 404


def test_an_erased_patron_shows_only_that(officer, patron):
    patrons.erase(patron, actor=DESK, reason="patron request")
    response = officer.get(url("desk_patron", patron.pk))
    assert response.status_code == 410
    assert "This patron was erased" in text(response)


# --- register ---------------------------------------------------------------------


def register_data(**overrides) -> dict[str, object]:
    data = {
        "card_number": "29000000777",
        "name": "Ada Newcomer",
        "email": "ada.newcomer@example.org",
        "phone": "",
        "address": "",
        "birth_year": "1990",
        "category": "adult",
        "home_branch": "MAIN",
        "pin": "",
        "accepts_notice": "on",
        "consent_email_notices": "on",
    }
    data.update(overrides)
    return data


def test_the_register_form_follows_the_register_and_shows_the_notice(desk, settings):
    settings.CONFIG = {"patrons": {"collect": ["email", "birth_date", "identity_verification"]}}
    patrons.ensure_defaults()  # a new notice for the new choice

    body = text(desk.get(url("desk_patron_register")))

    assert 'name="email"' in body and 'name="birth_date"' in body
    assert 'name="phone"' not in body and 'name="address"' not in body
    assert 'name="birth_year"' not in body
    assert 'name="identity_document"' in body
    assert re.search(r"<h3>How .* looks after your information</h3>", body)  # the notice
    assert "<strong>" in body and "**" not in body
    for purpose in ("reading_history", "recommendations", "email_notices", "sms_notices"):
        assert f'name="consent_{purpose}"' in body
    # Optional consents start off.
    assert not re.search(r'name="consent_[a-z_]+"[^>]*checked', body)
    # Never a document number.
    assert "number" not in re.search(
        r'name="identity_document".*?</select>', body, re.DOTALL
    ).group(0)


def test_the_notice_is_shown_in_the_staff_members_language(desk):
    body = text(desk.get(url("desk_patron_register"), HTTP_ACCEPT_LANGUAGE="zh-hans"))
    from shelfguard.patrons.models import PrivacyNotice

    chinese = PrivacyNotice.objects.filter(language="zh-hans").latest("version").text
    first_line = chinese.strip().splitlines()[0].lstrip("# ").strip()
    assert first_line in body


def test_registering_creates_a_sealed_patron_with_its_consents(desk, settings):
    settings.CONFIG = {"patrons": {"collect": ["email", "phone", "address", "birth_year",
                                               "identity_verification"]}}  # fmt: skip
    patrons.ensure_defaults()

    response = desk.post(url("desk_patron_register"), register_data(identity_document="passport"))

    assert response.status_code == 302, text(response)[:2000]
    created = patrons.find_by_card("29000000777")
    assert created is not None
    assert response["Location"] == url("desk_patron", created.pk) + "?done=registered"
    assert created.identity_document == "passport"
    assert created.identity_verified_by == "staff:desk"
    given = {c.purpose for c in Consent.objects.filter(patron=created, given=True)}
    assert given == {"service", "email_notices"}
    entry = Entry.objects.get(patron_id=created.pk, action="patron.register")
    assert entry.actor_id == "desk" and entry.purpose == "registration at the desk"
    # Sealed: the row holds no plaintext.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM patrons_patron WHERE id = %s", [created.pk])
        row = cursor.fetchone()
    raw = b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row)
    for value in (b"Ada Newcomer", b"ada.newcomer@example.org", b"29000000777"):
        assert value not in raw


def test_a_child_is_registered_with_a_guardians_consent(desk):
    child = register_data(
        card_number="29000000888",
        name="Pip Junior",
        birth_year=str(clock.today().year - 8),
        guardian_name="Pat Senior",
        category="child",
    )
    refused = desk.post(url("desk_patron_register"), child)
    assert refused.status_code == 400
    assert "guardian must give the consent" in text(refused)

    response = desk.post(url("desk_patron_register"), {**child, "by_guardian": "on"})

    assert response.status_code == 302, text(response)[:2000]
    created = patrons.find_by_card("29000000888")
    assert created.guardian_required
    assert all(c.by_guardian for c in Consent.objects.filter(patron=created))


def test_registration_without_the_notice_agreement_is_refused(desk):
    response = desk.post(url("desk_patron_register"), register_data(accepts_notice=""))
    assert response.status_code == 400
    assert patrons.find_by_card("29000000777") is None


def test_registration_errors_are_shown_without_values(desk):
    response = desk.post(url("desk_patron_register"), register_data(email="", phone=""))
    assert response.status_code == 400
    assert "at least one way to be reached" in text(response)
    assert patrons.find_by_card("29000000777") is None


def test_a_branch_manager_registers_only_for_their_branch(east_manager):
    response = east_manager.post(url("desk_patron_register"), register_data(home_branch="MAIN"))
    assert response.status_code == 403
    assert patrons.find_by_card("29000000777") is None

    response = east_manager.post(url("desk_patron_register"), register_data(home_branch="EAST"))
    assert response.status_code == 302
    assert patrons.find_by_card("29000000777").home_branch.code == "EAST"


# --- edit, renew, replace, block --------------------------------------------------------


def test_an_edit_changes_only_what_is_typed(manager, patron):
    body = text(manager.get(url("desk_patron_edit", patron.pk)))
    assert "wren@example.org" not in body and "Wren Example" not in body
    assert not reveals(patron.pk)

    response = manager.post(
        url("desk_patron_edit", patron.pk),
        {
            "email": "wren.new@example.org",
            "clear_phone": "on",
            "category": "adult",
            "home_branch": "MAIN",
            "reason": "patron moved",
        },
    )

    assert response.status_code == 302, text(response)[:2000]
    values = patrons.reveal(patron, ["name", "email", "phone"], actor=DESK, purpose="test")
    assert values == {"name": "Wren Example", "email": "wren.new@example.org", "phone": None}
    entry = Entry.objects.get(patron_id=patron.pk, action="patron.update")
    assert entry.purpose == "record change: patron moved"
    assert entry.fields == ["email", "phone"]


def test_an_edit_needs_a_reason(manager, patron):
    response = manager.post(
        url("desk_patron_edit", patron.pk),
        {"email": "wren.new@example.org", "category": "adult", "home_branch": "MAIN"},
    )
    assert response.status_code == 400
    assert not Entry.objects.filter(patron_id=patron.pk, action="patron.update").exists()


def test_a_manager_cannot_move_a_patron_to_another_branch(manager, patron):
    response = manager.post(
        url("desk_patron_edit", patron.pk),
        {"category": "adult", "home_branch": "EAST", "reason": "moved"},
    )
    assert response.status_code == 403
    patron.refresh_from_db()
    assert patron.home_branch.code == "MAIN"


def test_renewing_extends_the_card_and_revives_an_expired_one(manager, patron):
    patrons.update(patron, {"status": PatronStatus.EXPIRED}, actor=DESK, purpose="test")
    new_date = clock.today() + dt.timedelta(days=400)

    response = manager.post(url("desk_patron_renew", patron.pk), {"expires_on": new_date})

    assert response.status_code == 302
    patron.refresh_from_db()
    assert patron.expires_on == new_date
    assert patron.status == PatronStatus.ACTIVE
    assert Entry.objects.filter(
        patron_id=patron.pk, action="patron.update", purpose="card renewal"
    ).exists()


def test_renewing_into_the_past_is_refused(manager, patron):
    response = manager.post(
        url("desk_patron_renew", patron.pk), {"expires_on": clock.today() - dt.timedelta(days=1)}
    )
    assert response.status_code == 400
    assert "after today" in text(response)


def test_replacing_a_card_makes_the_old_one_unfindable_at_once(manager, desk, patron):
    response = manager.post(
        url("desk_patron_replace_card", patron.pk),
        {"new_card_number": "29000000999", "reason": "lost"},
    )

    assert response.status_code == 302, text(response)[:2000]
    assert patrons.find_by_card("29000000001") is None
    assert patrons.find_by_card("29000000999").pk == patron.pk
    entry = Entry.objects.get(patron_id=patron.pk, action="patron.update")
    assert entry.fields == ["card_number"] and entry.purpose == "card replaced: lost"
    # At the desk, the old card now finds nobody.
    scan = desk.post(url("desk_patron_find"), {"q": "29000000001"})
    assert scan.status_code == 200
    assert "No patron matches." in text(scan)


def test_replacing_with_the_same_card_is_refused(manager, patron):
    response = manager.post(
        url("desk_patron_replace_card", patron.pk),
        {"new_card_number": "29000000001", "reason": "lost"},
    )
    assert response.status_code == 400
    assert "That is the card being replaced" in text(response)


def test_replacing_with_another_patrons_card_is_refused(manager, patron):
    patrons.register(**adult_values(card_number="29000000555"), actor=DESK)
    response = manager.post(
        url("desk_patron_replace_card", patron.pk),
        {"new_card_number": "29000000555", "reason": "damaged"},
    )
    assert response.status_code == 400
    assert "already registered" in text(response)
    assert patrons.find_by_card("29000000001").pk == patron.pk


def test_block_and_unblock_with_reasons(desk, patron):
    """Blocks are the circulation core's; the desk role lends, so it may block and lift."""
    response = desk.post(
        url("desk_patron_block", patron.pk), {"reason": "unpaid charges", "note": "since May"}
    )
    assert response.status_code == 302, text(response)[:2000]
    (entry,) = Entry.objects.filter(patron_id=patron.pk, action="circulation.block")
    assert entry.purpose == "block at the desk" and entry.actor_id == "desk"
    (block,) = PatronBlock.objects.filter(patron=patron, lifted_at__isnull=True)
    assert block.reason == "unpaid charges: since May"

    body = text(desk.get(url("desk_patron", patron.pk)))
    assert "Borrowing is blocked" in body and "unpaid charges: since May" in body
    assert url("desk_patron_unblock", patron.pk) in body

    page = text(desk.get(url("desk_patron_unblock", patron.pk)))
    block_id = re.search(r'<option value="(\d+)"[^>]*>[^<]*unpaid charges', page).group(1)
    response = desk.post(
        url("desk_patron_unblock", patron.pk), {"block": block_id, "note": "paid in full"}
    )
    assert response.status_code == 302, text(response)[:2000]
    (entry,) = Entry.objects.filter(patron_id=patron.pk, action="circulation.unblock")
    assert entry.purpose == "unblock: paid in full"
    body = text(desk.get(url("desk_patron", patron.pk)))
    assert "Borrowing is blocked" not in body


def test_a_block_needs_a_reason(desk, patron):
    response = desk.post(url("desk_patron_block", patron.pk), {"reason": "other"})
    assert response.status_code == 400
    assert not Entry.objects.filter(patron_id=patron.pk, action="circulation.block").exists()


def test_only_a_block_of_this_patron_can_be_lifted(desk, patron):
    other = patrons.register(**adult_values(), actor=DESK)
    desk.post(url("desk_patron_block", other.pk), {"reason": "conduct"})
    foreign = PatronBlock.objects.get(patron=other)
    response = desk.post(
        url("desk_patron_unblock", patron.pk), {"block": foreign.pk, "note": "mistake"}
    )
    assert response.status_code == 400
    foreign.refresh_from_db()
    assert foreign.lifted_at is None


def test_a_branch_manager_blocks_a_patron_of_their_branch(manager, patron):
    response = manager.post(url("desk_patron_block", patron.pk), {"reason": "conduct"})
    assert response.status_code == 302
    assert PatronBlock.objects.filter(patron=patron, lifted_at__isnull=True).exists()


# --- branch scope ---------------------------------------------------------------------------


def test_a_branch_manager_acts_only_on_patrons_of_their_branch(east_manager, patron):
    for name in ("desk_patron", "desk_patron_edit", "desk_patron_renew", "desk_patron_block",
                 "desk_patron_unblock"):  # fmt: skip
        response = east_manager.get(url(name, patron.pk))
        assert response.status_code == 403, name
        assert "own branch" in text(response)
    response = east_manager.post(
        url("desk_patron_reveal", patron.pk), {"details": ["email"], "purpose": "circulation"}
    )
    assert response.status_code == 403
    response = east_manager.post(
        url("desk_patron_replace_card", patron.pk),
        {"new_card_number": "29000000999", "reason": "lost"},
    )
    assert response.status_code == 403
    assert patrons.find_by_card("29000000001").pk == patron.pk
    assert not reveals(patron.pk)


def test_a_branch_managers_search_leaves_out_other_branches(east_manager, patron):
    eastern = patrons.register(**adult_values(name="Wren Easterly", home_branch="EAST"), actor=DESK)

    body = text(east_manager.post(url("desk_patron_find"), {"q": "wren"}))

    assert "Wren Easterly" in body
    assert "Wren Example" not in body
    assert "1 patron of another branch is not listed" in body
    assert reveals(eastern.pk) and not reveals(patron.pk)


def test_a_branch_manager_sees_contact_details_of_their_own_patrons(manager, patron):
    response = manager.post(
        url("desk_patron_reveal", patron.pk), {"details": ["address"], "purpose": "contact patron"}
    )
    assert response.status_code == 200
    assert "1 Test Lane<br>Sampletown" in text(response)


def test_the_notice_markdown_is_escaped():
    from shelfguard.staff.desk_patron_views import notice_html

    html = notice_html("# Title <b>\n\n- **Name**: <script>x</script>\n  more\n\nText & more")
    assert html == (
        "<h3>Title &lt;b&gt;</h3>\n<ul><li><strong>Name</strong>: &lt;script&gt;x&lt;/script&gt; "
        "more</li></ul>\n<p>Text &amp; more</p>"
    )
