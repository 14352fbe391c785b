"""Slowing down and locking out password guessing, per account and per source.

Works on opaque keys, so the same rules serve staff web sign-in now and
patron portal, API tokens and SIP2 PINs later. Unknown account names are
throttled and locked exactly like real ones: how sign-in answers never
tells whether an account exists. Attempted passwords are never stored.

- per account: the first few failures are free, then each attempt must wait
  a doubling delay (1 s, 2 s, 4 s ... capped at 5 min); after `lockout_after`
  consecutive failures (default 10, at most 100) the account name is locked
  for `lockout_minutes`, and the lockout is written to the access ledger.
- per source address: the same doubling delay after more free attempts, and
  no lockout (a whole branch may share one address).
- failures are forgotten a day after the last one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from shelfguard.accounts import config
from shelfguard.accounts.models import Throttle
from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger

ACCOUNT_FREE_ATTEMPTS = 3
SOURCE_FREE_ATTEMPTS = 20
MAX_DELAY = dt.timedelta(minutes=5)
FORGET_AFTER = dt.timedelta(days=1)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds
    locked: bool = False


def _keys(account: str, source: str) -> list[tuple[str, str]]:
    keys = [(Throttle.Scope.ACCOUNT, keyed_hash("throttle-account", account))]
    if source:
        keys.append((Throttle.Scope.SOURCE, keyed_hash("throttle-source", source)))
    return keys


def delay(failures: int, free: int) -> dt.timedelta:
    """How long to wait after `failures` consecutive failures."""
    if failures < free:
        return dt.timedelta(0)
    return min(dt.timedelta(seconds=2 ** min(failures - free, 16)), MAX_DELAY)


def _fresh(row: Throttle, now: dt.datetime) -> None:
    if row.last_failure_at is not None and now - row.last_failure_at > FORGET_AFTER:
        row.failures = 0
        row.last_failure_at = None
    if row.locked_until is not None and row.locked_until <= now:
        row.locked_until = None
        row.failures = 0


def _free(scope: str) -> int:
    return ACCOUNT_FREE_ATTEMPTS if scope == Throttle.Scope.ACCOUNT else SOURCE_FREE_ATTEMPTS


def check(account: str, source: str) -> Verdict:
    """May an attempt for this account name from this source be tried now?"""
    now = clock.now()
    wait = dt.timedelta(0)
    locked = False
    rows = {(r.scope, r.key): r for r in _rows(account, source)}
    for scope, key in _keys(account, source):
        row = rows.get((scope, key))
        if row is None:
            continue
        _fresh(row, now)
        if row.locked_until is not None:
            locked = True
            wait = max(wait, row.locked_until - now)
        elif row.last_failure_at is not None:
            wait = max(wait, row.last_failure_at + delay(row.failures, _free(scope)) - now)
    seconds = max(0, int(wait.total_seconds() + 0.999))
    return Verdict(allowed=seconds == 0 and not locked, retry_after=seconds, locked=locked)


def _rows(account: str, source: str) -> list[Throttle]:
    keys = _keys(account, source)
    rows = []
    for scope, key in keys:
        rows.extend(Throttle.objects.filter(scope=scope, key=key))
    return rows


def failure(
    account: str, source: str, *, channel: str = "web", subject: str | None = None
) -> Verdict:
    """Record a failed attempt; lock the account name when it reaches the limit.

    `subject` names the account in the ledger when it exists (a staff id such
    as "staff:12"); the attempted name itself is not written, since a
    mistyped password is sometimes entered in the name field.
    """
    now = clock.now()
    limit = config.value("lockout_after")
    with transaction.atomic():
        # Guessing at many made-up names must not grow the table without end:
        # rows past the forgetting period (and not locked) go.
        Throttle.objects.filter(last_failure_at__lt=now - FORGET_AFTER).exclude(
            locked_until__gt=now
        ).delete()
        for scope, key in _keys(account, source):
            row, _ = Throttle.objects.select_for_update().get_or_create(scope=scope, key=key)
            _fresh(row, now)
            row.failures += 1
            row.last_failure_at = now
            if (
                scope == Throttle.Scope.ACCOUNT
                and row.locked_until is None
                and row.failures >= limit
            ):
                minutes = config.value("lockout_minutes")
                row.locked_until = now + dt.timedelta(minutes=minutes)
                ledger.append(
                    actor=Actor(kind="system", ident="sign-in-throttle", channel=channel),
                    action="accounts.lockout",
                    purpose="security: repeated failed sign-ins",
                    detail={
                        "subject": subject or "unknown-account",
                        "failures": row.failures,
                        "minutes": minutes,
                        "review": True,
                    },
                )
            row.save()
    return check(account, source)


def success(account: str) -> None:
    """A correct sign-in clears the account's failures (not the source's).

    Looked at before deleting: every authenticated API request ends here, and
    a DELETE, even of nothing, takes SQLite's write lock.
    """
    rows = Throttle.objects.filter(
        scope=Throttle.Scope.ACCOUNT, key=keyed_hash("throttle-account", account)
    )
    if rows.exists():
        rows.delete()


def unlock(account: str, *, actor: Actor, purpose: str = "security: unlock account") -> bool:
    """Lift a lockout early (an administrator's decision, so it is recorded)."""
    with transaction.atomic():
        removed, _ = Throttle.objects.filter(
            scope=Throttle.Scope.ACCOUNT, key=keyed_hash("throttle-account", account)
        ).delete()
        ledger.append(actor=actor, action="accounts.unlock", purpose=purpose)
    return bool(removed)
