"""Four eyes on the retention register: a changed period applies only once a second person approves.

Periods are set in shelfguard.toml, which one operator can edit alone. So
the sweep does not destroy by the file directly: it destroys by the periods
last *accepted* (`AcceptedPeriod`). The first time a rule runs, its period
is accepted as the baseline (and recorded in the ledger). After that, a
period in the file that differs from the accepted one is a pending change:

* the sweep keeps using the accepted period for that rule and says so;
* `shelfguard retention changes --request --reason R` files a
  `retention_change` approval request naming every pending change;
* a second staff member holding `config.change` approves it (on the staff
  approvals page or with `shelfguard approvals approve N`), never the one
  who asked;
* the next real sweep finds the approved request whose changes are exactly
  the pending ones, uses it up and from then on destroys by the new periods.

Shortening and lengthening both wait: a shorter period destroys data
earlier, a longer one keeps it past the purpose the library agreed to.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.lifecycle.models import AcceptedPeriod, ApprovalRequest

PURPOSE = "retention register"


def accepted() -> dict[str, int]:
    """Each rule's accepted period in days (rules never run yet are absent)."""
    return dict(AcceptedPeriod.objects.values_list("rule", "days"))


def pending(configured: dict[str, int]) -> dict[str, int]:
    """The rules whose configured period differs from the accepted one: {rule: new days}."""
    known = accepted()
    return {
        rule: days for rule, days in configured.items() if rule in known and known[rule] != days
    }


def _approved_request(changes: dict[str, int]) -> ApprovalRequest | None:
    from shelfguard.lifecycle import approvals

    now = clock.now()
    wanted = approvals._canonical(changes)
    for row in ApprovalRequest.objects.filter(
        action=approvals.RETENTION_CHANGE,
        status=ApprovalRequest.Status.APPROVED,
        expires_at__gt=now,
    ).order_by("-decided_at"):
        if row.params == wanted:
            return row
    return None


def periods_in_force(configured: dict[str, int], *, actor: Actor, record: bool) -> dict[str, Any]:
    """The periods the sweep must use now, and what is waiting for approval.

    With `record` (a real sweep) the first period of each rule is accepted as
    its baseline, and an approved change matching the pending ones exactly is
    used up and accepted, all in one transaction with ledger entries. Returns
    `{"days": {rule: days}, "waiting": {rule: configured days}}`.
    """
    from shelfguard.lifecycle import approvals

    with transaction.atomic():
        known = {row.rule: row for row in AcceptedPeriod.objects.select_for_update()}
        now = clock.now()
        if record:
            fresh = [rule for rule in configured if rule not in known]
            for rule in fresh:
                known[rule] = AcceptedPeriod.objects.create(
                    rule=rule, days=configured[rule], accepted_at=now
                )
            if fresh:
                ledger.append(
                    actor=actor,
                    action="retention.period_accepted",
                    purpose=PURPOSE,
                    detail={"rules": len(fresh), "baseline": 1},
                )
        waiting = {
            rule: days
            for rule, days in configured.items()
            if rule in known and known[rule].days != days
        }
        if record and waiting:
            approval = _approved_request(waiting)
            if approval is not None:
                approvals.consume(approval.pk, approvals.RETENTION_CHANGE, waiting, actor=actor)
                for rule, days in waiting.items():
                    row = known[rule]
                    row.days, row.accepted_at, row.approval_id = days, now, approval.pk
                    row.save(update_fields=["days", "accepted_at", "approval_id"])
                ledger.append(
                    actor=actor,
                    action="retention.period_accepted",
                    purpose=PURPOSE,
                    detail={"rules": len(waiting), "request": approval.pk},
                )
                waiting = {}
    days = {rule: (known[rule].days if rule in known else d) for rule, d in configured.items()}
    return {"days": days, "waiting": waiting}


def request_change(*, configured: dict[str, int], actor: Actor, reason: str) -> ApprovalRequest:
    """File the approval request for every pending change (refused when there is none)."""
    from shelfguard.lifecycle import approvals

    changes = pending(configured)
    if not changes:
        raise approvals.ApprovalError(
            "nothing_pending",
            "No retention period differs from the accepted one; nothing needs approval.",
        )
    return approvals.request(
        approvals.RETENTION_CHANGE, changes, actor=actor, purpose=PURPOSE, reason=reason
    )
