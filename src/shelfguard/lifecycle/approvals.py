"""Four eyes: bulk destruction needs a second staff member's approval (promise 7).

A bulk action (binning more than `[lifecycle] bulk_threshold` objects at once,
erasing more than one patron at once) is refused unless it carries an
`ApprovalRequest` that is approved, unexpired (`[lifecycle] approval_hours`
after it was made), unused, and whose parameters match the action's exactly.
The requester can never approve their own request; the approver must hold the
permission the action itself needs; an approval is used once. Parameters are
ids, counts and codes only, never a personal value (patrons by id, not card).

Retention periods are not here on purpose: they are read only from
shelfguard.toml, which is the operator's domain (see docs/privacy/four-eyes.md).
Exports are not either: `export-marc` writes patron-free catalogue data, and
the portal's export is one patron's own data, asked for by that patron.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.lifecycle import recycle
from shelfguard.lifecycle.models import ApprovalRequest

BULK_DELETE = "bulk_delete"
ERASE_PATRONS = "erase_patrons"
#: A change of retention periods ({rule: days}); see `lifecycle.retention_changes`.
RETENTION_CHANGE = "retention_change"
ACTIONS = (BULK_DELETE, ERASE_PATRONS, RETENTION_CHANGE)
Status = ApprovalRequest.Status


class ApprovalError(ValueError):
    """Four-eyes refusal: `code` is stable, the message says what to do (no personal value)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def approval_hours() -> int:
    return recycle.lifecycle_setting("approval_hours", 24, 1, 24 * 30)


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_CODE = re.compile(r"[a-z0-9_.-]{0,40}")


def _is_code(value: Any) -> bool:
    # A kind or an action name; anything that could be a name or an address is refused.
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


def _canonical(params: Any) -> dict[str, Any]:
    """Parameters as stored and compared: ids sorted without repeats, codes as text."""
    if not isinstance(params, dict):
        raise ApprovalError("params", _("Parameters must be a mapping of names to ids or codes."))
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, (list, tuple, set)):
            try:
                out[str(name)] = sorted({int(v) for v in value})
            except (TypeError, ValueError):
                raise ApprovalError("params", _("Lists of ids must hold whole numbers.")) from None
        elif _is_number(value) or _is_code(value):
            out[str(name)] = value
        else:
            raise ApprovalError(
                "params", _("Parameters may only be ids, numbers or short codes, never values.")
            )
    return json.loads(json.dumps(out, sort_keys=True))


def permission_for(action: str, params: dict[str, Any]) -> str:
    if action == ERASE_PATRONS:
        return "patron.erase"
    if action == RETENTION_CHANGE:
        return "config.change"
    if action == BULK_DELETE:
        kind = params.get("kind")
        if kind not in recycle.SPECS:
            raise ApprovalError(
                "params", _("Say which kind to delete: %(k)s.") % {"k": ", ".join(recycle.SPECS)}
            )
        return recycle.permission_for(kind)
    raise ApprovalError(
        "action", _("Unknown action; use one of: %(a)s.") % {"a": ", ".join(ACTIONS)}
    )


def _who(actor: Actor) -> str:
    return f"{actor.kind}:{actor.ident}"[:180]


def same_person(a: str, b: str) -> bool:
    # The CLI operator and the staff account of one person share a name by
    # convention; compare the names, not the channels.
    return a.split(":", 1)[-1] == b.split(":", 1)[-1]


def _expire(row: ApprovalRequest, now: dt.datetime) -> bool:
    if row.status in (Status.PENDING, Status.APPROVED) and row.expires_at <= now:
        row.status = Status.EXPIRED
        row.save(update_fields=["status"])
        return True
    return row.status == Status.EXPIRED


def request(
    action: str, params: dict[str, Any], *, actor: Actor, purpose: str, reason: str
) -> ApprovalRequest:
    """Ask for a second person's approval of one bulk action."""
    clean = _canonical(params)
    code = permission_for(action, clean)
    reason = " ".join(str(reason or "").split())
    if not reason or len(reason) > 200:
        raise ApprovalError(
            "reason", _("Say why in under 200 characters, without personal details.")
        )
    recycle.authorise(actor, code, purpose=purpose)
    now = clock.now()
    with transaction.atomic():
        row = ApprovalRequest.objects.create(
            action=action,
            params=clean,
            requested_by=_who(actor),
            reason=reason,
            created_at=now,
            expires_at=now + dt.timedelta(hours=approval_hours()),
        )
        ledger.append(
            actor=actor,
            action="approval.request",
            purpose=purpose,
            detail={"request": row.pk, "kind": action, "count": _count(clean)},
        )
    return row


def _count(params: dict[str, Any]) -> int:
    return sum(len(v) for v in params.values() if isinstance(v, list))


def _decide(request_id: int, approve: bool, *, actor: Actor, purpose: str) -> ApprovalRequest:
    now = clock.now()
    with transaction.atomic():
        row = ApprovalRequest.objects.select_for_update().filter(pk=request_id).first()
        if row is None:
            raise ApprovalError("not_found", _("There is no such approval request."))
        if _expire(row, now):
            raise ApprovalError("expired", _("This request has expired; ask for a new one."))
        if row.status != Status.PENDING:
            raise ApprovalError("decided", _("This request was %(s)s already.") % {"s": row.status})
        if same_person(row.requested_by, _who(actor)):
            raise ApprovalError(
                "own_request",
                _("You cannot decide your own request; a second staff member must."),
            )
        recycle.authorise(actor, permission_for(row.action, row.params), purpose=purpose)
        row.status = Status.APPROVED if approve else Status.REJECTED
        row.decided_by = _who(actor)
        row.decided_at = now
        row.save(update_fields=["status", "decided_by", "decided_at"])
        ledger.append(
            actor=actor,
            action="approval.approve" if approve else "approval.reject",
            purpose=purpose,
            detail={"request": row.pk, "kind": row.action},
        )
    return row


def approve(request_id: int, *, actor: Actor, purpose: str) -> ApprovalRequest:
    return _decide(request_id, True, actor=actor, purpose=purpose)


def reject(request_id: int, *, actor: Actor, purpose: str) -> ApprovalRequest:
    return _decide(request_id, False, actor=actor, purpose=purpose)


def consume(
    request_id: int | None, action: str, params: dict[str, Any], *, actor: Actor
) -> ApprovalRequest:
    """Use an approval for the bulk action about to run, in the caller's transaction.

    Refuses unless the request is approved, unexpired, unused, of this action
    and of exactly these parameters. Marked used at once: one approval, one run.
    """
    if request_id is None:
        raise ApprovalError(
            "needs_approval",
            _(
                "This is a bulk action: ask for a second person's approval "
                "(`shelfguard approvals request`), then pass its number."
            ),
        )
    now = clock.now()
    row = ApprovalRequest.objects.select_for_update().filter(pk=request_id).first()
    if row is None:
        raise ApprovalError("not_found", _("There is no such approval request."))
    if row.status == Status.USED:
        raise ApprovalError("used", _("This approval was used already; ask for a new one."))
    if row.expires_at <= now:
        raise ApprovalError("expired", _("This approval has expired; ask for a new one."))
    if row.status != Status.APPROVED:
        raise ApprovalError(
            "not_approved",
            _("This request is %(s)s, not approved; a second person must approve it.")
            % {"s": row.status},
        )
    if row.action != action or row.params != _canonical(params):
        raise ApprovalError(
            "mismatch",
            _(
                "This approval is for a different action or different objects; ask for one "
                "that names exactly these."
            ),
        )
    row.status = Status.USED
    row.used_at = now
    row.save(update_fields=["status", "used_at"])
    ledger.append(
        actor=actor,
        action="approval.use",
        purpose="four-eyes approval",
        detail={"request": row.pk, "kind": action, "count": _count(row.params)},
    )
    return row


def pending(now: dt.datetime | None = None) -> list[ApprovalRequest]:
    now = now or clock.now()
    return list(ApprovalRequest.objects.filter(status=Status.PENDING, expires_at__gt=now))


def listing(*, status: str | None = None) -> list[ApprovalRequest]:
    now = clock.now()
    rows = list(ApprovalRequest.objects.all()[:500])
    for row in rows:
        if row.status in (Status.PENDING, Status.APPROVED) and row.expires_at <= now:
            row.status = Status.EXPIRED  # shown as it is; stored on the next decision
    return [r for r in rows if status is None or r.status == status]


def request_dict(row: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": row.pk,
        "action": row.action,
        "params": row.params,
        "count": _count(row.params),
        "requested_by": row.requested_by,
        "reason": row.reason,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "status": row.status,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
    }


def erase_patrons(
    patron_ids: list[int],
    *,
    actor: Actor,
    reason: str,
    purpose: str = "erasure",
    approval: int | None = None,
) -> list[int]:
    """Erase several patrons at once: more than one needs an approved request.

    All obligations are checked before anything is erased, so a refusal
    leaves every patron as they were and the approval unused.
    """
    from shelfguard.patrons import services as patrons

    ids = sorted({int(i) for i in patron_ids})
    if not ids:
        raise ApprovalError("empty", _("Name at least one patron to erase."))
    recycle.authorise(actor, "patron.erase", purpose=purpose)
    for patron_id in ids:
        row = patrons.get_patron(patron_id)
        if row is None:
            raise ApprovalError("not_found", _("Patron %(id)d does not exist.") % {"id": patron_id})
        reasons = patrons.outstanding_obligations(row)
        if reasons:
            raise patrons.ErasureRefused(patron_id, reasons)
    with transaction.atomic():
        if len(ids) > 1:
            consume(approval, ERASE_PATRONS, {"patron_ids": ids}, actor=actor)
        for patron_id in ids:
            patrons.erase(patron_id, actor=actor, reason=reason, purpose=purpose)
    return ids
