"""The loan rules: which policy applies, what blocks a patron, and the one decision.

`may_borrow(patron, item, branch)` answers "may this patron borrow this item
now, and until when?": a `Verdict` with the due date, or with a code and a
reason when not. `checkout` calls it after locking the item; desks and
self-check machines may call it to ask before they act.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.utils.translation import gettext as _

from shelfguard.catalog.models import Item, ItemStatus
from shelfguard.circulation import config
from shelfguard.circulation import errors as e
from shelfguard.circulation.calendar import Calendar, calendar_for
from shelfguard.circulation.models import (
    ACTIVE_HOLD_STATUSES,
    Charge,
    Hold,
    HoldStatus,
    Loan,
    LoanOutcome,
    LoanPolicy,
    PatronBlock,
)
from shelfguard.core.models import Branch
from shelfguard.patrons import register as patron_register
from shelfguard.patrons.models import Consent, Patron, PatronCategory, PatronStatus


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def policy_for(
    category_id: int | None, item_type_id: int | None, branch_id: int | None
) -> LoanPolicy:
    """The most specific policy row that matches (one query).

    A row matches when each of its dimensions is empty ("any") or equal.
    More named dimensions win; on a tie, a named patron category beats a
    named item type, which beats a named branch.
    """
    # Plain SQL through `raw`: this runs on every loan, and building the
    # three OR-ed conditions through the ORM costs more than the query.
    rows = LoanPolicy.objects.raw(
        f"SELECT * FROM {_table(LoanPolicy)} WHERE "
        "(patron_category_id IS NULL OR patron_category_id = %s) AND "
        "(item_type_id IS NULL OR item_type_id = %s) AND "
        "(branch_id IS NULL OR branch_id = %s)",
        [category_id, item_type_id, branch_id],
    )
    best, best_rank = None, None
    for row in rows:
        named = (
            row.patron_category_id is not None,
            row.item_type_id is not None,
            row.branch_id is not None,
        )
        rank = (sum(named), *named)
        if best_rank is None or rank > best_rank:
            best, best_rank = row, rank
    if best is None:
        # The shipped default row was removed: lend nothing rather than guess.
        raise e.CirculationError(
            e.INVALID,
            _(
                "No loan rule covers this patron category and item type; add a default rule "
                "with `shelfguard circ policy set`."
            ),
        )
    return best


def age_band(patron: Patron) -> str:
    """A coarse band from what is kept in clear: below the guardian age or not.

    The birth data is sealed; unsealing it for every loan would put a reveal
    in the ledger each time. The register derives `guardian_required` when
    the birth data is written, so the band costs nothing and says little.
    """
    if patron.category_id is None:
        return ""
    age = patron_register.guardian_age()
    return f"under_{age}" if patron.guardian_required else f"{age}_plus"


@dataclass(frozen=True)
class Standing:
    """The patron, read afresh, with what blocks them (one query)."""

    #: The patron's clear columns only (status, category, expiry, guardian flag); no sealed data.
    patron: Patron
    category_code: str
    blocks: list[tuple[str, str]]  # (code, reason)
    #: Open loans of every item type.
    on_loan: int = 0


def standing(patron_id: int, *, today: dt.date) -> Standing:
    """The patron's current blocks: card, manual blocks, overdues, charges, consent to service.

    One plain SQL query (this runs on every loan and renewal): the patron's
    clear columns and, as scalar subqueries, an active manual block, the
    count of overdue and of open loans, the unsettled charges and the newest
    consent to service.
    """
    ops = connection.ops
    sql = (
        f"SELECT p.status, p.category_id, p.expires_on, p.guardian_required, c.code, "
        f"(SELECT COUNT(*) FROM {_table(PatronBlock)} b WHERE b.patron_id = p.id "
        f"AND b.lifted_at IS NULL), "
        f"(SELECT COUNT(*) FROM {_table(Loan)} l WHERE l.patron_id = p.id AND l.outcome = %s "
        f"AND l.due_on < %s), "
        f"(SELECT COUNT(*) FROM {_table(Loan)} l WHERE l.patron_id = p.id AND l.outcome = %s), "
        f"(SELECT SUM(ch.amount_cents) FROM {_table(Charge)} ch WHERE ch.patron_id = p.id "
        f"AND ch.settled_on IS NULL), "
        f"(SELECT k.given FROM {_table(Consent)} k WHERE k.patron_id = p.id AND k.purpose = %s "
        f"ORDER BY k.at DESC, k.id DESC LIMIT 1) "
        f"FROM {_table(Patron)} p LEFT JOIN {_table(PatronCategory)} c ON c.id = p.category_id "
        f"WHERE p.id = %s"
    )
    params = [
        LoanOutcome.OPEN.value,
        ops.adapt_datefield_value(today),
        LoanOutcome.OPEN.value,
        patron_register.REQUIRED_CONSENT,
        patron_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    if found is None:
        raise e.CirculationError(e.UNKNOWN_PATRON, _("There is no such patron."))
    status, category_id, expires_on, guardian, code, blocked, overdue, on_loan, owed, service = (
        found
    )
    if isinstance(expires_on, str):
        expires_on = dt.date.fromisoformat(expires_on)
    row = Patron(
        pk=patron_id,
        status=status,
        category_id=category_id,
        expires_on=expires_on,
        guardian_required=bool(guardian),
    )
    blocks: list[tuple[str, str]] = []
    if status in (PatronStatus.ERASED, PatronStatus.CLOSED):
        blocks.append(("closed", _("The card is closed.")))
    elif status == PatronStatus.BLOCKED:
        blocks.append(("status", _("The card is blocked.")))
    if status == PatronStatus.EXPIRED or (expires_on and expires_on < today):
        blocks.append(("expired", _("The card has expired; renew it at the desk.")))
    if blocked:
        blocks.append(("manual", _("Staff have blocked borrowing on this card; see the block.")))
    limit = config.get("max_overdues")
    if overdue and limit and overdue >= limit:
        blocks.append(
            ("overdues", _("%(n)d items are overdue; return some first.") % {"n": overdue})
        )
    charge_limit = config.get("charge_limit_cents")
    if owed and owed > charge_limit:
        blocks.append(
            (
                "charges",
                _("Charges of %(amount)s are owed, over the limit of %(limit)s.")
                % {"amount": money(owed), "limit": money(charge_limit)},
            )
        )
    if status != PatronStatus.ERASED and not service:
        blocks.append(("consent", _("The patron has withdrawn consent to library service.")))
    return Standing(patron=row, category_code=code or "", blocks=blocks, on_loan=on_loan or 0)


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class Verdict:
    """The answer of `may_borrow`. `bool(verdict)` is whether the loan may go ahead."""

    allowed: bool
    code: str = ""
    reason: str = ""
    due_on: dt.date | None = None
    policy: LoanPolicy | None = None
    #: The patron's own hold that this loan fills, if any.
    fills_hold: Hold | None = None

    def __bool__(self) -> bool:
        return self.allowed

    def refuse(self) -> None:
        """Raise the refusal as a `CirculationError` (no-op when allowed)."""
        if not self.allowed:
            raise e.CirculationError(self.code, self.reason)


def _no(code: str, reason: str) -> Verdict:
    return Verdict(False, code, reason)


def may_borrow(
    patron: Patron | int,
    item: Item,
    branch: Branch,
    *,
    today: dt.date | None = None,
    calendar: Calendar | None = None,
    current: Standing | None = None,
) -> Verdict:
    """May this patron borrow this item at this branch now, and until when?"""
    calendar = calendar or calendar_for(branch)
    today = today or calendar.today()
    patron_id = patron if isinstance(patron, int) else patron.pk
    current = current or standing(patron_id, today=today)
    if current.blocks:
        return _no(e.PATRON_BLOCKED, " ".join(reason for _code, reason in current.blocks))

    fills = None
    if item.status == ItemStatus.ON_LOAN:
        holder = (
            Loan.objects.filter(item=item, outcome=LoanOutcome.OPEN)
            .values_list("patron_id", flat=True)
            .first()
        )
        if holder == patron_id:
            return _no(
                e.ALREADY_ON_LOAN_TO_PATRON,
                _("This item is already on loan to this patron; renew it instead."),
            )
        return _no(
            e.ON_LOAN_TO_OTHER, _("This item is on loan to another patron; check it in first.")
        )
    # Holds that concern this loan: on this copy, or this patron's on the title.
    active = ", ".join(["%s"] * len(ACTIVE_HOLD_STATUSES))
    holds = list(
        Hold.objects.raw(
            f"SELECT * FROM {_table(Hold)} WHERE status IN ({active}) AND "
            "(trapped_item_id = %s OR item_id = %s OR (record_id = %s AND patron_id = %s)) "
            "ORDER BY placed_at, id",
            [*(s.value for s in ACTIVE_HOLD_STATUSES), item.pk, item.pk, item.record_id, patron_id],
        )
    )
    if item.status in (ItemStatus.ON_HOLD_SHELF, ItemStatus.IN_TRANSIT):
        trapped = next((h for h in holds if h.trapped_item_id == item.pk), None)
        if trapped is not None and trapped.patron_id != patron_id:
            return _no(e.ON_HOLD_FOR_OTHER, _("This item is set aside for another patron's hold."))
        if trapped is None:
            return _no(
                e.ITEM_UNAVAILABLE,
                _("This item is in transit or on the hold shelf; check it in first."),
            )
        fills = trapped
    elif item.status not in (ItemStatus.AVAILABLE,):
        return _no(
            e.ITEM_UNAVAILABLE,
            _("This item cannot be lent: its status is “%(status)s”; check it in first.")
            % {"status": ItemStatus(item.status).label},
        )
    others = [
        h
        for h in holds
        if h.item_id == item.pk and h.patron_id != patron_id and h.status == HoldStatus.WAITING
    ]
    if others and fills is None:
        return _no(e.ON_HOLD_FOR_OTHER, _("Another patron has a hold on this copy."))
    if fills is None:
        fills = next(
            (
                h
                for h in holds
                if h.patron_id == patron_id
                and h.status == HoldStatus.WAITING
                and h.item_id in (None, item.pk)
            ),
            None,
        )

    policy = policy_for(current.patron.category_id, item.item_type_id, branch.pk)
    on_loan = current.on_loan
    if policy.item_type_id is not None and on_loan >= policy.max_items:
        # The rule is for one item type: count only loans of that type.
        on_loan = Loan.objects.filter(
            patron_id=patron_id, outcome=LoanOutcome.OPEN, item__item_type_id=policy.item_type_id
        ).count()
    if on_loan >= policy.max_items:
        return _no(
            e.LIMIT_REACHED,
            _("The patron already has %(n)d items of this kind on loan, the most allowed.")
            % {"n": policy.max_items},
        )
    due_on = calendar.due_date(today, policy.loan_days)
    return Verdict(True, due_on=due_on, policy=policy, fills_hold=fills)
