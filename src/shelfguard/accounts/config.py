"""Sign-in settings from `[accounts]` in shelfguard.toml, checked when read.

A bad value stops with a message naming the setting rather than falling back
silently to something weaker.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS = {
    "lockout_after": 10,  # failed attempts before an account is locked
    "lockout_minutes": 30,
    "idle_minutes": 15,
    "absolute_hours": 12,
    "enrolment_hours": 72,
}
_LIMITS = {
    # NIST SP 800-63B: no more than 100 consecutive failures before lockout.
    "lockout_after": (1, 100),
    "lockout_minutes": (1, 7 * 24 * 60),
    "idle_minutes": (1, 8 * 60),
    "absolute_hours": (1, 12),
    "enrolment_hours": (1, 14 * 24),
}


def value(name: str) -> int:
    raw = settings.CONFIG.get("accounts", {}).get(name, DEFAULTS[name])
    low, high = _LIMITS[name]
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise ImproperlyConfigured(
            f"[accounts] {name} in shelfguard.toml must be a whole number from {low} to "
            f"{high}, not {raw!r}."
        )
    return raw


def idle_timeout() -> dt.timedelta:
    return dt.timedelta(minutes=value("idle_minutes"))


def absolute_timeout() -> dt.timedelta:
    return dt.timedelta(hours=value("absolute_hours"))
