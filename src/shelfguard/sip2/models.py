"""Self-check terminals: the machines allowed to speak SIP2 to Shelfguard.

A terminal signs in with its own login and password (93), never a staff
account: it acts as itself (`Actor(kind="terminal")`) at one branch, and
every circulation action it asks for is recorded under its login. The
password is kept only as a Django password hash (Argon2, as for staff).

What a terminal may do is narrowed here, not in the machine's own setup:
the message codes it may send, the addresses it may connect from, whether
it may sign in without TLS (its password and patrons' PINs would then
travel in clear), and how much of a patron's name it is shown.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from shelfguard.core.models import Branch

#: The request messages a terminal may send, by default all of them: login,
#: status, patron status and information, checkout, checkin, renew, renew
#: all, item information and status update, hold, end session, fee paid,
#: patron enable, block patron, resend.
ALL_REQUEST_CODES = (
    "93",
    "99",
    "23",
    "63",
    "11",
    "09",
    "29",
    "65",
    "17",
    "19",
    "15",
    "35",
    "37",
    "25",
    "01",
    "97",
)


def default_request_codes() -> list[str]:
    return list(ALL_REQUEST_CODES)


class NameDisplay(models.TextChoices):
    """How much of the patron's name a terminal shows on its screen and receipt."""

    NONE = "none", _("None (the word “Patron”)")
    FIRST = "first", _("First name only")
    FULL = "full", _("Full name")


class Terminal(models.Model):
    """One self-check machine (or one SIP2 account shared by a bank of them at a branch)."""

    login = models.CharField(max_length=64, unique=True)
    password_hash = models.CharField(max_length=255)
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="+")
    enabled = models.BooleanField(default=True)
    # Unsafe when True and the network is not trusted: reported by `check --deploy`.
    allow_plaintext = models.BooleanField(default=False)
    encoding = models.CharField(max_length=16, default="utf-8")
    allowed_codes = models.JSONField(default=default_request_codes)
    # IP addresses and networks (CIDR) the terminal may connect from; empty: any.
    allow_from = models.JSONField(default=list, blank=True)
    name_display = models.CharField(
        max_length=8, choices=NameDisplay.choices, default=NameDisplay.FIRST
    )
    created_at = models.DateTimeField()
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["login"]

    def __str__(self) -> str:
        return f"terminal {self.login}"
