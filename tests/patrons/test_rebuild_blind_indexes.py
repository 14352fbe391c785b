"""Index-key rotation re-indexes every live patron, resumably, recorded per patron."""

from __future__ import annotations

import pytest
from django.db import connection

from shelfguard.ledger.models import Entry
from shelfguard.patrons import services
from shelfguard.patrons.models import Patron, PatronNameToken
from shelfguard.patrons.validation import PatronError
from shelfguard.vault import blind, rotation

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


def versions(patron: Patron) -> set[int]:
    patron.refresh_from_db()
    found = {blind.index_version(bytes(patron.card_index))}
    for column in (patron.email_index, patron.phone_index, patron.address_index):
        if column is not None:
            found.add(blind.index_version(bytes(column)))
    for token in PatronNameToken.objects.filter(patron=patron).values_list("token", flat=True):
        found.add(blind.index_version(bytes(token)))
    return found


def test_rotation_reindexes_everyone_and_lookups_keep_working(make_patron):
    patrons = [make_patron(name=f"Rota Person{i}", email=f"rota{i}@example.org") for i in range(3)]
    erased = make_patron()
    services.erase(erased, actor=DESK, reason="patron request")
    card = services.reveal(patrons[0], ["card_number"], actor=DESK, purpose="test")["card_number"]

    rebuilt = rotation.rotate_index_key(services.rebuild_blind_indexes)

    assert rebuilt == 3
    for patron in patrons:
        assert versions(patron) == {2}
    assert services.find_by_card(card) == patrons[0]
    assert services.find_by_email("rota1@example.org") == [patrons[1]]
    assert services.search_by_name("rota person2") == [patrons[2]]
    entries = Entry.objects.filter(action="patron.reindex")
    assert sorted(e.patron_id for e in entries) == sorted(p.pk for p in patrons)
    assert {(e.actor_kind, e.channel, e.purpose) for e in entries} == {
        ("system", "job", "key-rotation")
    }
    assert entries[0].fields == ["address", "card_number", "email", "name", "phone"]


def test_an_interrupted_rotation_resumes_where_it_stopped(make_patron):
    patrons = [make_patron(name=f"Resume Person{i}") for i in range(4)]

    def crash_after(limit):
        def rebuild(index):
            calls = 0

            def counting(kind, value):
                nonlocal calls
                calls += 1
                if calls > limit:
                    raise RuntimeError("power cut")
                return index(kind, value)

            return services.rebuild_blind_indexes(counting, batch_size=1)

        return rebuild

    # The probe plus card, email, phone, address and two name tokens per patron: 1 + 2 * 6 calls.
    with pytest.raises(RuntimeError):
        rotation.rotate_index_key(crash_after(13))
    done = [p for p in patrons if versions(p) == {2}]
    assert len(done) == 2
    # Mid-rotation, patrons on either key version are found.
    for patron in patrons:
        assert services.search_by_name(f"resume person{patrons.index(patron)}") == [patron]

    assert rotation.rotate_index_key(services.rebuild_blind_indexes) == 2
    assert all(versions(p) == {2} for p in patrons)
    assert Entry.objects.filter(action="patron.reindex").count() == 4


def test_a_damaged_patron_is_reported_and_keeps_the_old_key_in_service(make_patron):
    healthy = make_patron()
    damaged = make_patron()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE patrons_patron SET email_sealed = %s WHERE id = %s",
            [bytes(healthy.email_sealed), damaged.pk],
        )

    with pytest.raises(PatronError, match=f"patrons {damaged.pk} have sealed data"):
        rotation.rotate_index_key(services.rebuild_blind_indexes)

    assert versions(healthy) == {2}
    assert versions(damaged) == {1}
    # The rotation did not switch keys, so the damaged patron can still be found by card.
    card = services.reveal(damaged, ["card_number"], actor=DESK, purpose="test")["card_number"]
    assert services.find_by_card(card) == damaged
