"""The monitoring tables: alerts raised by the anomaly rules, the scan cursor, decoys.

Alerts name people by the ledger's own identifiers (the actor id, a patron
id), never by value, and they are not foreign keys: like the ledger, an alert
outlives the staff account or patron record it points at. Staff never edit
or delete an alert; the only change is its review, made through
`services.review_alert`, which also writes the review to the ledger.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Alert(models.Model):
    """One anomaly noticed in the access ledger, waiting for (or past) review."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        REVIEWED = "reviewed", _("reviewed")

    # The natural key: rule, subject and window. Re-scanning the same entries
    # produces the same key, and the unique constraint refuses a duplicate.
    key = models.CharField(max_length=200, unique=True)
    rule = models.CharField(max_length=32)
    # Whose access it is, as the ledger names them (kind and id: a staff
    # member's username). Empty when the subject is only a patron id.
    actor_kind = models.CharField(max_length=16, blank=True)
    actor_id = models.CharField(max_length=150, blank=True)
    patron_id = models.BigIntegerField(null=True, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    threshold = models.PositiveIntegerField(default=0)
    # The ledger entries that made the alert (first and last seq), for the reviewer.
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    # Small non-personal extras (a branch id, a role, the baseline used).
    detail = models.JSONField(default=dict)
    raised_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    reviewer = models.CharField(max_length=150, blank=True)
    review_note = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(fields=["status", "raised_at"], name="monitoring_alert_status"),
            models.Index(fields=["raised_at"], name="monitoring_alert_raised"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_end__gte=models.F("window_start")),
                name="monitoring_alert_window_order",
            ),
        ]

    def __str__(self) -> str:
        return f"alert #{self.pk} {self.rule}"


class ScanCursor(models.Model):
    """Where the last scan stopped: one row, locked by each scan."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    # Reveals are judged "idle" only once the follow-up window has passed, so
    # that rule keeps its own, later-moving position.
    idle_seq = models.BigIntegerField(default=0)
    # When the roles' hourly baselines were last computed (see RoleBaseline).
    baselines_at = models.DateTimeField(null=True, blank=True)
    last_scan_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="monitoring_cursor_single_row")
        ]

    def __str__(self) -> str:
        return f"scanned through #{self.last_seq}"


class Decoy(models.Model):
    """A patron record that no genuine task has reason to open.

    Created by a normal registration with synthetic data and marked here by
    the privacy officer; any access to it by anyone raises an alert.
    """

    patron_id = models.BigIntegerField(unique=True)
    added_at = models.DateTimeField()
    added_by = models.CharField(max_length=150)
    # Entries up to this seq (the registration, the marking) are not alerts.
    marked_seq = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["patron_id"]

    def __str__(self) -> str:
        return f"decoy patron {self.patron_id}"


class RoleBaseline(models.Model):
    """How many distinct patrons a role's staff usually look at in an hour.

    Recomputed by the scan once a day from the past `volume_baseline_days`
    of the ledger; the threshold in force is this value times the factor,
    never below the floor.
    """

    role = models.CharField(max_length=64, unique=True)
    percentile_value = models.FloatField()
    hours_sampled = models.PositiveIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["role"]

    def __str__(self) -> str:
        return f"baseline of {self.role}"
