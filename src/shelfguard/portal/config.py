"""Portal settings from `[portal]` in shelfguard.toml, checked when read.

Lockout limits are shared with staff sign-in (`[accounts] lockout_after`,
`lockout_minutes`): one rule for every password in the library.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS = {
    "idle_minutes": 15,  # a patron's own device
    "public_idle_minutes": 5,  # a "public computer" session
    "absolute_hours": 8,
    "link_hours": 72,  # one-time set-password links
}
_LIMITS = {
    "idle_minutes": (1, 8 * 60),
    "public_idle_minutes": (1, 15),
    "absolute_hours": (1, 24),
    "link_hours": (1, 14 * 24),
}


def value(name: str) -> int:
    raw = settings.CONFIG.get("portal", {}).get(name, DEFAULTS[name])
    low, high = _LIMITS[name]
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise ImproperlyConfigured(
            f"[portal] {name} in shelfguard.toml must be a whole number from {low} to "
            f"{high}, not {raw!r}."
        )
    return raw


def idle_timeout(*, public: bool) -> dt.timedelta:
    return dt.timedelta(minutes=value("public_idle_minutes" if public else "idle_minutes"))


def absolute_timeout() -> dt.timedelta:
    return dt.timedelta(hours=value("absolute_hours"))


def link_lifetime() -> dt.timedelta:
    return dt.timedelta(hours=value("link_hours"))
