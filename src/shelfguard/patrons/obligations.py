"""Extension points other apps use to take part in a patron's life without `patrons` importing them.

`circulation` (and later `lifecycle`) registers, from its `AppConfig.ready()`:

* an **obligation check**: `fn(patron) -> Iterable[str]` returning one
  human-readable reason per thing that stops erasure ("2 items on loan",
  "a fine of 3.50 is unpaid"); erasure is refused while any reason remains;
* a **withdrawal handler**: `fn(patron, consent_purpose, actor)` run inside
  the withdrawal's transaction, so that, for example, a kept reading history
  is unlinked in the same commit that records the withdrawal.

The dependency runs the allowed way: those apps import `patrons`, never the
reverse. Reasons must not contain personal values (they are shown on screens
and may be logged); say what is owed, not who or what was borrowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shelfguard.core.actors import Actor
    from shelfguard.patrons.models import Patron

logger = logging.getLogger(__name__)

ObligationCheck = Callable[["Patron"], Iterable[str]]
WithdrawalHandler = Callable[["Patron", str, "Actor"], None]

_checks: list[ObligationCheck] = []
_withdrawal_handlers: list[WithdrawalHandler] = []


def register_obligation_check(fn: ObligationCheck) -> ObligationCheck:
    """Add a check run before every erasure; usable as a decorator. Registering twice is a no-op."""
    if fn not in _checks:
        _checks.append(fn)
    return fn


def unregister_obligation_check(fn: ObligationCheck) -> None:
    if fn in _checks:
        _checks.remove(fn)


def outstanding(patron: Patron) -> list[str]:
    """Every reason, from every registered check, why this patron cannot be erased now.

    A check that fails counts as a reason (fail closed): erasure is final, so
    it must not go ahead because a check could not tell whether items are
    still on loan.
    """
    reasons: list[str] = []
    # A snapshot: a check may unregister itself (or another) while we iterate.
    for check in tuple(_checks):
        name = getattr(check, "__qualname__", repr(check))
        try:
            found = [str(reason) for reason in check(patron) if str(reason).strip()]
        except Exception:
            # The traceback names the check and the patron id only.
            logger.exception("Obligation check %s failed for patron %s", name, patron.pk)
            found = [f"the obligation check {name} failed, so obligations are unknown"]
        reasons.extend(found)
    return reasons


def register_withdrawal_handler(fn: WithdrawalHandler) -> WithdrawalHandler:
    """Add a handler run in the transaction of every consent withdrawal; usable as a decorator."""
    if fn not in _withdrawal_handlers:
        _withdrawal_handlers.append(fn)
    return fn


def unregister_withdrawal_handler(fn: WithdrawalHandler) -> None:
    if fn in _withdrawal_handlers:
        _withdrawal_handlers.remove(fn)


def run_withdrawal_handlers(patron: Patron, consent_purpose: str, actor: Actor) -> None:
    """Run every handler; an exception propagates and rolls the withdrawal back with it."""
    for handler in tuple(_withdrawal_handlers):
        handler(patron, consent_purpose, actor)
