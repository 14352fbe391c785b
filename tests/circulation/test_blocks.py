"""Patron blocks: expired card, manual block, too many overdues, charges over limit, no consent."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.circulation import errors as e
from shelfguard.circulation import services
from shelfguard.circulation.models import Charge
from shelfguard.core import clock
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Patron

from .conftest import BOTH_DATABASES, DESK, NOON, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def refused(patron, item):
    with pytest.raises(e.CirculationError) as caught:
        services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.PATRON_BLOCKED
    return caught.value.message


def test_expired_card(make_patron, copy):
    patron = make_patron()
    Patron.objects.filter(pk=patron.pk).update(expires_on=dt.date(2026, 6, 9))
    assert "expired" in refused(patron, copy())


def test_manual_block_and_lifting_it(make_patron, copy):
    patron, item = make_patron(), copy()
    block = services.block_patron(patron, "card reported stolen", actor=DESK, purpose=PURPOSE)
    assert "blocked" in refused(patron, item)
    services.lift_block(block, actor=DESK, purpose=PURPOSE)
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)


def test_block_needs_a_reason(make_patron):
    with pytest.raises(e.CirculationError):
        services.block_patron(make_patron(), "  ", actor=DESK, purpose=PURPOSE)


def test_too_many_overdues(make_patron, copy, settings):
    settings.CONFIG = {"circulation": {"max_overdues": 2}}
    patron = make_patron()
    for _ in range(2):
        services.checkout(patron, copy().barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    with clock.frozen(NOON + dt.timedelta(days=22)):
        assert "overdue" in refused(patron, copy())


def test_charges_over_the_limit(make_patron, copy, settings):
    settings.CONFIG = {"circulation": {"charge_limit_cents": 500}}
    patron = make_patron()
    Charge.objects.create(patron=patron, amount_cents=501, created_on=dt.date(2026, 6, 1))
    assert "Charges" in refused(patron, copy())


def test_consent_to_service_withdrawn(make_patron, copy):
    patron = make_patron()
    patrons.withdraw_consent(patron, "service", actor=DESK)
    assert "consent" in refused(patron, copy())


def test_erasure_is_refused_while_items_are_on_loan(make_patron, copy):
    patron, item = make_patron(), copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    with pytest.raises(patrons.ErasureRefused) as caught:
        patrons.erase(patron, actor=DESK, reason="patron request")
    assert caught.value.reasons == ["1 item(s) on loan"]
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    patrons.erase(patron, actor=DESK, reason="patron request")
