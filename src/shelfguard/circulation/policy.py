"""Editing the loan rules and the branch calendars (permission `circulation.rules`).

Each change is one transaction with a ledger entry (no patron in it), so
who changed which rule, and when, is on the record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from shelfguard.catalog.models import ItemType
from shelfguard.circulation import access
from shelfguard.circulation import errors as e
from shelfguard.circulation.calendar import zone
from shelfguard.circulation.common import branch_of, entry
from shelfguard.circulation.models import BranchCalendar, ClosedDay, LoanPolicy, OpeningHours
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.patrons.models import PatronCategory

POLICY_VALUES = (
    "loan_days",
    "renewals",
    "max_items",
    "holds_allowed",
    "grace_days",
    "charges_apply",
    "daily_charge_cents",
    "max_charge_cents",
)
_LIMITS = {
    "loan_days": (1, 3650),
    "renewals": (0, 99),
    "max_items": (0, 9999),
    "grace_days": (0, 365),
    "daily_charge_cents": (0, 100_000),
    "max_charge_cents": (0, 10_000_000),
}


def _cell(category: str | None, item_type: str | None, branch: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {"patron_category": None, "item_type": None, "branch": None}
    if category:
        values["patron_category"] = PatronCategory.objects.filter(code=category).first()
        if values["patron_category"] is None:
            raise e.CirculationError(
                e.INVALID, _("Unknown patron category %(c)s.") % {"c": category}
            )
    if item_type:
        values["item_type"] = ItemType.objects.filter(code=item_type).first()
        if values["item_type"] is None:
            raise e.CirculationError(e.INVALID, _("Unknown item type %(c)s.") % {"c": item_type})
    if branch:
        values["branch"] = branch_of(branch)
    return values


def _cell_filter(cell: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{key}__isnull" if value is None else key: True if value is None else value
        for key, value in cell.items()
    }


def policy_data(row: LoanPolicy) -> dict[str, Any]:
    return {
        "id": row.pk,
        "patron_category": row.patron_category.code if row.patron_category_id else None,
        "item_type": row.item_type.code if row.item_type_id else None,
        "branch": row.branch.code if row.branch_id else None,
        **{name: getattr(row, name) for name in POLICY_VALUES},
    }


def list_policies() -> list[dict[str, Any]]:
    rows = LoanPolicy.objects.select_related("patron_category", "item_type", "branch").order_by(
        "patron_category__code", "item_type__code", "branch__code", "id"
    )
    return [policy_data(row) for row in rows]


def set_policy(
    *,
    category: str | None = None,
    item_type: str | None = None,
    branch: str | None = None,
    actor: Actor,
    purpose: str = "loan rules",
    **values: Any,
) -> LoanPolicy:
    """Create or change one cell of the matrix; unnamed values keep their (or the default) value."""
    unknown = set(values) - set(POLICY_VALUES)
    if unknown:
        raise e.CirculationError(
            e.INVALID, _("Unknown rule values: %(v)s.") % {"v": ", ".join(sorted(unknown))}
        )
    for name, value in values.items():
        if name in _LIMITS:
            low, high = _LIMITS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise e.CirculationError(
                    e.INVALID,
                    _("%(n)s must be a whole number from %(lo)d to %(hi)d.")
                    % {"n": name, "lo": low, "hi": high},
                )
        elif not isinstance(value, bool):
            raise e.CirculationError(e.INVALID, _("%(n)s must be true or false.") % {"n": name})
    cell = _cell(category, item_type, branch)
    # A rule for one branch needs the permission for that branch; a rule for
    # every branch needs it library-wide.
    access.authorise(actor, access.RULES, purpose=purpose, branch=cell["branch"])
    with transaction.atomic():
        row = LoanPolicy.objects.select_for_update().filter(**_cell_filter(cell)).first()
        if row is None:
            row = LoanPolicy(**cell)
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = clock.now()
        row.updated_by = f"{actor.kind}:{actor.ident}"
        row.save()
        entry(
            actor,
            "rules_change",
            purpose=purpose,
            patron_id=None,
            branch=cell["branch"],
            rule="policy",
            category=category,
            item_type=item_type,
            **{k: v for k, v in values.items()},
        )
    return row


def delete_policy(policy_id: int, *, actor: Actor, purpose: str = "loan rules") -> None:
    branch_id = LoanPolicy.objects.filter(pk=policy_id).values_list("branch_id", flat=True).first()
    access.authorise(actor, access.RULES, purpose=purpose, branch=branch_id)
    with transaction.atomic():
        row = LoanPolicy.objects.filter(pk=policy_id).first()
        if row is None:
            raise e.CirculationError(e.INVALID, _("There is no such rule."))
        if LoanPolicy.objects.count() == 1:
            raise e.CirculationError(e.INVALID, _("Keep at least one (default) rule."))
        from shelfguard.lifecycle import recycle  # deletes go to the recycle bin (issue 7)

        recycle.move_to_bin(recycle.Kind.POLICY, row, actor=actor, purpose=purpose)
        entry(
            actor,
            "rules_change",
            purpose=purpose,
            patron_id=None,
            branch=None,
            rule="policy_delete",
            policy=policy_id,
        )


def add_closed_day(
    day: dt.date,
    *,
    branch: str | None = None,
    reason: str = "",
    actor: Actor,
    purpose: str = "branch calendar",
) -> ClosedDay:
    """Close a branch (or, with no branch, every branch) on a date; due dates move past it."""
    target = branch_of(branch) if branch else None
    access.authorise(actor, access.RULES, purpose=purpose, branch=target)
    reason = " ".join(reason.split())[:200]
    with transaction.atomic():
        if ClosedDay.objects.filter(branch=target, date=day).exists():
            raise e.CirculationError(e.INVALID, _("That day is already closed."))
        row = ClosedDay.objects.create(branch=target, date=day, reason=reason)
        entry(
            actor,
            "rules_change",
            purpose=purpose,
            patron_id=None,
            branch=target,
            rule="closed_day",
            day=day.isoformat(),
        )
    return row


def remove_closed_day(
    day: dt.date, *, branch: str | None = None, actor: Actor, purpose: str = "branch calendar"
) -> None:
    target = branch_of(branch) if branch else None
    access.authorise(actor, access.RULES, purpose=purpose, branch=target)
    with transaction.atomic():
        deleted, _rows = ClosedDay.objects.filter(branch=target, date=day).delete()
        if not deleted:
            raise e.CirculationError(e.INVALID, _("That day is not closed."))
        entry(
            actor,
            "rules_change",
            purpose=purpose,
            patron_id=None,
            branch=target,
            rule="closed_day_remove",
            day=day.isoformat(),
        )


def list_closed_days(
    *, branch: str | None = None, since: dt.date | None = None
) -> list[dict[str, Any]]:
    rows = ClosedDay.objects.select_related("branch").order_by("date", "branch__code")
    if branch:
        rows = rows.filter(branch=branch_of(branch))
    if since:
        rows = rows.filter(date__gte=since)
    return [
        {
            "date": r.date.isoformat(),
            "branch": r.branch.code if r.branch_id else None,
            "reason": r.reason,
        }
        for r in rows
    ]


def set_hours(
    branch: str,
    weekday: int,
    opens: dt.time | None,
    closes: dt.time | None,
    *,
    actor: Actor,
    purpose: str = "branch calendar",
) -> None:
    """Set a weekday's hours (0 = Monday); `None` for both marks it closed."""
    if not 0 <= weekday <= 6:
        raise e.CirculationError(e.INVALID, _("The weekday is 0 (Monday) to 6 (Sunday)."))
    if (opens is None) != (closes is None) or (opens and closes and opens >= closes):
        raise e.CirculationError(e.INVALID, _("Give an opening time before the closing time."))
    target = branch_of(branch)
    access.authorise(actor, access.RULES, purpose=purpose, branch=target)
    with transaction.atomic():
        OpeningHours.objects.filter(branch=target, weekday=weekday).delete()
        if opens is not None:
            OpeningHours.objects.create(branch=target, weekday=weekday, opens=opens, closes=closes)
        entry(
            actor,
            "rules_change",
            purpose=purpose,
            patron_id=None,
            branch=target,
            rule="hours",
            weekday=weekday,
        )


def set_time_zone(
    branch: str, name: str, *, actor: Actor, purpose: str = "branch calendar"
) -> None:
    """The branch's time zone (an IANA name); empty for the library's `TIME_ZONE`."""
    if name:
        try:
            zone(name)
        except ValueError as exc:
            raise e.CirculationError(e.INVALID, str(exc)) from None
    target = branch_of(branch)
    access.authorise(actor, access.RULES, purpose=purpose, branch=target)
    with transaction.atomic():
        BranchCalendar.objects.update_or_create(branch=target, defaults={"time_zone": name})
        entry(
            actor,
            "rules_change",
            purpose=purpose,
            patron_id=None,
            branch=target,
            rule="time_zone",
            zone=name,
        )
