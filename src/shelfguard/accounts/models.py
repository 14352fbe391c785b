"""Staff accounts, roles, certifications, break-glass grants, sign-in state.

Permissions are never read from these tables directly by pages or commands:
`services.has_permission` is the one place that combines role, branch,
certification and break-glass into a decision.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from shelfguard.accounts import passwords


class Role(models.Model):
    """A named set of permission codes (see `permissions.PERMISSIONS`)."""

    class Scope(models.TextChoices):
        LIBRARY = "library", _("whole library")
        # A branch-scoped role grants its permissions only for things that
        # belong to the staff member's own branch (checked with `branch=`).
        BRANCH = "branch", _("own branch only")

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    permissions = models.JSONField(default=list)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.LIBRARY)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        # An edited role may hold only codes the program knows: a misspelt code
        # would silently grant nothing and hide the mistake.
        from django.core.exceptions import ValidationError

        from shelfguard.accounts.permissions import UnknownPermission, check_codes

        try:
            self.permissions = check_codes(self.permissions)
        except UnknownPermission as exc:
            raise ValidationError({"permissions": str(exc)}) from None


class StaffManager(BaseUserManager):
    def get_by_natural_key(self, username: str) -> StaffUser:
        from shelfguard.accounts.usernames import normalise

        return self.get(username=normalise(username))


class StaffUser(AbstractBaseUser):
    """A member of staff. Patrons are not users of this model."""

    username = models.CharField(max_length=64, unique=True)
    branch = models.ForeignKey("core.Branch", on_delete=models.PROTECT, related_name="staff")
    roles = models.ManyToManyField(Role, related_name="staff", blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    disabled_at = models.DateTimeField(null=True, blank=True)
    # The staff member's own surname, kept only as the patrons' name-token blind
    # indexes (each prefixed with its length), so that access monitoring can
    # notice a look at a relative's record. Never stored in clear; set with
    # `shelfguard staff set-household` (monitoring.services.set_household).
    household_surname_index = models.BinaryField(null=True, blank=True)
    # The staff member's own postal address, kept only as the patrons' address
    # blind index (one value), for the same rule; set with `shelfguard staff
    # set-household --address-file F` (monitoring.services.set_household_address).
    household_address_index = models.BinaryField(null=True, blank=True)

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: list[str] = []

    objects = StaffManager()

    class Meta:
        ordering = ["username"]
        verbose_name = "staff user"

    def __str__(self) -> str:
        return self.username

    # Passwords are NFKC-normalised so that the same password typed on two
    # keyboards (composed or decomposed accents, full-width forms) matches.
    def set_password(self, raw_password: str | None) -> None:
        super().set_password(None if raw_password is None else passwords.normalise(raw_password))

    def check_password(self, raw_password: str) -> bool:
        return super().check_password(passwords.normalise(raw_password))


class Certification(models.Model):
    """A passed privacy course. Valid from `passed_on` through `expires_on`."""

    staff = models.ForeignKey(StaffUser, on_delete=models.CASCADE, related_name="certifications")
    course = models.CharField(max_length=200)
    passed_on = models.DateField()
    expires_on = models.DateField()
    # Null when recorded by the server operator from the command line; the
    # ledger entry names who that was.
    recorded_by = models.ForeignKey(
        StaffUser, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-expires_on"]
        indexes = [models.Index(fields=["staff", "expires_on"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_on__gte=models.F("passed_on")),
                name="accounts_certification_expires_after_passed",
            )
        ]


class BreakGlassGrant(models.Model):
    """Time-limited permissions outside a staff member's roles, with a reason."""

    staff = models.ForeignKey(StaffUser, on_delete=models.CASCADE, related_name="breakglass")
    permissions = models.JSONField(default=list)
    justification = models.TextField()
    granted_by = models.ForeignKey(StaffUser, on_delete=models.PROTECT, related_name="+")
    starts = models.DateTimeField()
    ends = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts"]
        indexes = [models.Index(fields=["staff", "ends"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends__gt=models.F("starts")),
                name="accounts_breakglass_ends_after_start",
            )
        ]


class EnrolmentCode(models.Model):
    """A one-time code that lets a new staff member set up their second factor.

    Only a keyed hash is stored: the code is shown once, by `staff create`.
    """

    staff = models.ForeignKey(StaffUser, on_delete=models.CASCADE, related_name="enrolment_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class StaffSession(models.Model):
    """One signed-in staff session, the authority on whether it is still alive.

    The session key itself is not stored (it is a bearer credential), only a
    keyed hash of it. Ending a session here ends it at its next request.
    """

    staff = models.ForeignKey(StaffUser, on_delete=models.CASCADE, related_name="sessions")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)
    # A coarse description ("Firefox on Linux"), never the address.
    client = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["staff", "ended_at"])]


class Throttle(models.Model):
    """Failed sign-in attempts for one account name or one source.

    `key` is a keyed hash of the (normalised) name or address, so unknown
    names are throttled exactly like real ones and no address is stored.
    The attempted password is never stored anywhere.
    """

    class Scope(models.TextChoices):
        ACCOUNT = "account"
        SOURCE = "source"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    key = models.CharField(max_length=64)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="accounts_throttle_scope_key")
        ]
        # For clearing out forgotten rows (see throttle.failure).
        indexes = [models.Index(fields=["last_failure_at"], name="accounts_throttle_last")]


# --- second factors kept by Shelfguard itself -------------------------------------------
#
# Both are django-otp devices (`django_otp.models.Device`), so `django_otp.login`
# and the OTP middleware treat them like any other: a session verified with a
# passkey is `is_verified()` exactly like one verified with a TOTP code.

from django_otp.models import Device


class SealedTOTPDevice(Device):
    """An authenticator app (RFC 6238 TOTP) whose shared secret is sealed at rest.

    The secret is sealed (AES-256-GCM, `vault.sealing`) with a keystore data
    key of this staff member's, bound by the associated data to the owner
    "staff:<id>" and the field "totp_secret". The database alone therefore
    holds neither the hex nor the base32 form of the secret, and a sealed
    secret copied to another staff member's row does not open. The data key
    is wrapped by the master key, so a master key rotation covers these
    secrets like every patron's data.

    Codes are checked by `accounts.mfa` against the one clock.
    """

    key_id = models.CharField(max_length=36)
    sealed_key = models.BinaryField()
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    # The time step of the last accepted code: each code works once.
    last_t = models.BigIntegerField(default=-1)
    created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "TOTP device (sealed)"

    @property
    def bin_key(self) -> bytes:
        """The secret, unsealed for this use only (never stored in the clear)."""
        from shelfguard.accounts import mfa

        return mfa.unseal_secret(self)

    @property
    def key(self) -> str:
        """The secret in hex, as django-otp's TOTPDevice shows it (unsealed on read)."""
        return self.bin_key.hex()

    def verify_token(self, token) -> bool:
        from shelfguard.accounts import mfa

        return mfa.verify_device(self, token)


class Passkey(Device):
    """A WebAuthn credential (passkey or security key): the phishing-resistant factor.

    Only public material is stored: the credential id and its COSE public
    key. `sign_count` is the authenticator's counter; one that does not grow
    means a cloned authenticator and is refused (see `accounts.passkeys`).
    """

    # base64url of the raw credential id (at most 1023 bytes by the spec).
    credential_id = models.CharField(max_length=1400, unique=True)
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    aaguid = models.CharField(max_length=36, blank=True)
    transports = models.JSONField(default=list, blank=True)
    backed_up = models.BooleanField(default=False)
    user_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["user", "confirmed"], name="accounts_passkey_user")]

    def verify_token(self, token) -> bool:
        # A passkey answers a challenge through `accounts.passkeys`, never a typed token.
        return False
