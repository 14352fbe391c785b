"""Patron sign-in state: credentials, portal sessions and one-time set-password links.

Kept apart from `patrons.Patron` (which this app never changes): a patron
without a row here simply has no portal password yet. Nothing here holds a
personal value in clear: the password is an Argon2 hash, the TOTP secret is
sealed with the patron's own data key (so erasure makes it unreadable), and
session tokens and link tokens are stored only as keyed hashes.
"""

from __future__ import annotations

from django.db import models

from shelfguard.patrons.models import Patron


class PatronCredential(models.Model):
    """A patron's portal password and optional authenticator (TOTP)."""

    patron = models.OneToOneField(Patron, on_delete=models.CASCADE, related_name="credential")
    # A Django password hash (Argon2id) of the NFKC-normalised password; "" = none set.
    password_hash = models.CharField(max_length=255, blank=True)
    password_set_at = models.DateTimeField(null=True, blank=True)
    # Base32 TOTP secret sealed for owner "patron:<id>", field "portal_totp"; null = off.
    totp_sealed = models.BinaryField(null=True)
    totp_enabled_at = models.DateTimeField(null=True, blank=True)
    # A new authenticator being set up (sealed the same way), until confirmed.
    totp_pending_sealed = models.BinaryField(null=True)
    totp_pending_at = models.DateTimeField(null=True, blank=True)
    # Time step of the last accepted code: every code works once.
    totp_last_t = models.BigIntegerField(default=-1)

    def __str__(self) -> str:
        return f"credential of patron {self.patron_id}"

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    @property
    def has_totp(self) -> bool:
        return self.totp_sealed is not None


class PatronSession(models.Model):
    """One portal session: the authority on whether a portal cookie is still good.

    The cookie's token is a bearer credential, so only its keyed hash is kept.
    A `pending` session has passed the password step but not the second
    factor yet; it opens no page but /account/verify/.
    """

    class Stage(models.TextChoices):
        PENDING = "pending"
        SIGNED_IN = "signed-in"

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="portal_sessions")
    key_hash = models.CharField(max_length=64, unique=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.SIGNED_IN)
    public = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)
    # A coarse description ("Firefox / Linux"), never the address.
    client = models.CharField(max_length=100, blank=True)
    # The one passkey (WebAuthn) challenge this session is waiting for, if any:
    # its kind ("register" or "authenticate"), value (base64url), the site it
    # was made for, and when. Taken out (single use) before an answer is checked.
    webauthn_kind = models.CharField(max_length=16, blank=True)
    webauthn_challenge = models.CharField(max_length=64, blank=True)
    webauthn_origin = models.CharField(max_length=600, blank=True)
    webauthn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["patron", "ended_at"], name="portal_session_live")]

    def __str__(self) -> str:
        return f"portal session {self.pk} of patron {self.patron_id}"


class PasswordLink(models.Model):
    """A one-time link to set a portal password, printed at the desk or by the CLI."""

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="password_links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # For a lost phone: using the link also turns the authenticator off.
    removes_totp = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["patron", "used_at"], name="portal_link_open")]

    def __str__(self) -> str:
        return f"password link {self.pk} of patron {self.patron_id}"


class PatronPasskey(models.Model):
    """A patron's passkey (WebAuthn credential): an optional second factor for the portal.

    Only the credential id and public key are kept; neither is a secret nor
    says anything about the patron. Removed with the patron on erasure.
    """

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="portal_passkeys")
    # base64url, as the browser reports it; one credential belongs to one patron only.
    credential_id = models.CharField(max_length=1400, unique=True)
    public_key = models.BinaryField()  # COSE key
    sign_count = models.BigIntegerField(default=0)
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"passkey {self.pk} of patron {self.patron_id}"


class ExportFile(models.Model):
    """One "download my data" file: offered once, then gone.

    The ZIP is stored under `$SHELFGUARD_HOME/exports/<file_name>`, encrypted
    with AES-256-GCM under a fresh random key. That key is kept only in its
    `ExportKey` row, sealed with the patron's own data key, so deleting the
    row (after the download, at the purge, or by erasing the patron) makes
    whatever the disk still holds of the file unreadable. The download token
    is kept only as a keyed hash and works only in the session that asked.
    """

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="export_files")
    # The portal session that asked: the token is of no use in another one.
    session = models.ForeignKey(
        PatronSession, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    # A random name, unrelated to the token and to the patron.
    file_name = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    downloaded_at = models.DateTimeField(null=True, blank=True)
    # Set when the file and its key were deleted (download, purge or erasure).
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["removed_at", "created_at"], name="portal_export_open")]

    def __str__(self) -> str:
        return f"export {self.pk} of patron {self.patron_id}"


class ExportKey(models.Model):
    """The AES-256-GCM key of one export file, sealed with the patron's data key.

    Deleted when the file is: without this row the file cannot be decrypted.
    """

    export = models.OneToOneField(ExportFile, on_delete=models.CASCADE, related_name="key")
    # The key (base64) sealed for owner "patron:<id>", field "portal_export".
    sealed = models.BinaryField()

    def __str__(self) -> str:
        return f"key of export {self.export_id}"


class ClosureRequest(models.Model):
    """A patron's request to close their account, erased after a cooling-off period.

    `pending` until `erase_after`; the patron may cancel until then. The
    nightly run erases the patron; when an obligation appeared meanwhile the
    request goes `on_hold` with the reason (what is owed, never a value) and
    is tried again at every run, until the patron settles it or cancels.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        ON_HOLD = "on_hold"
        CANCELLED = "cancelled"
        DONE = "done"

    patron = models.ForeignKey(Patron, on_delete=models.CASCADE, related_name="closure_requests")
    requested_at = models.DateTimeField()
    erase_after = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    hold_reason = models.CharField(max_length=500, blank=True)
    # The circulation block that stops new loans during the cooling-off period.
    block_id = models.BigIntegerField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["erase_after", "id"]
        indexes = [models.Index(fields=["status", "erase_after"], name="portal_closure_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["patron"],
                condition=models.Q(status__in=["pending", "on_hold"]),
                name="portal_one_open_closure",
            )
        ]

    def __str__(self) -> str:
        return f"closure request {self.pk} of patron {self.patron_id} ({self.status})"
