"""Feedback tables: anonymous comments, privacy requests and their steps, rate windows.

`Feedback` holds what the writer typed and nothing about the writer: no
account, no address, no browser, no cookie, and only the day it came (a
minute-exact time could be matched against door counters, Wi-Fi or web
server logs to find who was in the building or online at that moment; the
day is enough to sort by age and to answer in turn).

`PrivacyRequest` is the opposite: it names a person (by patron id when filed
while signed in, or by a contact address), so its description, contact
address and the texts of its steps are sealed with a data key of its own.
Destroying that key at the end of the retention period erases the request
everywhere at once, backups included; the row keeps only its reference,
kind, dates and outcome, for the library's records.

`RateWindow` counts attempts per client address per hour under a keyed hash
whose key changes every hour and lives in the key files, never in the
database; a window's rows are deleted once the hour is over.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

TEXT_MAX = 2000
DESCRIPTION_MAX = 5000
STEP_MAX = 5000


class Category(models.TextChoices):
    SERVICE = "service", _("Service")
    COLLECTION = "collection", _("Collection")
    BUILDING = "building", _("Building")
    WEBSITE = "website", _("Website")
    PRIVACY = "privacy", _("Privacy")
    OTHER = "other", _("Other")


class FeedbackStatus(models.TextChoices):
    NEW = "new", _("New")
    ANSWERED = "answered", _("Answered")
    CLOSED = "closed", _("Closed")


class Feedback(models.Model):
    """One anonymous comment. Nothing in the row points at who wrote it."""

    category = models.CharField(max_length=16, choices=Category.choices)
    text = models.TextField()
    # A day, not a moment: see the module docstring.
    created_on = models.DateField(db_index=True)
    status = models.CharField(
        max_length=16, choices=FeedbackStatus.choices, default=FeedbackStatus.NEW, db_index=True
    )
    # What the public answer page shows in place of `text`: staff remove
    # anything personal the writer included before publishing.
    public_text = models.TextField(blank=True, default="")
    answer = models.TextField(blank=True, default="")
    answered_on = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["created_on", "pk"]

    def __str__(self) -> str:
        return f"feedback {self.pk} ({self.category}, {self.status})"


class RequestKind(models.TextChoices):
    ACCESS = "access", _("See the data the library holds about me")
    CORRECTION = "correction", _("Correct data about me")
    DELETION = "deletion", _("Delete data about me")
    OBJECTION = "objection", _("Object to a use of my data")
    COMPLAINT = "complaint", _("Complain about how my data was handled")


class RequestStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    IN_PROGRESS = "in_progress", _("Being handled")
    CLOSED = "closed", _("Closed")


class Outcome(models.TextChoices):
    FULFILLED = "fulfilled", _("Done as asked")
    PARTLY = "partly", _("Partly done")
    REFUSED = "refused", _("Refused, with reasons")
    WITHDRAWN = "withdrawn", _("Withdrawn by the requester")
    NO_DATA = "no_data", _("The library holds no such data")


class PrivacyRequest(models.Model):
    """A privacy request or complaint; personal parts sealed with the request's own key."""

    reference = models.CharField(max_length=20, unique=True, null=True)
    kind = models.CharField(max_length=16, choices=RequestKind.choices)
    # Linked when filed in a signed-in portal session; otherwise `contact_sealed`.
    patron = models.ForeignKey(
        "patrons.Patron", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    key_id = models.CharField(max_length=36)
    description_sealed = models.BinaryField()
    contact_sealed = models.BinaryField(null=True)
    # Keyed hash of the status-page token; the token itself is shown once.
    token_hash = models.CharField(max_length=64, unique=True)
    filed_at = models.DateTimeField()
    due_on = models.DateField(db_index=True)
    status = models.CharField(
        max_length=16,
        choices=RequestStatus.choices,
        default=RequestStatus.RECEIVED,
        db_index=True,
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    # Set when the data key was destroyed: sealed values are gone for good.
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["filed_at", "pk"]

    def __str__(self) -> str:
        return f"privacy request {self.reference or self.pk} ({self.kind}, {self.status})"

    @property
    def owner(self) -> str:
        """The opaque owner id the request's values are sealed for."""
        return f"privacy-request-{self.pk}"


class StepKind(models.TextChoices):
    NOTE = "note", _("Internal note")
    ANSWER = "answer", _("Answer to the requester")
    STATUS = "status", _("Status change")
    CLOSED = "closed", _("Closed")


class RequestStep(models.Model):
    """One step in handling a request; the text is sealed with the request's key."""

    request = models.ForeignKey(PrivacyRequest, on_delete=models.CASCADE, related_name="steps")
    at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=StepKind.choices)
    # Shown on the requester's status page (answers, status changes, closing).
    visible = models.BooleanField(default=False)
    # The staff member's username (who did it; not personal data of the requester).
    by = models.CharField(max_length=150, blank=True, default="")
    text_sealed = models.BinaryField(null=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"step {self.pk} of request {self.request_id} ({self.kind})"


class RateWindow(models.Model):
    """How many attempts of one kind came from one address in one hour.

    `key` is an HMAC of the address under a key derived for that hour from
    the site secret (key files, not the database); rows of past hours are
    deleted, after which nothing could test a guessed address against them.
    """

    kind = models.CharField(max_length=16)
    key = models.CharField(max_length=64)
    window = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key", "window"], name="feedback_rate_once")
        ]

    def __str__(self) -> str:
        return f"rate window {self.kind} {self.window:%Y-%m-%d %H}:00"
