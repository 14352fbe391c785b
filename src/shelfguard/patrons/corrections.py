"""Correction requests: the patron asks, staff check and decide, the record changes once.

Promise 8 says a patron can correct what the library holds. Some fields the
patron may change at once after re-authenticating (`register.self_editable()`,
by default e-mail and phone: `change_own_details`); the others (name,
address, birth data) are facts the library vouches for, so a change is a
*request* that staff review, asking for proof if needed.

A request keeps the proposed values and the patron's notes sealed with the
patron's own key, each bound to the request (or step) it belongs to, so
erasing the patron makes them unreadable with the rest of the record. In
clear are only the field names asked about (for the queue), the status,
who decided when, and the staff's reason (which the patron reads; it is
escaped wherever it is shown, like every note and value).

Approving applies the values through `registration.update` with the
reviewer as the actor, so the record's change history says who decided,
when and which fields changed. Every step writes its own ledger entry in the
same transaction. A request id that is not the caller's (the patron's own,
or one staff may review) raises `CorrectionNotFound` without saying whether
it exists.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import transaction

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons import register as reg
from shelfguard.patrons import validation as v
from shelfguard.patrons.errors import PatronNotFound
from shelfguard.patrons.lookup import reveal
from shelfguard.patrons.models import (
    CorrectionRequest,
    CorrectionStatus,
    CorrectionStep,
    Patron,
    PatronStatus,
)
from shelfguard.patrons.records import _actor_label, _clean, _lock, _owner, _refuse_erased
from shelfguard.patrons.registration import update
from shelfguard.patrons.validation import PatronError
from shelfguard.vault import KeyDestroyed, SealBroken, sealing

REVIEW_PURPOSE = "review correction request"
OWN_PURPOSE = "patron's own correction requests"
SELF_EDIT_PURPOSE = "patron changed own contact details"

#: A note or a staff reason longer than this is refused (it is a note, not a letter).
NOTE_MAX = 2000
#: Raw input longer than this is refused before it is normalised or sealed.
VALUE_INPUT_MAX = 1000
#: Requests waiting at once per patron; more is almost always a mistake (or abuse).
OPEN_MAX = 3

PENDING = (CorrectionStatus.OPEN, CorrectionStatus.NEEDS_PROOF)


class CorrectionNotFound(PatronNotFound):
    """No such request for this caller; the message never says whether it exists."""


@dataclass(frozen=True)
class StepView:
    at: dt.datetime
    action: str
    by_staff: bool
    reason: str
    note: str | None


@dataclass(frozen=True)
class RequestView:
    """A request as a page shows it: plain values, no model instance."""

    id: int
    patron_id: int
    status: str
    status_label: str
    fields: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    decided_at: dt.datetime | None
    reviewer: str
    reason: str
    proposed: dict[str, str | None] = field(default_factory=dict)
    note: str | None = None
    current: dict[str, str | None] = field(default_factory=dict)
    steps: list[StepView] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return self.status in PENDING

    @property
    def needs_proof(self) -> bool:
        return self.status == CorrectionStatus.NEEDS_PROOF


# --- sealing (the patron's key, bound to the request) ------------------------------


def _values_field(request_id: int) -> str:
    return f"correction:{request_id}:values"


def _note_field(request_id: int) -> str:
    return f"correction:{request_id}:note"


def _step_note_field(step_id: int) -> str:
    return f"correction-step:{step_id}:note"


def _seal(patron: Patron, field_name: str, text: str) -> bytes:
    return sealing.open_key(patron.key_id).seal(_owner(patron.pk), field_name, text)


def _unseal(patron: Patron, field_name: str, data: Any) -> str | None:
    """The sealed text, or None when there is none or it no longer opens (erased key)."""
    if data is None:
        return None
    try:
        return sealing.open_key(patron.key_id).unseal(_owner(patron.pk), field_name, bytes(data))
    except (SealBroken, KeyDestroyed):
        return None


def _proposed(row: CorrectionRequest) -> dict[str, str | None]:
    text = _unseal(row.patron, _values_field(row.pk), row.values_sealed)
    return json.loads(text) if text else {}


# --- checking what the patron typed -------------------------------------------------


def _note(text: Any, *, required: bool = False, label: str = "The note") -> str:
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise PatronError(f"{label} must be text.")
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > NOTE_MAX:
        raise PatronError(f"{label} is longer than {NOTE_MAX} characters; shorten it.")
    if required and not text:
        raise PatronError(f"{label} is empty: say why.")
    v._no_controls(text, label, allow_newline=True)
    return text


def _proposal(values: Mapping[str, Any]) -> dict[str, str | None]:
    """The proposed values, normalised as the record would store them; only reviewed fields."""
    allowed = reg.reviewed_keys()
    given = {k: val for k, val in values.items() if val not in (None, "")}
    if not given:
        raise PatronError("Fill in at least one new value.")
    unknown = [k for k in given if k not in allowed]
    if unknown:
        own = [k for k in unknown if k in reg.self_editable()]
        if own and len(own) == len(unknown):
            raise PatronError(
                "You can change your e-mail address or phone number yourself; no request is needed."
            )
        raise PatronError(
            f"A correction request can change {', '.join(allowed) or 'nothing here'}; "
            "ask at the library about anything else."
        )
    for key, val in given.items():
        if isinstance(val, str) and len(val) > VALUE_INPUT_MAX:
            raise PatronError(
                f"The new {reg.get(key).label.lower()} is longer than {VALUE_INPUT_MAX} "
                "characters; shorten it."
            )
    return _clean(given)


# --- the patron's side ---------------------------------------------------------------


def reviewed_fields_for(patron: Patron) -> tuple[str, ...]:
    """The fields this patron may ask to correct (the guardian's name only for young patrons)."""
    return tuple(k for k in reg.reviewed_keys() if k != "guardian_name" or patron.guardian_required)


def change_own_details(
    patron: Patron | int,
    changes: Mapping[str, Any],
    *,
    actor: Actor,
    purpose: str = SELF_EDIT_PURPOSE,
    origin: str = "",
) -> Patron:
    """Change self-editable fields (e-mail, phone) at once, as the patron.

    The caller has re-authenticated the patron (password, and the second
    factor when they have one) just before. Other fields are refused: they
    need a correction request.
    """
    own = reg.self_editable()
    refused = [k for k in changes if k not in own]
    if refused or not changes:
        raise PatronError(
            f"You can change {', '.join(own) or 'nothing'} yourself; for other details "
            "send a correction request."
        )
    for key, val in changes.items():
        if isinstance(val, str) and len(val) > VALUE_INPUT_MAX:
            raise PatronError(
                f"The new {reg.get(key).label.lower()} is longer than {VALUE_INPUT_MAX} "
                "characters; shorten it."
            )
    return update(patron, dict(changes), actor=actor, purpose=purpose, origin=origin)


def submit(
    patron: Patron | int,
    values: Mapping[str, Any],
    *,
    note: str = "",
    actor: Actor,
    purpose: str = "correction request",
    origin: str = "",
) -> CorrectionRequest:
    """File a request to change reviewed fields; the values and note are sealed."""
    proposal = _proposal(values)
    if any(val is None for val in proposal.values()):
        raise PatronError("A correction request gives new values; it does not remove any.")
    note_text = _note(note)
    with transaction.atomic():
        row = _lock(patron)
        _refuse_erased(row)
        if row.status == PatronStatus.CLOSED:
            raise PatronError("This card is closed; ask at the library.")
        if "guardian_name" in proposal and not row.guardian_required:
            raise PatronError("A guardian's name is kept only for young patrons; leave it out.")
        waiting = CorrectionRequest.objects.filter(patron=row, status__in=PENDING).count()
        if waiting >= OPEN_MAX:
            raise PatronError(
                f"You already have {waiting} requests waiting. Wait for an answer, or "
                "withdraw one first."
            )
        now = clock.now()
        request = CorrectionRequest.objects.create(
            patron=row,
            status=CorrectionStatus.OPEN,
            fields=sorted(proposal),
            created_at=now,
            updated_at=now,
        )
        # Sealed after the insert: the ciphertext is bound to the request's id.
        request.values_sealed = _seal(row, _values_field(request.pk), json.dumps(proposal))
        request.note_sealed = _seal(row, _note_field(request.pk), note_text) if note_text else None
        request.save(update_fields=["values_sealed", "note_sealed"])
        _step(request, "submitted", actor, now)
        ledger.append(
            actor=actor,
            action="patron.correction_submit",
            purpose=purpose,
            patron_id=row.pk,
            fields=sorted(proposal),
            origin=origin,
            detail={"request": request.pk},
        )
    return request


def _own(patron: Patron | int, request_id: Any) -> CorrectionRequest:
    pk = patron if isinstance(patron, int) else patron.pk
    found = None
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        found = (
            CorrectionRequest.objects.select_for_update()
            .select_related("patron")
            .filter(pk=request_id, patron_id=pk)
            .first()
        )
    if found is None:
        raise CorrectionNotFound("There is no such request.")
    return found


def requests_of(
    patron: Patron | int, *, actor: Actor, purpose: str = OWN_PURPOSE
) -> list[RequestView]:
    """The patron's requests, newest first, with their values and steps (one ledger entry)."""
    pk = patron if isinstance(patron, int) else patron.pk
    with transaction.atomic():
        rows = list(
            CorrectionRequest.objects.filter(patron_id=pk)
            .select_related("patron")
            .prefetch_related("steps")
            .order_by("-created_at", "-id")
        )
        if rows:
            ledger.append(
                actor=actor,
                action="patron.correction_read",
                purpose=purpose,
                patron_id=pk,
                fields=sorted({f for r in rows for f in r.fields}),
                detail={"requests": len(rows)},
            )
        return [_view(r, with_values=True) for r in rows]


def withdraw(
    patron: Patron | int, request_id: int, *, actor: Actor, purpose: str = "correction request"
) -> CorrectionRequest:
    """The patron takes back a request still waiting for review."""
    with transaction.atomic():
        row = _own(patron, request_id)
        _require_pending(row)
        now = clock.now()
        row.status = CorrectionStatus.WITHDRAWN
        row.updated_at = now
        row.save(update_fields=["status", "updated_at"])
        _step(row, "withdrawn", actor, now)
        ledger.append(
            actor=actor,
            action="patron.correction_withdraw",
            purpose=purpose,
            patron_id=row.patron_id,
            detail={"request": row.pk},
        )
    return row


def add_note(
    patron: Patron | int,
    request_id: int,
    note: str,
    *,
    actor: Actor,
    purpose: str = "correction request",
) -> CorrectionRequest:
    """The patron answers a request for proof; the request goes back to the queue."""
    text = _note(note, required=True)
    with transaction.atomic():
        row = _own(patron, request_id)
        if row.status != CorrectionStatus.NEEDS_PROOF:
            raise PatronError(
                "A note can be added when the library asks for proof; this request is "
                "not waiting for one."
            )
        now = clock.now()
        row.status = CorrectionStatus.OPEN
        row.updated_at = now
        row.save(update_fields=["status", "updated_at"])
        step = _step(row, "note", actor, now)
        step.note_sealed = _seal(row.patron, _step_note_field(step.pk), text)
        step.save(update_fields=["note_sealed"])
        ledger.append(
            actor=actor,
            action="patron.correction_note",
            purpose=purpose,
            patron_id=row.patron_id,
            detail={"request": row.pk},
        )
    return row


# --- the staff side ------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    """A waiting request in the queue: ids, field names and age only; nothing to reveal."""

    id: int
    patron_id: int
    home_branch_id: int | None
    status: str
    status_label: str
    fields: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


def queue(*, branch_ids: list[int] | None = None) -> list[QueueRow]:
    """Requests waiting for review (open or waiting for proof), oldest first.

    `branch_ids` limits the queue to patrons of those home branches (a
    branch-scoped reviewer); None means every branch.
    """
    rows = (
        CorrectionRequest.objects.filter(status__in=PENDING)
        .exclude(patron__status=PatronStatus.ERASED)
        .select_related("patron")
        .order_by("created_at", "id")
    )
    if branch_ids is not None:
        rows = rows.filter(patron__home_branch_id__in=branch_ids)
    return [
        QueueRow(
            id=r.pk,
            patron_id=r.patron_id,
            home_branch_id=r.patron.home_branch_id,
            status=r.status,
            status_label=r.get_status_display(),
            fields=list(r.fields),
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


def branch_of_request(request_id: Any) -> int | None:
    """The home branch of the patron a request is about (None: unknown request or erased)."""
    if not isinstance(request_id, int):
        return None
    return (
        CorrectionRequest.objects.filter(pk=request_id)
        .values_list("patron__home_branch_id", flat=True)
        .first()
    )


def _reviewable(request_id: Any) -> CorrectionRequest:
    found = None
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        found = (
            CorrectionRequest.objects.select_for_update()
            .select_related("patron")
            .filter(pk=request_id)
            .exclude(patron__status=PatronStatus.ERASED)
            .first()
        )
    if found is None:
        raise CorrectionNotFound("There is no such request.")
    return found


def review(
    request_id: int, *, actor: Actor, purpose: str = REVIEW_PURPOSE, origin: str = ""
) -> RequestView:
    """A request with the patron's current and proposed values, for a reviewer.

    Two ledger entries: the reveal of the current values (`patron.reveal`)
    and the opening of the proposed values and notes
    (`patron.correction_review`), both with the purpose "review correction
    request".
    """
    with transaction.atomic():
        row = _reviewable(request_id)
        current = reveal(row.patron, row.fields, actor=actor, purpose=purpose, origin=origin)
        ledger.append(
            actor=actor,
            action="patron.correction_review",
            purpose=purpose,
            patron_id=row.patron_id,
            fields=row.fields,
            origin=origin,
            detail={"request": row.pk},
        )
        view = _view(row, with_values=True)
    return replace(view, current=current)


def approve(
    request_id: int, *, actor: Actor, purpose: str = "correction request approved", origin: str = ""
) -> CorrectionRequest:
    """Apply the proposed values through `update` (actor: the reviewer) and close the request."""
    with transaction.atomic():
        row = _reviewable(request_id)
        _require_pending(row)
        proposed = _proposed(row)
        if not proposed:
            raise PatronError(
                "The proposed values of this request cannot be read; reject it and ask the "
                "patron to send a new one."
            )
        update(row.patron_id, proposed, actor=actor, purpose=purpose, origin=origin)
        _decide(row, CorrectionStatus.APPROVED, actor, "")
        ledger.append(
            actor=actor,
            action="patron.correction_approve",
            purpose=purpose,
            patron_id=row.patron_id,
            fields=row.fields,
            origin=origin,
            detail={"request": row.pk},
        )
    return row


def reject(
    request_id: int,
    reason: str,
    *,
    actor: Actor,
    purpose: str = "correction request rejected",
    origin: str = "",
) -> CorrectionRequest:
    """Refuse the request with a reason the patron will read."""
    return _staff_step(
        request_id, CorrectionStatus.REJECTED, reason, actor, purpose, origin, "reject"
    )


def ask_for_proof(
    request_id: int,
    reason: str,
    *,
    actor: Actor,
    purpose: str = "correction request: proof asked",
    origin: str = "",
) -> CorrectionRequest:
    """Ask the patron for proof (say what is needed); the patron answers with a note."""
    return _staff_step(
        request_id, CorrectionStatus.NEEDS_PROOF, reason, actor, purpose, origin, "proof"
    )


def _staff_step(
    request_id: int,
    status: CorrectionStatus,
    reason: str,
    actor: Actor,
    purpose: str,
    origin: str,
    code: str,
) -> CorrectionRequest:
    text = _note(reason, required=True, label="The reason")
    with transaction.atomic():
        row = _reviewable(request_id)
        _require_pending(row)
        if status == CorrectionStatus.NEEDS_PROOF and row.status == status:
            raise PatronError("Proof is already asked for; wait for the patron's answer.")
        _decide(row, status, actor, text)
        ledger.append(
            actor=actor,
            action=f"patron.correction_{code}",
            purpose=purpose,
            patron_id=row.patron_id,
            origin=origin,
            detail={"request": row.pk},
        )
    return row


# --- shared --------------------------------------------------------------------------


def _require_pending(row: CorrectionRequest) -> None:
    if row.status not in PENDING:
        raise PatronError(
            f"This request is already {row.get_status_display().lower()}; nothing more can "
            "be done with it."
        )


def _decide(row: CorrectionRequest, status: str, actor: Actor, reason: str) -> None:
    now = clock.now()
    row.status = status
    row.reviewer = _actor_label(actor)
    row.reason = reason
    row.updated_at = now
    if status != CorrectionStatus.NEEDS_PROOF:
        row.decided_at = now
    row.save(update_fields=["status", "reviewer", "reason", "updated_at", "decided_at"])
    _step(
        row,
        {"approved": "approved", "rejected": "rejected"}.get(status, "proof"),
        actor,
        now,
        reason=reason,
    )


def _step(
    row: CorrectionRequest, action: str, actor: Actor, at: dt.datetime, *, reason: str = ""
) -> CorrectionStep:
    return CorrectionStep.objects.create(
        request=row, at=at, action=action, actor=_actor_label(actor), reason=reason
    )


def _view(row: CorrectionRequest, *, with_values: bool) -> RequestView:
    patron = row.patron
    steps = [
        StepView(
            at=s.at,
            action=s.action,
            by_staff=s.actor.startswith("staff:"),
            reason=s.reason,
            note=_unseal(patron, _step_note_field(s.pk), s.note_sealed) if with_values else None,
        )
        for s in row.steps.all()
    ]
    return RequestView(
        id=row.pk,
        patron_id=row.patron_id,
        status=row.status,
        status_label=row.get_status_display(),
        fields=list(row.fields),
        created_at=row.created_at,
        updated_at=row.updated_at,
        decided_at=row.decided_at,
        reviewer=row.reviewer,
        reason=row.reason,
        proposed=_proposed(row) if with_values else {},
        note=_unseal(patron, _note_field(row.pk), row.note_sealed) if with_values else None,
        steps=steps,
    )


# --- the patron's data export ----------------------------------------------------------

EXPORT_COLUMNS = (
    "request",
    "status",
    "fields",
    "proposed_values",
    "note",
    "submitted_at",
    "decided_at",
    "reason",
    "steps",
)


def export_rows(patron: Patron) -> list[dict[str, Any]]:
    """The `corrections` export section: every request, its values, notes and outcome.

    Called by the export service inside its own recorded transaction, so no
    ledger entry is written here.
    """
    rows = (
        CorrectionRequest.objects.filter(patron_id=patron.pk)
        .select_related("patron")
        .prefetch_related("steps")
        .order_by("created_at", "id")
    )
    out = []
    for row in rows:
        view = _view(row, with_values=True)
        out.append(
            {
                "request": view.id,
                "status": view.status,
                "fields": " ".join(view.fields),
                "proposed_values": json.dumps(view.proposed, ensure_ascii=False, sort_keys=True),
                "note": view.note or "",
                "submitted_at": view.created_at.isoformat(),
                "decided_at": view.decided_at.isoformat() if view.decided_at else None,
                "reason": view.reason,
                "steps": json.dumps(
                    [
                        {
                            "at": s.at.isoformat(),
                            "step": s.action,
                            "by": "library" if s.by_staff else "you",
                            "reason": s.reason,
                            "note": s.note or "",
                        }
                        for s in view.steps
                    ],
                    ensure_ascii=False,
                ),
            }
        )
    return out
