"""Counting attempts per client address without keeping the address.

The public feedback and privacy-request forms, and guesses at status-page
tokens, are limited per client address and hour. The address is kept only
as an HMAC under a key derived for that hour from the site secret (which
lives in the key files, not in the database), and a window's rows are
deleted when its hour is over. So the database never holds an address, and
once an hour has passed nothing is left to test a guessed address against,
even for someone who later obtains the secret.

`accounts/throttle.py` is not reused: its rows live for a day under one
fixed key, fit for sign-in lockouts, longer than anonymous feedback needs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core import clock
from shelfguard.feedback.models import RateWindow

WINDOW = dt.timedelta(hours=1)

#: Attempts allowed per address and hour, by kind.
LIMITS = {
    "feedback": 5,
    "request": 5,
    "token": 10,  # failed status-page token guesses
}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds until the window ends


def _window(now: dt.datetime) -> dt.datetime:
    now = now.astimezone(dt.UTC)
    return now.replace(minute=0, second=0, microsecond=0)


def _key(kind: str, address: str, window: dt.datetime) -> str:
    # The hour is part of the HMAC key's derivation: a new key every hour.
    return keyed_hash(f"feedback-rate:{kind}:{window:%Y%m%d%H}", address or "unknown")


def _verdict(count: int, kind: str, now: dt.datetime, window: dt.datetime) -> Verdict:
    if count < LIMITS[kind]:
        return Verdict(True)
    return Verdict(False, max(1, int((window + WINDOW - now).total_seconds())))


def check(kind: str, address: str) -> Verdict:
    """May one more attempt of `kind` come from `address` now (nothing recorded)?"""
    now = clock.now()
    window = _window(now)
    row = RateWindow.objects.filter(kind=kind, key=_key(kind, address, window), window=window)
    count = row.values_list("count", flat=True).first() or 0
    return _verdict(count, kind, now, window)


def hit(kind: str, address: str) -> Verdict:
    """Count one attempt; the verdict says whether it was within the limit."""
    now = clock.now()
    window = _window(now)
    with transaction.atomic():
        RateWindow.objects.filter(window__lt=window).delete()
        row, _ = RateWindow.objects.select_for_update().get_or_create(
            kind=kind, key=_key(kind, address, window), window=window
        )
        if row.count >= LIMITS[kind]:
            return _verdict(row.count, kind, now, window)
        row.count += 1
        row.save(update_fields=["count"])
    return Verdict(True)


def forget_past(now: dt.datetime | None = None) -> int:
    """Delete the windows of past hours (also done on every hit); returns how many."""
    deleted, _ = RateWindow.objects.filter(window__lt=_window(now or clock.now())).delete()
    return deleted
