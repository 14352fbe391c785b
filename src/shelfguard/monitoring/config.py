"""The thresholds of the anomaly rules, from `[monitoring]` in shelfguard.toml.

Every rule has at least one number a privacy officer can tune; the staff page
`/staff/monitoring/thresholds/` shows the values in force. A value of the
wrong kind stops the scan with a message naming the setting (fail closed:
a mistyped threshold must not silently switch a rule off).

    [monitoring]
    volume_baseline_days = 28      # rule 1: history used for each role's baseline
    volume_percentile = 95         # ... the percentile of hourly distinct-patron counts
    volume_factor = 2.0            # ... times this
    volume_floor = 30              # ... but never below this many patrons an hour
    after_hours_grace_minutes = 30 # rule 2: allowed before opening / after closing
    idle_reveal_minutes = 30       # rule 4: a circulation action must follow within this
    idle_reveals_per_day = 20      # ... alert at this many idle reveals in a day
    export_window_minutes = 60     # rule 5: window for counting exports and downloads
    export_max = 5                 # ... alert at this many in one window
    failed_signin_window_minutes = 60  # rule 6: window for failed patron sign-ins
    failed_signin_max = 5          # ... alert at this many for one patron in one window
    scan_batch = 20000             # ledger entries examined per scan run at most
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

#: (default, smallest allowed, largest allowed, description)
SETTINGS: dict[str, tuple[float, float, float, Any]] = {
    "volume_baseline_days": (28, 1, 365, _("Days of history for each role's hourly baseline")),
    "volume_percentile": (95, 50, 100, _("Percentile of a role's hourly distinct-patron counts")),
    "volume_factor": (2.0, 1.0, 100.0, _("Factor applied to the role's percentile")),
    "volume_floor": (30, 1, 100000, _("Fewest distinct patrons in an hour that can alert")),
    "after_hours_grace_minutes": (
        30,
        0,
        720,
        _("Minutes before opening and after closing that still count as open"),
    ),
    "idle_reveal_minutes": (
        30,
        1,
        1440,
        _("Minutes within which a circulation action should follow a reveal"),
    ),
    "idle_reveals_per_day": (20, 1, 100000, _("Reveals without follow-up in a day that alert")),
    "export_window_minutes": (60, 1, 10080, _("Window for counting exports and downloads")),
    "export_max": (5, 1, 100000, _("Exports or downloads in one window that alert")),
    "failed_signin_window_minutes": (60, 1, 10080, _("Window for counting failed sign-ins")),
    "failed_signin_max": (5, 1, 100000, _("Failed sign-ins for one patron in a window that alert")),
    "scan_batch": (20000, 100, 10_000_000, _("Ledger entries examined per scan run at most")),
}


@dataclass(frozen=True)
class Thresholds:
    volume_baseline_days: int
    volume_percentile: float
    volume_factor: float
    volume_floor: int
    after_hours_grace_minutes: int
    idle_reveal_minutes: int
    idle_reveals_per_day: int
    export_window_minutes: int
    export_max: int
    failed_signin_window_minutes: int
    failed_signin_max: int
    scan_batch: int


_FLOATS = {"volume_percentile", "volume_factor"}


def thresholds() -> Thresholds:
    """The thresholds in force; `ImproperlyConfigured` naming the setting when one is wrong."""
    section = settings.CONFIG.get("monitoring", {})
    if not isinstance(section, dict):
        raise ImproperlyConfigured("[monitoring] in shelfguard.toml must be a table of settings.")
    unknown = sorted(set(section) - set(SETTINGS))
    if unknown:
        raise ImproperlyConfigured(
            f"[monitoring] in shelfguard.toml has unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(SETTINGS)}."
        )
    values: dict[str, Any] = {}
    for item in fields(Thresholds):
        default, low, high, _label = SETTINGS[item.name]
        value = section.get(item.name, default)
        kinds = (int, float) if item.name in _FLOATS else (int,)
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            kind = "number" if item.name in _FLOATS else "whole number"
            raise ImproperlyConfigured(
                f"[monitoring] {item.name} in shelfguard.toml must be a {kind} "
                f"from {low:g} to {high:g}."
            )
        values[item.name] = float(value) if item.name in _FLOATS else int(value)
    return Thresholds(**values)


def officer_email() -> str:
    """`[privacy] officer_email`, or "" when not set (alerts are then only on the page)."""
    raw = settings.CONFIG.get("privacy", {}).get("officer_email", "")
    if not isinstance(raw, str) or (raw and "@" not in raw):
        raise ImproperlyConfigured(
            "[privacy] officer_email in shelfguard.toml must be an e-mail address."
        )
    return raw.strip()
