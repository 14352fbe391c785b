"""Who may call the circulation services: one gate, keyed on the `Actor`.

* **staff** actors need the permission through `accounts.services.require`
  (`circulation.loan` to lend, return, renew and manage holds and blocks;
  `circulation.rules` to edit loan rules and calendars), checked for the
  branch the action happens at, so branch-scoped roles work;
* **system** actors and anything on the **job** channel (the scheduler's
  notices and hold expiry) are trusted: they are the program itself;
* **cli** actors are the operator on the server, trusted as elsewhere in
  Shelfguard (whoever can run the command can read the database);
* **terminal** actors (self-check machines over SIP2) may use
  `circulation.loan` only: the SIP2 server authenticates the terminal and
  the patron's PIN before it calls a service;
* **patron** actors (the portal) may renew their own loans and place or
  cancel their own holds (`self_service=True`), nothing else;
* anyone else (the public) is refused.
"""

from __future__ import annotations

from shelfguard.accounts.services import AccessDenied, Decision, require
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch

LOAN = "circulation.loan"
RULES = "circulation.rules"


def _refuse(reason: str) -> None:
    raise AccessDenied(Decision(False, reason))


def authorise(
    actor: Actor,
    code: str,
    *,
    purpose: str,
    branch: Branch | int | None = None,
    patron_id: int | None = None,
    self_service: bool = False,
) -> None:
    """Return quietly when `actor` may do `code`; raise `AccessDenied` (with the reason) if not."""
    if not isinstance(purpose, str) or not purpose.strip():
        _refuse("Say why: every use needs a purpose.")
    if actor.kind == "system" or actor.channel == "job" or actor.kind == "cli":
        return
    if actor.kind == "staff":
        from shelfguard.accounts.models import StaffUser

        staff = StaffUser.objects.prefetch_related("roles").filter(username=actor.ident).first()
        require(staff, code, purpose=purpose, branch=branch, channel=actor.channel)
        return
    if actor.kind == "terminal" and code == LOAN:
        return
    if actor.kind == "patron" and code == LOAN and self_service:
        if patron_id is not None and actor.ident == str(patron_id):
            return
        _refuse("A patron may act only on their own loans and holds.")
    _refuse("This kind of user may not do this.")
