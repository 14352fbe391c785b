"""Correction requests through the services: sealed, reviewed, applied through `update`.

Every value is synthetic (made-up names, example.org addresses).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry
from shelfguard.patrons import corrections
from shelfguard.patrons import services as patrons
from shelfguard.patrons.export_sections import export_sections
from shelfguard.patrons.models import CorrectionRequest, CorrectionStatus, PatronChange
from tests.patrons.conftest import BOTH_DATABASES, DESK

pytestmark = BOTH_DATABASES

REVIEWER = Actor(kind="staff", ident="reviewer-1", channel="web")
T0 = dt.datetime(2026, 9, 1, 9, 0, tzinfo=dt.UTC)


def me(patron) -> Actor:
    return Actor(kind="patron", ident=str(patron.pk), channel="web")


def actions(patron_id: int) -> list[str]:
    return list(
        Entry.objects.filter(patron_id=patron_id).order_by("seq").values_list("action", flat=True)
    )


def test_values_and_note_are_sealed_in_the_database(make_patron):
    patron = make_patron()
    request = patrons.submit(
        patron,
        {"name": "Testa Renamed", "address": "9 Other Road\nSampletown"},
        note="Changed by marriage certificate",
        actor=me(patron),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT values_sealed, note_sealed FROM patrons_correctionrequest WHERE id = %s",
            [request.pk],
        )
        values, note = cursor.fetchone()
    raw = bytes(values) + bytes(note)
    assert b"Renamed" not in raw and b"Other Road" not in raw and b"marriage" not in raw
    assert CorrectionRequest.objects.get(pk=request.pk).fields == ["address", "name"]
    assert actions(patron.pk)[-1] == "patron.correction_submit"


def test_a_sealed_value_moved_to_another_request_does_not_open(make_patron):
    patron = make_patron()
    first = patrons.submit(patron, {"name": "Testa First"}, actor=me(patron))
    second = patrons.submit(patron, {"name": "Testa Second"}, actor=me(patron))
    CorrectionRequest.objects.filter(pk=second.pk).update(values_sealed=first.values_sealed)
    views = {v.id: v for v in patrons.requests_of(patron, actor=me(patron))}
    assert views[first.pk].proposed == {"name": "Testa First"}
    assert views[second.pk].proposed == {}  # bound to its own request: refused


def test_approve_applies_through_update_with_the_reviewer_as_actor(make_patron):
    patron = make_patron()
    with clock.frozen(T0):
        request = patrons.submit(patron, {"name": "Testa Corrected"}, actor=me(patron))
    with clock.frozen(T0 + dt.timedelta(hours=3)):
        review = patrons.review(request.pk, actor=REVIEWER)
        assert review.proposed == {"name": "Testa Corrected"}
        assert review.current["name"].startswith("Testa Person")
        patrons.approve(request.pk, actor=REVIEWER)
    # The ledger agrees with the change history: review reveal, review, update, approve.
    tail = actions(patron.pk)[-4:]
    assert patrons.reveal(patron, ["name"], actor=DESK, purpose="tests")["name"] == (
        "Testa Corrected"
    )
    change = PatronChange.objects.filter(patron=patron).order_by("-at", "-id").first()
    assert change.actor == "staff:reviewer-1"
    assert change.fields == ["name"]
    assert change.at == T0 + dt.timedelta(hours=3)
    row = CorrectionRequest.objects.get(pk=request.pk)
    assert row.status == CorrectionStatus.APPROVED
    assert row.reviewer == "staff:reviewer-1" and row.decided_at == change.at
    assert tail == [
        "patron.reveal",
        "patron.correction_review",
        "patron.update",
        "patron.correction_approve",
    ]
    review_entries = Entry.objects.filter(
        patron_id=patron.pk,
        actor_id="reviewer-1",
        action__in=["patron.reveal", "patron.correction_review"],
    )
    assert {e.purpose for e in review_entries} == {"review correction request"}
    assert len(review_entries) == 2
    update_entry = Entry.objects.filter(patron_id=patron.pk, action="patron.update").last()
    assert update_entry.actor_id == "reviewer-1"


def test_reject_and_ask_for_proof_need_a_reason_and_the_patron_sees_it(make_patron):
    patron = make_patron()
    request = patrons.submit(patron, {"address": "2 New Street\nSampletown"}, actor=me(patron))
    with pytest.raises(patrons.PatronError, match="say why"):
        patrons.ask_for_proof(request.pk, "   ", actor=REVIEWER)
    patrons.ask_for_proof(request.pk, "Bring a utility bill to the desk.", actor=REVIEWER)
    [view] = patrons.requests_of(patron, actor=me(patron))
    assert view.status == CorrectionStatus.NEEDS_PROOF
    assert view.reason == "Bring a utility bill to the desk."
    patrons.add_note(patron, request.pk, "I will come on Monday.", actor=me(patron))
    [view] = patrons.requests_of(patron, actor=me(patron))
    assert view.status == CorrectionStatus.OPEN
    assert [s.action for s in view.steps] == ["submitted", "proof", "note"]
    assert view.steps[-1].note == "I will come on Monday."
    patrons.reject(request.pk, "The bill was not in your name.", actor=REVIEWER)
    [view] = patrons.requests_of(patron, actor=me(patron))
    assert view.status == CorrectionStatus.REJECTED and view.decided_at is not None
    # Nothing was changed, and a decided request takes no further decision.
    assert patrons.reveal(patron, ["address"], actor=DESK, purpose="tests")["address"] != (
        "2 New Street\nSampletown"
    )
    with pytest.raises(patrons.PatronError, match="already rejected"):
        patrons.approve(request.pk, actor=REVIEWER)
    with pytest.raises(patrons.PatronError, match="already rejected"):
        patrons.withdraw(patron, request.pk, actor=me(patron))


def test_a_note_is_only_for_a_request_waiting_for_proof(make_patron):
    patron = make_patron()
    request = patrons.submit(patron, {"name": "Testa Noted"}, actor=me(patron))
    with pytest.raises(patrons.PatronError, match="not waiting"):
        patrons.add_note(patron, request.pk, "hello", actor=me(patron))


def test_withdraw(make_patron):
    patron = make_patron()
    request = patrons.submit(patron, {"name": "Testa Withdrawn"}, actor=me(patron))
    patrons.withdraw(patron, request.pk, actor=me(patron))
    assert CorrectionRequest.objects.get(pk=request.pk).status == CorrectionStatus.WITHDRAWN
    assert patrons.correction_queue() == []
    assert actions(patron.pk)[-1] == "patron.correction_withdraw"


def test_patron_a_never_reaches_b_s_request(make_patron):
    a, b = make_patron(), make_patron()
    request = patrons.submit(b, {"name": "Testa Bee"}, actor=me(b))
    for attempt in (
        lambda: patrons.withdraw(a, request.pk, actor=me(a)),
        lambda: patrons.add_note(a, request.pk, "mine now", actor=me(a)),
        lambda: patrons.withdraw(a, 10**9, actor=me(a)),
        lambda: patrons.withdraw(a, "1", actor=me(a)),
    ):
        with pytest.raises(patrons.CorrectionNotFound) as caught:
            attempt()
        assert str(caught.value) == "There is no such request."
    assert patrons.requests_of(a, actor=me(a)) == []
    assert CorrectionRequest.objects.get(pk=request.pk).status == CorrectionStatus.OPEN


def test_only_reviewed_fields_and_bounded_input(make_patron):
    patron = make_patron()
    with pytest.raises(patrons.PatronError, match="yourself"):
        patrons.submit(patron, {"email": "new@example.org"}, actor=me(patron))
    with pytest.raises(patrons.PatronError, match="can change"):
        patrons.submit(patron, {"card_number": "29999999999"}, actor=me(patron))
    with pytest.raises(patrons.PatronError, match="longer than 1000"):
        patrons.submit(patron, {"address": "x" * 5000}, actor=me(patron))
    with pytest.raises(patrons.PatronError, match="longer than 200"):
        patrons.submit(patron, {"name": "y" * 300}, actor=me(patron))
    with pytest.raises(patrons.PatronError, match="longer than 2000"):
        patrons.submit(patron, {"name": "Testa Long"}, note="z" * 2001, actor=me(patron))
    with pytest.raises(patrons.PatronError, match="at least one"):
        patrons.submit(patron, {"name": ""}, actor=me(patron))
    with pytest.raises(patrons.PatronError, match="young patrons"):
        patrons.submit(patron, {"guardian_name": "Testa Parent"}, actor=me(patron))
    assert "guardian_name" not in patrons.reviewed_fields_for(patron)
    assert CorrectionRequest.objects.count() == 0


def test_at_most_three_waiting_requests(make_patron):
    patron = make_patron()
    for n in range(3):
        patrons.submit(patron, {"name": f"Testa Try{n}"}, actor=me(patron))
    with pytest.raises(patrons.PatronError, match="3 requests waiting"):
        patrons.submit(patron, {"name": "Testa Fourth"}, actor=me(patron))


def test_self_edit_of_contact_details_goes_through_update_as_the_patron(make_patron):
    patron = make_patron()
    patrons.change_own_details(patron, {"email": "moved@example.org"}, actor=me(patron))
    assert patrons.find_by_email("moved@example.org") == [patron]
    change = PatronChange.objects.filter(patron=patron).last()
    assert change.actor == f"patron:{patron.pk}" and change.fields == ["email"]
    with pytest.raises(patrons.PatronError, match="correction request"):
        patrons.change_own_details(patron, {"name": "Testa Sneaky"}, actor=me(patron))


def test_self_editable_is_configurable(make_patron, settings):
    patron = make_patron()
    settings.CONFIG = {"patrons": {"self_editable": ["phone"]}}
    with pytest.raises(patrons.PatronError):
        patrons.change_own_details(patron, {"email": "x@example.org"}, actor=me(patron))
    request = patrons.submit(patron, {"email": "reviewed@example.org"}, actor=me(patron))
    assert request.fields == ["email"]


def test_queue_is_oldest_first_and_branch_scoped(make_patron):
    main, east = make_patron(), make_patron(home_branch="EAST")
    with clock.frozen(T0 + dt.timedelta(days=1)):
        newer = patrons.submit(main, {"name": "Testa Newer"}, actor=me(main))
    with clock.frozen(T0):
        older = patrons.submit(east, {"name": "Testa Older"}, actor=me(east))
    assert [r.id for r in patrons.correction_queue()] == [older.pk, newer.pk]
    assert [r.id for r in patrons.correction_queue(branch_ids=[main.home_branch_id])] == [newer.pk]
    # The queue holds field names and ids only.
    assert patrons.correction_queue()[0].fields == ["name"]


def test_the_export_section_holds_the_requests_and_outcomes(make_patron):
    patron = make_patron()
    request = patrons.submit(patron, {"name": "Testa Exported"}, note="see ID", actor=me(patron))
    patrons.reject(request.pk, "No proof.", actor=REVIEWER)
    section = next(s for s in export_sections() if s.name == "corrections")
    before = Entry.objects.count()
    [row] = section.rows(patron)
    assert Entry.objects.count() == before  # the export records itself, not each section
    assert set(row) == set(section.columns)
    assert json.loads(row["proposed_values"]) == {"name": "Testa Exported"}
    assert row["note"] == "see ID" and row["reason"] == "No proof." and row["status"] == "rejected"


def test_erasure_removes_the_requests_with_their_steps(make_patron):
    from shelfguard.patrons.models import CorrectionStep

    patron = make_patron()
    other = make_patron()
    request = patrons.submit(patron, {"name": "Testa Forgotten"}, note="private", actor=me(patron))
    patrons.reject(request.pk, "Reason naming the patron.", actor=REVIEWER)
    kept = patrons.submit(other, {"name": "Testa Kept"}, actor=me(other))
    patrons.erase(patron, actor=DESK, reason="patron request")

    section = next(s for s in export_sections() if s.name == "corrections")
    assert section.rows(patron) == []
    # The staff's reason was in clear: it must not outlive the patron.
    assert not CorrectionStep.objects.filter(request_id=request.pk).exists()
    assert list(CorrectionRequest.objects.values_list("pk", flat=True)) == [kept.pk]
    with pytest.raises(patrons.CorrectionNotFound):
        patrons.review(request.pk, actor=REVIEWER)


def test_corrections_module_names_its_purpose():
    assert corrections.REVIEW_PURPOSE == "review correction request"
