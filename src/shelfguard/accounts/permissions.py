"""The permission codes staff roles are made of.

Codes are fixed by the program (code checks them by name); which role holds
which codes is data, editable by an administrator. Patron-data codes separate
viewing from changing, and a patron's name and status (what the desk needs)
from their contact details and, further still, their reading history.
Every code marked `patron_data` also needs a current privacy certification.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class PermissionInfo:
    code: str
    description: str
    patron_data: bool


_ALL = [
    PermissionInfo("patron.view_status", _("See a patron's account status, blocks and fees"), True),
    PermissionInfo("patron.view_name", _("See a patron's name and card number"), True),
    PermissionInfo("patron.view_contact", _("See a patron's address, e-mail and telephone"), True),
    PermissionInfo("patron.register", _("Register a new patron"), True),
    PermissionInfo("patron.change", _("Change a patron's record"), True),
    PermissionInfo("patron.view_history", _("See a patron's kept reading history"), True),
    PermissionInfo("patron.erase", _("Erase a patron"), True),
    PermissionInfo("circulation.loan", _("Lend, return and renew items for a patron"), True),
    # Who looked at whom is itself personal data.
    PermissionInfo("ledger.read", _("Read the access ledger"), True),
    PermissionInfo("catalog.change", _("Add and change catalogue records and items"), False),
    PermissionInfo("staff.manage", _("Create, disable and assign roles to staff"), False),
    PermissionInfo("certification.record", _("Record privacy certifications"), False),
    PermissionInfo("breakglass.grant", _("Grant time-limited access outside a role"), False),
    PermissionInfo("config.change", _("Change the library's configuration"), False),
    PermissionInfo("role.manage", _("Create and edit roles"), False),
    PermissionInfo("circulation.rules", _("Edit loan rules and branch calendars"), False),
    PermissionInfo("token.manage", _("Issue and revoke staff API tokens"), False),
    # Patrons' own requests (issue 6): deciding a correction changes a record;
    # privacy requests name people, so both need certification.
    PermissionInfo(
        "patron.review_corrections", _("Review patrons' requests to correct their record"), True
    ),
    PermissionInfo("privacy.requests", _("Handle privacy requests and complaints"), True),
    # Anonymous feedback carries no identity by design.
    PermissionInfo("feedback.manage", _("Read, answer and close anonymous feedback"), False),
]

PERMISSIONS: dict[str, PermissionInfo] = {p.code: p for p in _ALL}
PATRON_DATA: frozenset[str] = frozenset(p.code for p in _ALL if p.patron_data)


class UnknownPermission(ValueError):
    """A permission code that the program does not define (a typo fails loudly)."""


def check_codes(codes) -> list[str]:
    """The codes as a sorted list without repeats; refuses unknown codes."""
    if isinstance(codes, str):
        raise UnknownPermission("Permissions must be a list of codes, not a single string.")
    clean = set()
    for code in codes:
        if code not in PERMISSIONS:
            raise UnknownPermission(
                f"Unknown permission {code!r}; known: {', '.join(sorted(PERMISSIONS))}."
            )
        clean.add(code)
    return sorted(clean)
