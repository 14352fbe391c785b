"""Erasure is refused, with the reasons, while a registered obligation check reports anything."""

from __future__ import annotations

import pytest

from shelfguard.ledger.models import Entry
from shelfguard.patrons import services
from shelfguard.patrons.models import PatronStatus
from shelfguard.vault.models import DataKey

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


@pytest.fixture
def obligation():
    """Register a check the way circulation will; unregister it after the test."""
    outstanding: dict[int, list[str]] = {}

    def loans_and_fines(patron):
        return outstanding.get(patron.pk, [])

    services.register_obligation_check(loans_and_fines)
    yield outstanding
    services.unregister_obligation_check(loans_and_fines)


def test_erasure_is_refused_while_obligations_remain(make_patron, obligation):
    patron = make_patron()
    obligation[patron.pk] = ["2 items on loan", "a fine of 3.50 is unpaid"]

    with pytest.raises(services.ErasureRefused) as caught:
        services.erase(patron, actor=DESK, reason="patron request")

    assert caught.value.reasons == ["2 items on loan", "a fine of 3.50 is unpaid"]
    assert str(caught.value) == (
        f"Patron {patron.pk} cannot be erased yet: 2 items on loan; a fine of 3.50 is unpaid. "
        "Settle these first, then erase again."
    )
    patron.refresh_from_db()
    assert patron.status == PatronStatus.ACTIVE
    assert DataKey.objects.using("keystore").filter(pk=patron.key_id).exists()
    assert not Entry.objects.filter(action="patron.erase").exists()


def test_erasure_goes_ahead_once_settled(make_patron, obligation):
    patron = make_patron()
    obligation[patron.pk] = ["1 item on loan"]
    with pytest.raises(services.ErasureRefused):
        services.erase(patron, actor=DESK, reason="patron request")

    obligation[patron.pk] = []
    services.erase(patron, actor=DESK, reason="patron request")

    patron.refresh_from_db()
    assert patron.status == PatronStatus.ERASED


def test_a_failing_check_refuses_erasure(make_patron):
    def broken(patron):
        raise RuntimeError("circulation database unavailable")

    patron = make_patron()
    services.register_obligation_check(broken)
    try:
        with pytest.raises(services.ErasureRefused, match="obligations are unknown"):
            services.erase(patron, actor=DESK, reason="patron request")
    finally:
        services.unregister_obligation_check(broken)
    patron.refresh_from_db()
    assert patron.status == PatronStatus.ACTIVE


def test_without_registered_checks_erasure_is_not_blocked(make_patron):
    patron = make_patron()

    services.erase(patron, actor=DESK, reason="patron request")

    patron.refresh_from_db()
    assert patron.is_erased
