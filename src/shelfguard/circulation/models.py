"""Circulation tables: rules, calendars, blocks, loans, holds, charges, statistics, notices.

Privacy is in the shape of these tables (DESIGN.md, promise 4):

* `Loan.patron` and `Hold.patron` are the only links from circulation to a
  person. A loan keeps its link while it is open (or while a charge on it is
  unsettled); a hold while it is waiting or on the shelf. When either ends,
  the service clears the link explicitly (not by `on_delete`), unless the
  patron consented to keep a reading history, which is then theirs.
* What stays on an ended loan is the item, the branches, days (never times)
  and the patron's category and age band: enough for collection work and
  statistics, not enough to say who read what.
* `CirculationStat` is written at the moment of the event already
  de-identified: a day, an action, codes, a count. No patron id, no time of
  day. A test proves no statistics column can identify a patron.
* `Notice` rows wait only until their message is sent, then are deleted.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from shelfguard.catalog.models import Item, ItemType, Record
from shelfguard.core.models import Branch
from shelfguard.patrons.models import Patron, PatronCategory


class LoanPolicy(models.Model):
    """One cell of the loan-rule matrix: patron category × item type (× branch).

    An empty dimension means "any". The most specific row that matches wins
    (see `rules.policy_for`); the shipped default row has all three empty.
    """

    patron_category = models.ForeignKey(
        PatronCategory, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    item_type = models.ForeignKey(
        ItemType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    loan_days = models.PositiveSmallIntegerField(default=21)
    renewals = models.PositiveSmallIntegerField(default=2)
    max_items = models.PositiveSmallIntegerField(default=30)
    holds_allowed = models.BooleanField(default=True)
    grace_days = models.PositiveSmallIntegerField(default=0)
    # Fine-free is the default; a library may switch overdue charges on per cell.
    charges_apply = models.BooleanField(default=False)
    daily_charge_cents = models.PositiveIntegerField(default=0)
    max_charge_cents = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()
    updated_by = models.CharField(max_length=180, blank=True, default="")

    class Meta:
        constraints = [
            # NULL means "any": treat it as a value so each cell exists once.
            models.UniqueConstraint(
                Coalesce("patron_category", Value(0)),
                Coalesce("item_type", Value(0)),
                Coalesce("branch", Value(0)),
                name="circulation_policy_cell_once",
            )
        ]

    def __str__(self) -> str:
        return (
            f"policy {self.patron_category_id or '*'}×{self.item_type_id or '*'}"
            f"×{self.branch_id or '*'}"
        )


class BranchCalendar(models.Model):
    """A branch's time zone (empty: the library's) ; its weekly hours are `OpeningHours` rows."""

    branch = models.OneToOneField(Branch, on_delete=models.CASCADE, related_name="calendar")
    time_zone = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"calendar of branch {self.branch_id}"


class OpeningHours(models.Model):
    """The hours a branch is open on one weekday (0 = Monday), local time.

    A branch with no rows at all is open every day; once a branch has rows,
    a weekday without one is a closed day.
    """

    branch = models.ForeignKey(Branch, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField()
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["branch", "weekday"]
        constraints = [
            models.UniqueConstraint(fields=["branch", "weekday"], name="circulation_hours_once"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="circulation_weekday_range"),
        ]

    def __str__(self) -> str:
        return f"branch {self.branch_id} day {self.weekday} {self.opens}-{self.closes}"


class ClosedDay(models.Model):
    """A date a branch (or, with no branch, every branch) is closed: holidays, closures."""

    branch = models.ForeignKey(
        Branch, on_delete=models.CASCADE, null=True, blank=True, related_name="closed_days"
    )
    date = models.DateField()
    reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                Coalesce("branch", Value(0)), "date", name="circulation_closed_day_once"
            )
        ]
        indexes = [models.Index(fields=["date"])]

    def __str__(self) -> str:
        return f"closed {self.date} (branch {self.branch_id or 'all'})"


class PatronBlock(models.Model):
    """A manual block on borrowing, with the reason staff gave. Lifted, not deleted."""

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=180)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patron", "lifted_at"])]

    def __str__(self) -> str:
        return f"block on patron {self.patron_id}"


class LoanOutcome(models.TextChoices):
    OPEN = "open", _("On loan")
    RETURNED = "returned", _("Returned")
    LOST = "lost", _("Lost")
    CLAIMS_RETURNED = "claims_returned", _("Claimed returned")


class Loan(models.Model):
    """One loan of one item. Once ended, only the item, branches, days, category and age band."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    # Set while the loan is open; cleared by the service when it ends unless
    # the patron keeps a reading history. SET_NULL is only a backstop.
    patron = models.ForeignKey(
        Patron, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    patron_category = models.CharField(max_length=32, blank=True, default="")
    age_band = models.CharField(max_length=16, blank=True, default="")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="+")
    return_branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    loaned_on = models.DateField()
    due_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)
    renewals = models.PositiveSmallIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=LoanOutcome.choices, default=LoanOutcome.OPEN)
    # 0: no notice yet; 1: "due soon" queued; 2: "overdue" queued (per due date).
    notice_stage = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            # Two desks lending one item at once: the database lets one win.
            models.UniqueConstraint(
                fields=["item"], condition=Q(outcome="open"), name="circulation_one_open_loan"
            )
        ]
        indexes = [
            models.Index(fields=["patron", "outcome"]),
            models.Index(fields=["outcome", "due_on"]),
        ]

    def __str__(self) -> str:
        return f"loan {self.pk} ({self.outcome})"


class HoldStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    IN_TRANSIT = "in_transit", _("In transit to pickup")
    READY = "ready", _("Ready for pickup")
    FILLED = "filled", _("Collected")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Not collected")


ACTIVE_HOLD_STATUSES = (HoldStatus.WAITING, HoldStatus.IN_TRANSIT, HoldStatus.READY)


class Hold(models.Model):
    """A request for a title (any copy) or one item, collected at a pickup branch.

    The patron link is cleared when the hold is filled, cancelled or expires.
    """

    patron = models.ForeignKey(
        Patron, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    # Set for an item-level hold: only this copy can fill it.
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    pickup_branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=HoldStatus.choices, default=HoldStatus.WAITING)
    placed_at = models.DateTimeField()
    # The copy set aside for this hold (in transit or on the shelf).
    trapped_item = models.ForeignKey(
        Item, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ready_on = models.DateField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    ended_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["placed_at", "id"]
        indexes = [
            models.Index(fields=["record", "status", "placed_at"]),
            models.Index(fields=["patron", "status"]),
            models.Index(fields=["trapped_item", "status"]),
        ]

    def __str__(self) -> str:
        return f"hold {self.pk} ({self.status})"


class Charge(models.Model):
    """An overdue (or lost-item) charge, when the library's rules make one.

    Linked to its loan only until settled: settling clears the link so the
    loan can be de-identified.
    """

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="+")
    loan = models.ForeignKey(Loan, on_delete=models.SET_NULL, null=True, related_name="charges")
    amount_cents = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, default="overdue")
    created_on = models.DateField()
    settled_on = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patron", "settled_on"])]

    def __str__(self) -> str:
        return f"charge {self.pk}"


class CirculationStat(models.Model):
    """A de-identified daily count: what happened, where, to what kind of item and patron.

    Written at the moment of the event; never a patron id or a time finer than a day.
    """

    day = models.DateField()
    action = models.CharField(max_length=32)
    branch = models.CharField(max_length=16)
    item_type = models.CharField(max_length=32, blank=True, default="")
    patron_category = models.CharField(max_length=32, blank=True, default="")
    age_band = models.CharField(max_length=16, blank=True, default="")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "action", "branch", "item_type", "patron_category", "age_band"],
                name="circulation_stat_cell_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.action} {self.branch}: {self.count}"


class NoticeKind(models.TextChoices):
    HOLD_AVAILABLE = "hold_available", _("Hold available")
    DUE_SOON = "due_soon", _("Due soon")
    OVERDUE = "overdue", _("Overdue")


class Notice(models.Model):
    """A notice waiting to be sent. Deleted the moment it is sent (or cannot be)."""

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=NoticeKind.choices)
    queued_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["queued_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["patron", "kind"], name="circulation_notice_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} notice for patron {self.patron_id}"


class OfflineTransaction(models.Model):
    """A line of an offline upload already dealt with (applied or refused), so it is not redone.

    Only a keyed hash of the line (HMAC under the index key: neither the card
    number nor the barcode can be read or guessed from it without the key)
    and the day the row may go (a day, never a time: nothing here to match
    against a ledger entry). Rows are deleted once the line is older than
    the back-dating window, after which the line would be refused anyway.
    """

    digest = models.BinaryField(max_length=32, unique=True)
    applied = models.BooleanField(default=True)
    expires_on = models.DateField(db_index=True)

    def __str__(self) -> str:
        return f"offline line {self.pk}"
