"""The postal address's blind index: computed, normalised, cleared on erasure, rebuilt."""

from __future__ import annotations

import pytest

from shelfguard.patrons import services
from shelfguard.patrons.models import Patron
from shelfguard.vault import blind, rotation, sizing

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


def address_index(patron: Patron) -> bytes | None:
    patron.refresh_from_db()
    return None if patron.address_index is None else bytes(patron.address_index)


def test_differently_written_addresses_normalise_alike():
    same = [
        "1 Demo Street, Sampletown",
        "1 demo street sampletown",
        " 1  DEMO street,\nSampletown.",
    ]
    assert {blind.normalise("address", text) for text in same} == {"1 demo street sampletown"}
    assert blind.normalise("address", "１ Demo Street") == "1 demo street"  # NFKC
    assert blind.normalise("address", "2 Demo Street") != blind.normalise("address", "1 Demo St")
    with pytest.raises(ValueError):
        blind.normalise("address", " ,. ")


def test_the_address_kind_has_its_own_code_and_the_single_index_length():
    assert sizing.KIND_CODES["address"] not in {
        code for kind, code in sizing.KIND_CODES.items() if kind != "address"
    }
    plan = sizing.plan_bits(sizing.DEFAULT_POPULATION)
    assert plan["address"] == plan["email"] == 12
    # A key file made before the kind existed takes the email length.
    older = {kind: bits for kind, bits in plan.items() if kind != "address"}
    assert sizing.check_bits({**older, "email": 15})["address"] == 15


def test_the_index_is_computed_on_register_and_equal_for_the_same_address(make_patron):
    first = make_patron(address="1 Demo Street, Sampletown")
    second = make_patron(address="1 demo street\nsampletown")
    other = make_patron(address="2 Demo Street, Sampletown")
    stored = address_index(first)
    assert stored is not None and stored == address_index(second)
    assert stored == blind.blind_index("address", "1 DEMO STREET SAMPLETOWN")
    assert stored[0] == sizing.KIND_CODES["address"]
    assert len(stored) == 2 + 2  # kind, version, 12 bits
    assert address_index(other) is not None
    assert b"demo" not in stored.lower()


def test_the_index_follows_an_update_and_is_cleared_with_the_address(make_patron):
    patron = make_patron(address="1 Demo Street, Sampletown")
    services.update(patron, {"address": "9 Other Road, Sampletown"}, actor=DESK, purpose="moved")
    assert address_index(patron) == blind.blind_index("address", "9 other road sampletown")
    services.update(patron, {"address": ""}, actor=DESK, purpose="patron request")
    assert address_index(patron) is None


def test_erasure_clears_the_address_index(make_patron):
    patron = make_patron(address="1 Demo Street, Sampletown")
    assert address_index(patron) is not None
    services.erase(patron, actor=DESK, reason="patron request")
    assert address_index(patron) is None


def test_the_reindex_path_fills_a_missing_index_and_rebuilds_it_with_the_new_key(make_patron):
    # A patron registered before the column existed has no address index.
    patron = make_patron(address="1 Demo Street, Sampletown")
    Patron.objects.filter(pk=patron.pk).update(address_index=None)

    assert rotation.rotate_index_key(services.rebuild_blind_indexes) == 1

    stored = address_index(patron)
    assert stored is not None and blind.index_version(stored) == 2
    assert stored == blind.blind_index("address", "1 demo street sampletown")
