"""The one clock: every "now" in Shelfguard comes from here.

Retention, due dates and tests must agree on the time, so nothing calls
`datetime.now()` or `timezone.now()` directly. Tests move the clock with
`frozen(...)`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from django.utils import timezone

_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return _frozen if _frozen is not None else timezone.now()


def today() -> dt.date:
    """Today's date in the library's time zone."""
    return timezone.localdate(now())


@contextlib.contextmanager
def frozen(moment: dt.datetime) -> Iterator[None]:
    """Stop the clock at `moment` (aware) for the duration of the block."""
    global _frozen
    if timezone.is_naive(moment):
        raise ValueError("frozen() needs an aware datetime")
    previous, _frozen = _frozen, moment
    try:
        yield
    finally:
        _frozen = previous
