"""Privacy-request settings from `[privacy]` in shelfguard.toml, checked when read."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS: dict[str, int] = {
    "request_deadline_days": 15,  # days to answer a privacy request
    "reminder_days": 3,  # remind the officer this many days before the deadline
    "request_retention_days": 3 * 365,  # after closing, then crypto-erased
}
_LIMITS = {
    "request_deadline_days": (1, 120),
    "reminder_days": (0, 60),
    "request_retention_days": (30, 20 * 365),
}


def value(name: str) -> int:
    raw = settings.CONFIG.get("privacy", {}).get(name, DEFAULTS[name])
    low, high = _LIMITS[name]
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise ImproperlyConfigured(
            f"[privacy] {name} in shelfguard.toml must be a whole number from {low} to "
            f"{high}, not {raw!r}."
        )
    return raw


def officer_email() -> str:
    """`[privacy] officer_email`, or "" when not set (reminders then cannot be sent)."""
    raw = settings.CONFIG.get("privacy", {}).get("officer_email", "")
    if not isinstance(raw, str) or (raw and "@" not in raw):
        raise ImproperlyConfigured(
            "[privacy] officer_email in shelfguard.toml must be an e-mail address."
        )
    return raw.strip()
