"""Circulation settings from `[circulation]` in shelfguard.toml, with safe defaults.

    [circulation]
    max_overdues = 10          # a patron with this many overdue items cannot borrow
    charge_limit_cents = 1000  # ... nor one owing more than this (when charges apply)
    hold_shelf_days = 7        # days a hold waits on the shelf before it expires
    due_soon_days = 3          # "due soon" notices go this many days before the due date
    notice_attempts = 5        # a notice that fails this often is dropped

Read on every call, like the patrons register, so a changed file takes effect
without a restart of processes that re-read settings.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS = {
    "max_overdues": 10,
    "charge_limit_cents": 1000,
    "hold_shelf_days": 7,
    "due_soon_days": 3,
    "notice_attempts": 5,
}


def get(name: str) -> int:
    section = getattr(settings, "CONFIG", {}).get("circulation", {})
    if not isinstance(section, dict):
        raise ImproperlyConfigured("[circulation] in shelfguard.toml must be a table.")
    value = section.get(name, DEFAULTS[name])
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(
            f"[circulation] {name} in shelfguard.toml must be a whole number ≥ 0, not {value!r}."
        )
    return value
