"""Bibliographic records and the copies (items) a library holds."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from shelfguard.core.models import Branch


class ItemType(models.Model):
    """What kind of thing an item is (book, DVD, ...): loan rules key on it."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Record(models.Model):
    """One bibliographic record: the full MARC record plus the fields we search and show.

    The MARC record is the source of truth (kept as UTF-8 ISO 2709); the other
    columns are extracted from it on every import so they never drift.
    """

    control_number = models.CharField(max_length=64)  # MARC 001, trimmed
    control_number_identifier = models.CharField(max_length=32, blank=True, default="")  # 003
    title = models.TextField()
    vernacular_title = models.TextField(blank=True, default="")  # 880 linked to 245
    responsibility = models.TextField(blank=True, default="")  # 245 $c
    authors = models.JSONField(default=list)
    subjects = models.JSONField(default=list)
    publisher = models.TextField(blank=True, default="")
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    language = models.CharField(max_length=3, blank=True, default="")  # 008/35-37
    isbns = models.JSONField(default=list)  # valid ISBNs, as ISBN-13 without hyphens
    lccn = models.CharField(max_length=32, blank=True, default="")  # 010 $a
    edition = models.TextField(blank=True, default="")
    physical_description = models.TextField(blank=True, default="")
    notes = models.TextField(blank=True, default="")  # 5XX, joined
    marc = models.BinaryField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["control_number", "control_number_identifier"],
                name="record_control_number_unique",
            )
        ]
        indexes = [
            models.Index(fields=["language"]),
            models.Index(fields=["year"]),
        ]

    def __str__(self) -> str:
        return f"{self.control_number}: {self.title[:60]}"


class ItemStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    ON_LOAN = "on_loan", _("On loan")
    IN_TRANSIT = "in_transit", _("In transit")
    ON_HOLD_SHELF = "on_hold_shelf", _("On hold shelf")
    LOST = "lost", _("Lost")
    DAMAGED = "damaged", _("Damaged")
    MISSING = "missing", _("Missing")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Item(models.Model):
    """A physical copy of a record, identified by its barcode."""

    barcode = models.CharField(max_length=64, unique=True)
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="items")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="items")
    location = models.CharField(max_length=100, blank=True, default="")
    call_number = models.CharField(max_length=100, blank=True, default="")
    item_type = models.ForeignKey(ItemType, on_delete=models.PROTECT, related_name="items")
    status = models.CharField(
        max_length=20, choices=ItemStatus.choices, default=ItemStatus.AVAILABLE
    )
    # Where an item in transit is going (its home branch, or a hold's pickup
    # branch); null otherwise. Circulation sets it; nothing here says who
    # borrowed the item last, on purpose.
    transit_to = models.ForeignKey(
        Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["record", "branch", "status"])]

    def __str__(self) -> str:
        return self.barcode
