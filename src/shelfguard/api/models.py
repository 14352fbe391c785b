"""Staff API tokens: a bearer credential for programs acting for one staff member.

A token reads `sgt_<prefix>_<secret>`. The prefix is its public id (shown in
`shelfguard token list`, used to find the row); only a keyed hash of the
whole token is stored, so the database alone cannot be used to call the
API. A token grants nothing by itself: every request is also checked
against the staff member's own permissions (`accounts.services.has_permission`),
and its scopes only narrow what those permissions allow.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    # Public id: random, lower-case hex, part of the token itself.
    prefix = models.CharField(max_length=16, unique=True)
    # keyed_hash("api-token", whole token): HMAC under the site secret.
    secret_hash = models.CharField(max_length=64)
    name = models.CharField(max_length=100, blank=True, default="")
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField()
    # Null when created by the server operator from the command line; the
    # ledger entry names who that was.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    expires_at = models.DateTimeField()
    # Day precision on purpose: enough to find unused tokens, not a usage log.
    last_used_on = models.DateField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["staff", "revoked_at"], name="api_token_staff_revoked")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="api_token_expires_after_created",
            )
        ]

    def __str__(self) -> str:
        return f"sgt_{self.prefix}"
