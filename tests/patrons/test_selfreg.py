"""Self-registration through the services: e-mail check, provisional card, desk check, purge.

Every value is synthetic (made-up names, example.org addresses). Mail goes to
Django's locmem outbox.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail

from shelfguard.circulation import services as circulation
from shelfguard.circulation.errors import CirculationError
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry
from shelfguard.patrons import selfreg
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Patron, PatronStatus, SelfRegistration
from shelfguard.portal import services as portal
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]

PASSWORD = "a quiet reading room at dusk"
T0 = dt.datetime(2026, 9, 1, 9, 0, tzinfo=dt.UTC)
PUBLIC = Actor.public("web")
STAFF = Actor(kind="staff", ident="desk-9", channel="web")
CIRC = Actor(kind="system", ident="tests", channel="job")


@pytest.fixture(autouse=True)
def switched_on(library, settings):
    settings.CONFIG = {"portal": {"self_registration": True}}


def apply(email: str = "newreader@example.org", name: str = "Testa Newreader", **kw):
    tokens: list[str] = []

    def link_for(token: str) -> str:
        tokens.append(token)
        return f"https://library.example.org/account/register/confirm/{token}/"

    outcome = patrons.apply_for_card(
        {"name": name, "email": email},
        home_branch="MAIN",
        consents=kw.pop("consents", ()),
        set_credentials=lambda p: portal.set_password(
            p, PASSWORD, actor=portal.patron_actor(p), purpose="self-registration"
        ),
        link_for=link_for,
        actor=PUBLIC,
    )
    return outcome, (tokens[0] if tokens else None)


def confirm(token: str):
    return patrons.verify_email(token, actor_for=portal.patron_actor)


def test_an_application_is_blocked_provisional_and_mails_a_link_without_the_card():
    with clock.frozen(T0):
        outcome, token = apply()
    patron = Patron.objects.get(pk=outcome.patron_id)
    assert patron.status == PatronStatus.BLOCKED
    assert patron.category.code == "provisional"
    row = SelfRegistration.objects.get(patron=patron)
    assert row.token_hash and token not in row.token_hash and len(row.token_hash) == 64
    assert row.token_expires_at == T0 + dt.timedelta(hours=48)
    [message] = mail.outbox
    assert message.to == ["newreader@example.org"]
    assert token in message.body
    card = patrons.reveal(patron, ["card_number"], actor=DESK, purpose="tests")["card_number"]
    assert card not in message.body and card not in message.subject
    # No sign-in before the address is confirmed, even with the right password.
    with pytest.raises(portal.SignInFailed):
        portal.check_password(card, PASSWORD, source="192.0.2.1")
    assert "patron.self_register" in Entry.objects.filter(patron_id=patron.pk).values_list(
        "action", flat=True
    )


def test_optional_purposes_are_off_unless_ticked():
    outcome, _token = apply(consents=["email_notices"])
    patron = Patron.objects.get(pk=outcome.patron_id)
    assert patrons.has_consent(patron, "service")
    assert patrons.has_consent(patron, "email_notices")
    assert not patrons.has_consent(patron, "reading_history")


def test_the_link_confirms_once_and_shows_the_card_number():
    with clock.frozen(T0):
        outcome, token = apply()
    with clock.frozen(T0 + dt.timedelta(hours=47, minutes=59)):
        confirmed = confirm(token)
        assert re.fullmatch(r"SR\d{10}", confirmed.card_number)
        patron = Patron.objects.get(pk=outcome.patron_id)
        assert patron.status == PatronStatus.ACTIVE
        assert portal.check_password(confirmed.card_number, PASSWORD, source="192.0.2.1") == (
            patron
        )
        with pytest.raises(patrons.SelfRegistrationError, match="not valid any more"):
            confirm(token)
    assert SelfRegistration.objects.get(patron=patron).token_hash == ""


def test_the_link_expires_after_48_hours():
    with clock.frozen(T0):
        outcome, token = apply()
    with clock.frozen(T0 + dt.timedelta(hours=48)), pytest.raises(patrons.SelfRegistrationError):
        confirm(token)
    assert Patron.objects.get(pk=outcome.patron_id).status == PatronStatus.BLOCKED


def test_forged_tokens_are_refused():
    apply()
    for token in ("x" * 43, "", "../../etc", "a" * 500, None):
        with pytest.raises(patrons.SelfRegistrationError):
            confirm(token)


def test_an_address_that_has_a_card_gets_a_mail_and_nothing_is_created(make_patron):
    make_patron(email="taken@example.org")
    before = Patron.objects.count()
    outcome, token = apply(email="taken@example.org")
    assert outcome.patron_id is None and token is None and outcome.mail_sent
    assert Patron.objects.count() == before
    [message] = mail.outbox
    assert "already belongs to a card" in message.body


def test_a_new_application_replaces_an_unconfirmed_one():
    first, old_token = apply()
    second, new_token = apply()
    assert Patron.objects.get(pk=first.patron_id).status == PatronStatus.ERASED
    with pytest.raises(patrons.SelfRegistrationError):
        confirm(old_token)
    assert confirm(new_token).patron_id == second.patron_id


def test_switched_off_refuses(settings):
    settings.CONFIG = {"portal": {"self_registration": False}}
    with pytest.raises(patrons.SelfRegistrationError):
        apply()
    assert not mail.outbox


def test_unconfirmed_applications_are_erased_at_30_days():
    with clock.frozen(T0):
        unconfirmed, _t = apply(email="late@example.org")
        confirmed_one, token = apply(email="prompt@example.org")
        confirm(token)
    boundary = T0 + dt.timedelta(days=30)
    assert patrons.purge_unverified(boundary - dt.timedelta(seconds=1)) == 0
    assert Patron.objects.get(pk=unconfirmed.patron_id).status == PatronStatus.BLOCKED
    assert patrons.purge_unverified(boundary) == 1
    assert Patron.objects.get(pk=unconfirmed.patron_id).status == PatronStatus.ERASED
    assert not SelfRegistration.objects.filter(patron_id=unconfirmed.patron_id).exists()
    assert Patron.objects.get(pk=confirmed_one.patron_id).status == PatronStatus.ACTIVE
    assert Entry.objects.filter(patron_id=unconfirmed.patron_id, action="patron.erase").exists()


def test_purge_command(run_cli):
    with clock.frozen(T0 - dt.timedelta(days=31)):
        apply()
    result = run_cli("patron", "purge-unverified", "--json")
    assert result.code == 0, result.err
    assert result.json() == {"erased": 1}
    assert run_cli("patron", "purge-unverified", "--help").code == 0


def _lend(patron, n: int):
    items = [make_item(make_record(f"A Synthetic Title {n}-{i}", index=False)) for i in range(n)]
    done = []
    for item in items:
        try:
            circulation.checkout(
                patron, item.barcode, branch="MAIN", actor=CIRC, purpose="circulation desk"
            )
        except CirculationError as exc:
            return done, exc
        done.append(item)
    return done, None


def test_provisional_cards_borrow_two_items_until_a_desk_checks_identity(settings):
    outcome, token = apply()
    confirm(token)
    patron = Patron.objects.get(pk=outcome.patron_id)
    assert patrons.is_provisional(patron)
    lent, refused = _lend(patron, 3)
    assert len(lent) == 2 and refused is not None and refused.code == "limit_reached"

    settings.CONFIG = {
        "portal": {"self_registration": True},
        "patrons": {
            "collect": ["email", "phone", "address", "birth_year", "identity_verification"]
        },
    }
    with pytest.raises(patrons.PatronError, match="kind of document"):
        patrons.verify_identity(patron, actor=STAFF)
    patrons.verify_identity(patron, document="passport", actor=STAFF)
    patron.refresh_from_db()
    assert patron.category.code == "adult"
    assert patron.identity_document == "passport"
    assert patron.identity_verified_by == "staff:desk-9"
    assert not patrons.is_provisional(patron)
    assert Entry.objects.filter(patron_id=patron.pk, action="patron.identity_check").exists()
    lent, refused = _lend(patron, 1)
    assert len(lent) == 1 and refused is None
    with pytest.raises(patrons.PatronError, match="checked already"):
        patrons.verify_identity(patron, document="passport", actor=STAFF)


def test_identity_check_without_recording_documents(make_patron):
    outcome, token = apply()
    with pytest.raises(patrons.PatronNotFound):
        patrons.verify_identity(outcome.patron_id, actor=STAFF)  # not confirmed yet
    confirm(token)
    with pytest.raises(patrons.PatronError, match="does not record"):
        patrons.verify_identity(outcome.patron_id, document="passport", actor=STAFF)
    patrons.verify_identity(outcome.patron_id, actor=STAFF)
    assert Patron.objects.get(pk=outcome.patron_id).category.code == "adult"
    desk_patron = make_patron()
    with pytest.raises(patrons.PatronNotFound):
        patrons.verify_identity(desk_patron, actor=STAFF)


def test_the_provisional_rule_is_a_loan_rule_the_library_can_edit():
    from shelfguard.circulation.models import LoanPolicy

    def rule():
        return LoanPolicy.objects.filter(
            patron_category__code=selfreg.PROVISIONAL_CATEGORY,
            item_type__isnull=True,
            branch__isnull=True,
        ).first()

    assert rule() is None  # a library that takes no applications has no such rule
    apply(email="first@example.org")
    assert rule().max_items == 2
    assert Entry.objects.filter(action="circulation.rules_change").exists()
    circulation.set_policy(category=selfreg.PROVISIONAL_CATEGORY, max_items=3, actor=CIRC)
    apply(email="second@example.org")
    assert rule().max_items == 3  # the library's edit stands
