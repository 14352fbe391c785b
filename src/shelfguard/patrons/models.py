"""Patron tables. Personal values are stored only as ciphertext and blind indexes.

Sealed fields are opaque to the ORM: a `Patron` instance holds bytes that
only `services.reveal` (which names a purpose and writes a ledger entry) turns
back into text. There is no property, `__str__` or admin display that
decrypts. The set of `*_sealed` columns must equal the register's sealed
fields; `apps.PatronsConfig` registers a system check that proves it.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from shelfguard.core.models import Branch


class PatronCategory(models.Model):
    """A class of patron for loan rules (adult, child, ...). `init` creates adult and child."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "patron categories"

    def __str__(self) -> str:
        return self.code


class PatronStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    BLOCKED = "blocked", _("Blocked")
    CLOSED = "closed", _("Closed")
    ERASED = "erased", _("Erased")


class IdentityDocument(models.TextChoices):
    """The kind of document shown to prove identity. The document's number is never kept."""

    NONE = "", _("Not checked")
    PASSPORT = "passport", _("Passport")
    NATIONAL_ID = "national_id", _("National identity card")
    DRIVING_LICENCE = "driving_licence", _("Driving licence")
    RESIDENCE_PERMIT = "residence_permit", _("Residence permit")
    PROOF_OF_ADDRESS = "proof_of_address", _("Proof of address")
    OTHER = "other", _("Other document")


class Patron(models.Model):
    """A card holder. After erasure only a tombstone (id, status, erasure time) remains."""

    status = models.CharField(
        max_length=16, choices=PatronStatus.choices, default=PatronStatus.ACTIVE, db_index=True
    )
    # Null only on an erased tombstone: the category and branch say something
    # about the person (a child; where they live), so erasure clears them too.
    category = models.ForeignKey(
        PatronCategory, on_delete=models.PROTECT, null=True, related_name="patrons"
    )
    home_branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, null=True, related_name="patrons"
    )
    expires_on = models.DateField(null=True)
    # Derived when the birth data or category is written (while the plaintext is
    # at hand), so that consent checks need not unseal the birth date.
    guardian_required = models.BooleanField(default=False)

    # The vault's id for this patron's data key; meaningless without the keystore.
    key_id = models.CharField(max_length=64, blank=True, db_index=True)

    # Ciphertext, one column per sealed field of the register.
    card_number_sealed = models.BinaryField(null=True)
    name_sealed = models.BinaryField(null=True)
    email_sealed = models.BinaryField(null=True)
    phone_sealed = models.BinaryField(null=True)
    address_sealed = models.BinaryField(null=True)
    birth_year_sealed = models.BinaryField(null=True)
    birth_date_sealed = models.BinaryField(null=True)
    guardian_name_sealed = models.BinaryField(null=True)

    # Blind indexes: truncated keyed hashes of normalised values. Deliberately
    # shared by several patrons (see vault/blind.py), so none is unique: a
    # look-up narrows to a few candidates, which the service unseals and
    # compares. Each value carries the index key version it was made with.
    card_index = models.BinaryField(null=True, db_index=True)
    email_index = models.BinaryField(null=True, db_index=True)
    phone_index = models.BinaryField(null=True, db_index=True)
    address_index = models.BinaryField(null=True, db_index=True)

    # Self-service PIN, as a Django password hash (Argon2); never the PIN itself.
    pin_hash = models.CharField(max_length=255, blank=True)

    identity_document = models.CharField(
        max_length=32, choices=IdentityDocument.choices, blank=True, default=""
    )
    identity_verified_by = models.CharField(max_length=180, blank=True)
    identity_verified_at = models.DateTimeField(null=True)

    created_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(null=True)
    erased_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        # Ids only: a patron printed in a log or a traceback gives nothing away.
        return f"patron {self.pk}"

    def __repr__(self) -> str:
        return f"<Patron {self.pk} {self.status}>"

    @property
    def is_erased(self) -> bool:
        return self.status == PatronStatus.ERASED


class PatronNameToken(models.Model):
    """One blind-indexed token of a patron's name, for search by name (all tokens must match)."""

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="name_tokens")
    token = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patron", "token"], name="patrons_name_token_once")
        ]
        indexes = [models.Index(fields=["token"], name="patrons_name_token_idx")]

    def __str__(self) -> str:
        return f"name token of patron {self.patron_id}"


class PatronChange(models.Model):
    """One change to a patron record: when, by whom, which fields. Never the values."""

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField()
    actor = models.CharField(max_length=180)
    channel = models.CharField(max_length=8)
    purpose = models.CharField(max_length=200)
    fields = models.JSONField(default=list)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["patron", "at"], name="patrons_change_patron_at")]

    def __str__(self) -> str:
        return f"change to patron {self.patron_id} at {self.at:%Y-%m-%d %H:%M}"


class PrivacyNotice(models.Model):
    """A published version of the privacy notice in one language. Never edited once published."""

    version = models.PositiveIntegerField()
    language = models.CharField(max_length=16)
    text = models.TextField()
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["-version", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "language"], name="patrons_notice_version_language"
            )
        ]

    def __str__(self) -> str:
        return f"privacy notice v{self.version} ({self.language})"


class Consent(models.Model):
    """One act of giving or withdrawing consent; the newest per purpose is in force.

    Rows are only ever added, so the history shows what the patron agreed to
    under which notice version, and when they changed their mind.
    """

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=32)
    notice_version = models.PositiveIntegerField()
    given = models.BooleanField()
    at = models.DateTimeField()
    channel = models.CharField(max_length=8)
    by_guardian = models.BooleanField(default=False)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["patron", "purpose", "at"], name="patrons_consent_latest")]

    def __str__(self) -> str:
        state = "given" if self.given else "withdrawn"
        return f"consent {self.purpose} {state} by patron {self.patron_id}"


# --- Correction requests (patrons/corrections.py) ----------------------------------


class CorrectionStatus(models.TextChoices):
    OPEN = "open", _("Waiting for review")
    NEEDS_PROOF = "needs_proof", _("Proof asked for")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class CorrectionRequest(models.Model):
    """A patron's request to change details that staff verify (name, address, birth data).

    The proposed values and the patron's note are personal data: they are
    sealed with the patron's own key (bound to this request's id), so they
    become unreadable with everything else when the patron is erased. Only
    the names of the fields asked about are kept in clear, for the queue.
    """

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="corrections")
    status = models.CharField(
        max_length=16,
        choices=CorrectionStatus.choices,
        default=CorrectionStatus.OPEN,
        db_index=True,
    )
    fields = models.JSONField(default=list)
    values_sealed = models.BinaryField(null=True)
    note_sealed = models.BinaryField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    reviewer = models.CharField(max_length=180, blank=True)
    decided_at = models.DateTimeField(null=True)
    #: Staff's reason for a rejection or for asking for proof (shown to the patron, escaped).
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"], name="patrons_correction_queue")]

    def __str__(self) -> str:
        return f"correction request {self.pk} of patron {self.patron_id}"


class CorrectionStep(models.Model):
    """One step of a correction request: submitted, proof asked, note added, decided, withdrawn."""

    request = models.ForeignKey(CorrectionRequest, on_delete=models.CASCADE, related_name="steps")
    at = models.DateTimeField()
    action = models.CharField(max_length=16)
    actor = models.CharField(max_length=180)
    #: Staff's reason, when the step has one; a patron's note is sealed instead.
    reason = models.TextField(blank=True)
    note_sealed = models.BinaryField(null=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on correction request {self.request_id}"


# --- Self-registration (patrons/selfreg.py) ------------------------------------------


class SelfRegistration(models.Model):
    """A card applied for on the public portal page: e-mail check, then a provisional card.

    Only a keyed hash of the one-time e-mail link is kept. Until `verified_at`
    the card is blocked (no sign-in, no loans); unverified applications are
    erased after 30 days. `identity_checked_at` is set when a desk lifts the
    provisional status.
    """

    patron = models.OneToOneField(Patron, on_delete=models.CASCADE, related_name="selfreg")
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    token_expires_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(db_index=True)
    verified_at = models.DateTimeField(null=True)
    identity_checked_at = models.DateTimeField(null=True)
    #: The category the card gets once a desk has checked the holder's identity.
    target_category = models.CharField(max_length=32, default="adult")

    def __str__(self) -> str:
        return f"self-registration of patron {self.patron_id}"
