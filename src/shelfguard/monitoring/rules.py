"""The anomaly rules: what each one looks for in the access ledger.

A scan hands every rule the same slice of the ledger (the entries after the
last scanned seq, at most `scan_batch` of them) and each rule returns
`Finding`s. A finding carries a natural key made of the rule, its subject
(the staff member, the patron) and its window (an hour, a day, a fixed
window), so scanning the same entries again finds the same keys and raises
nothing new.

Rules that count within a window (how many patrons in an hour, how many
exports in a window) count the whole window, not just the new slice: the
first entries of an hour may have been scanned in the previous run. Windows
are found by seq, not by time: seqs and times rise together along the chain,
so the first seq of a window is found by a binary search on the primary key
(`seq_at`), and no index on `at` is needed on a ledger of millions of rows.

Everything here reads ids and times only; no rule unseals anything. The
household rule compares the staff member's own surname index with the
patrons' name-token indexes, and their address index with the patrons'
address indexes, all made with the patrons' normalisation and key, so equal
names or addresses give equal index values (and, as indexes are
deliberately truncated, an unrelated value sometimes does too: a household
alert says "may share", names which of the two in its detail, and the
reviewer checks).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Trunc
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shelfguard.monitoring.config import Thresholds

RULE_LABELS = {
    "volume": _("Unusually many patrons in an hour"),
    "after_hours": _("Access outside opening hours"),
    "household": _("Access to a patron who may share the staff member's surname or address"),
    "idle_reveal": _("Reveals without a following circulation action"),
    "bulk_export": _("Bulk export or download"),
    "failed_signin": _("Repeated failed sign-ins"),
    "break_glass": _("Break-glass use"),
    "decoy": _("Access to a decoy record"),
}

#: Ledger actions that show a patron's personal data to a person.
REVEAL_ACTIONS = ("patron.reveal",)
#: Ledger actions by which a patron's failed sign-in is recorded.
PATRON_SIGNIN_FAILURES = ("portal.signin_failure", "sip2.pin_failure")
#: Words in an action that make it an export or a download.
EXPORT_WORDS = ("export", "download")
#: The scan's own entries (and the review of alerts) are not accesses to watch.
OWN_PREFIX = "monitoring."


def rule_label(code: str) -> str:
    label = RULE_LABELS.get(code)
    return str(label) if label is not None else code


@dataclass
class Finding:
    rule: str
    key: str
    window_start: dt.datetime
    window_end: dt.datetime
    count: int
    threshold: int
    first_seq: int
    last_seq: int
    actor_kind: str = ""
    actor_id: str = ""
    patron_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Slice:
    """The entries one scan examines: seq in (`after`, `through`]."""

    after: int
    through: int
    now: dt.datetime
    limits: Thresholds
    entries: Any  # the Entry manager, handed in so this module imports no ledger internals
    seq_at: Callable[[dt.datetime], int]
    baselines: dict[str, float]
    decoys: dict[int, int]
    households: dict[str, Household]
    staff_info: Callable[[Iterable[str]], dict[str, dict[str, Any]]]
    opening: Callable[[int, dt.date, dt.date], Any]

    def new(self):
        return self.entries.filter(seq__gt=self.after, seq__lte=self.through)

    def since(self, moment: dt.datetime):
        """Entries from `moment` through the end of this slice."""
        return self.entries.filter(seq__gte=self.seq_at(moment), seq__lte=self.through)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def _hour(moment: dt.datetime) -> dt.datetime:
    return _utc(moment).replace(minute=0, second=0, microsecond=0)


def _fixed_window(moment: dt.datetime, minutes: int) -> dt.datetime:
    """The start of the fixed `minutes`-long window (counted from the epoch) holding `moment`."""
    seconds = int(_utc(moment).timestamp())
    return dt.datetime.fromtimestamp(seconds - seconds % (minutes * 60), tz=dt.UTC)


def _local_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment).date()


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))
    return start, end


class _Groups:
    """Entries grouped by (subject..., window start): count, distinct patrons, seq span."""

    def __init__(self) -> None:
        self.count: dict[tuple, int] = defaultdict(int)
        self.patrons: dict[tuple, set[int]] = defaultdict(set)
        self.first: dict[tuple, int] = {}
        self.last: dict[tuple, int] = {}

    def add(self, key: tuple, seq: int, patron_id: int | None = None) -> None:
        self.count[key] += 1
        if patron_id is not None:
            self.patrons[key].add(patron_id)
        self.first[key] = min(self.first.get(key, seq), seq)
        self.last[key] = max(self.last.get(key, seq), seq)


# --- 1. unusually many distinct patrons in an hour ------------------------------------------


def volume_threshold(roles: Iterable[str], baselines: dict[str, float], limits: Thresholds) -> int:
    """The hourly distinct-patron count that alerts for a staff member with these roles.

    The highest baseline among their roles times the factor, never below the floor.
    """
    usual = max((baselines.get(role, 0.0) for role in roles), default=0.0)
    return max(limits.volume_floor, math.ceil(usual * limits.volume_factor))


def percentile(values: list[int], pct: float) -> float:
    """Nearest-rank percentile (`pct` from 0 to 100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def hourly_counts(entries) -> list[tuple[str, int]]:
    """(staff actor id, distinct patrons revealed) for each hour a staff member revealed any."""
    rows = (
        entries.filter(actor_kind="staff", action__in=REVEAL_ACTIONS, patron_id__isnull=False)
        .annotate(hour=Trunc("at", "hour", tzinfo=dt.UTC))
        .values("actor_id", "hour")
        .order_by()
        .annotate(n=Count("patron_id", distinct=True))
        .values_list("actor_id", "n")
    )
    return list(rows)


def volume(s: Slice) -> list[Finding]:
    touched = set(
        s.new()
        .filter(actor_kind="staff", action__in=REVEAL_ACTIONS, patron_id__isnull=False)
        .annotate(hour=Trunc("at", "hour", tzinfo=dt.UTC))
        .values_list("actor_id", "hour")
        .order_by()
        .distinct()
    )
    if not touched:
        return []
    touched = {(actor, _hour(hour)) for actor, hour in touched}
    actors = {actor for actor, _h in touched}
    groups = _Groups()
    rows = (
        s.since(min(hour for _a, hour in touched))
        .filter(
            actor_kind="staff",
            actor_id__in=actors,
            action__in=REVEAL_ACTIONS,
            patron_id__isnull=False,
        )
        .values_list("seq", "actor_id", "at", "patron_id")
    )
    for seq, actor, at, patron in rows.iterator(chunk_size=5000):
        key = (actor, _hour(at))
        if key in touched:
            groups.add(key, seq, patron)
    info = s.staff_info(actors)
    found = []
    for (actor, hour), patrons in groups.patrons.items():
        roles = info.get(actor, {}).get("roles", [])
        limit = volume_threshold(roles, s.baselines, s.limits)
        if len(patrons) < limit:
            continue
        found.append(
            Finding(
                rule="volume",
                key=f"volume:{actor}:{hour:%Y%m%dT%H}",
                actor_kind="staff",
                actor_id=actor,
                window_start=hour,
                window_end=hour + dt.timedelta(hours=1),
                count=len(patrons),
                threshold=limit,
                first_seq=groups.first[(actor, hour)],
                last_seq=groups.last[(actor, hour)],
                detail={"roles": sorted(roles)},
            )
        )
    return found


# --- 2. access outside the branch's opening hours ---------------------------------------------


def _outside(calendar, local: dt.datetime, grace: dt.timedelta) -> bool:
    day = local.date()
    if not calendar.is_open(day):
        return True
    hours = calendar.hours.get(day.weekday())
    if not hours:
        return False  # a branch that keeps no hours is open all day
    opens = dt.datetime.combine(day, hours[0], tzinfo=local.tzinfo) - grace
    closes = dt.datetime.combine(day, hours[1], tzinfo=local.tzinfo) + grace
    return not opens <= local <= closes


def after_hours(s: Slice) -> list[Finding]:
    rows = list(
        s.new()
        .filter(actor_kind="staff", patron_id__isnull=False)
        .exclude(action__startswith=OWN_PREFIX)
        .values_list("seq", "actor_id", "at")
    )
    if not rows:
        return []
    info = s.staff_info({actor for _s, actor, _a in rows})
    first_day = min(at for _s, _a, at in rows).date() - dt.timedelta(days=1)
    last_day = max(at for _s, _a, at in rows).date() + dt.timedelta(days=1)
    calendars: dict[int, Any] = {}
    grace = dt.timedelta(minutes=s.limits.after_hours_grace_minutes)
    groups = _Groups()
    zones: dict[tuple, Any] = {}
    for seq, actor, at in rows:
        branch = info.get(actor, {}).get("branch_id")
        if branch is None:
            continue
        if branch not in calendars:
            calendars[branch] = s.opening(branch, first_day, last_day)
        calendar = calendars[branch]
        local = at.astimezone(calendar.tz)
        if _outside(calendar, local, grace):
            key = (actor, local.date())
            zones[key] = calendar.tz
            groups.add(key, seq)
    found = []
    for (actor, day), count in groups.count.items():
        tz = zones[(actor, day)]
        start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
        found.append(
            Finding(
                rule="after_hours",
                key=f"after_hours:{actor}:{day:%Y%m%d}",
                actor_kind="staff",
                actor_id=actor,
                window_start=_utc(start),
                window_end=_utc(start + dt.timedelta(days=1)),
                count=count,
                threshold=s.limits.after_hours_grace_minutes,
                first_seq=groups.first[(actor, day)],
                last_seq=groups.last[(actor, day)],
                detail={"branch": info[actor]["branch_id"]},
            )
        )
    return found


# --- 3. a patron who may share the staff member's surname or address ---------------------------


@dataclass(frozen=True)
class Household:
    """A staff member's own surname and address, as the patrons' blind indexes only."""

    #: The surname's name-token index values (a patron must carry every one).
    surname: list[bytes] = field(default_factory=list)
    #: The postal address's index value, or None when none was recorded.
    address: bytes | None = None

    def __bool__(self) -> bool:
        return bool(self.surname) or self.address is not None


def split_tokens(stored: bytes | memoryview | None) -> list[bytes]:
    """The index values in a staff member's `household_surname_index` (length-prefixed)."""
    data = bytes(stored or b"")
    tokens, at = [], 0
    while at < len(data):
        size = data[at]
        tokens.append(data[at + 1 : at + 1 + size])
        at += 1 + size
    return tokens


def household(
    s: Slice, matching: Callable[[Household, set[int]], dict[int, list[str]]]
) -> list[Finding]:
    """One alert per staff member, patron and day where the patron may share a household.

    `matching` gives, of the patrons a staff member looked at, those who may
    share the surname or the address, and which (`["surname", "address"]`);
    the alert's detail names which, never a value.
    """
    if not s.households:
        return []
    rows = list(
        s.new()
        .filter(actor_kind="staff", actor_id__in=list(s.households), patron_id__isnull=False)
        .exclude(action__startswith=OWN_PREFIX)
        .values_list("seq", "actor_id", "at", "patron_id")
    )
    by_actor: dict[str, set[int]] = defaultdict(set)
    for _seq, actor, _at, patron in rows:
        by_actor[actor].add(patron)
    relatives = {actor: matching(s.households[actor], ids) for actor, ids in by_actor.items()}
    groups = _Groups()
    for seq, actor, at, patron in rows:
        if patron in relatives[actor]:
            groups.add((actor, patron, _local_day(at)), seq)
    found = []
    for (actor, patron, day), count in groups.count.items():
        start, end = _day_bounds(day)
        found.append(
            Finding(
                rule="household",
                key=f"household:{actor}:{patron}:{day:%Y%m%d}",
                actor_kind="staff",
                actor_id=actor,
                patron_id=patron,
                window_start=start,
                window_end=end,
                count=count,
                threshold=1,
                first_seq=groups.first[(actor, patron, day)],
                last_seq=groups.last[(actor, patron, day)],
                detail={"shared": sorted(relatives[actor][patron])},
            )
        )
    return found


# --- 4. reveals not followed by a circulation action -------------------------------------------


def idle_reveals(s: Slice, after: int) -> tuple[list[Finding], int]:
    """Findings, and the seq through which reveals have now been judged.

    A reveal is judged only once its follow-up window has passed; the
    returned seq is where the next scan continues for this rule.
    """
    wait = dt.timedelta(minutes=s.limits.idle_reveal_minutes)
    judged_through = min(s.through, s.seq_at(s.now - wait) - 1)
    if judged_through <= after:
        return [], after
    reveals = s.entries.filter(
        actor_kind="staff", action__in=REVEAL_ACTIONS, patron_id__isnull=False
    )
    followed = s.entries.filter(
        patron_id=OuterRef("patron_id"),
        actor_id=OuterRef("actor_id"),
        seq__gt=OuterRef("seq"),
        at__lte=OuterRef("at") + wait,
        action__startswith="circulation.",
    )
    idle = reveals.annotate(followed=Exists(followed)).filter(followed=False)
    days = {
        (actor, _local_day(at))
        for actor, at in idle.filter(seq__gt=after, seq__lte=judged_through).values_list(
            "actor_id", "at"
        )
    }
    if not days:
        return [], judged_through
    start = _day_bounds(min(day for _a, day in days))[0]
    groups = _Groups()
    rows = idle.filter(
        seq__gte=s.seq_at(start),
        seq__lte=judged_through,
        actor_id__in={actor for actor, _d in days},
    ).values_list("seq", "actor_id", "at", "patron_id")
    for seq, actor, at, patron in rows.iterator(chunk_size=5000):
        key = (actor, _local_day(at))
        if key in days:
            groups.add(key, seq, patron)
    found = []
    for (actor, day), count in groups.count.items():
        if count < s.limits.idle_reveals_per_day:
            continue
        day_start, day_end = _day_bounds(day)
        found.append(
            Finding(
                rule="idle_reveal",
                key=f"idle_reveal:{actor}:{day:%Y%m%d}",
                actor_kind="staff",
                actor_id=actor,
                window_start=day_start,
                window_end=day_end,
                count=count,
                threshold=s.limits.idle_reveals_per_day,
                first_seq=groups.first[(actor, day)],
                last_seq=groups.last[(actor, day)],
                detail={"minutes": s.limits.idle_reveal_minutes},
            )
        )
    return found, judged_through


# --- 5. bulk exports and downloads; 6. failed sign-ins ------------------------------------------


def _windowed_counts(
    s: Slice,
    *,
    matching: Q,
    subject: Callable[[tuple], tuple],
    columns: tuple[str, ...],
    minutes: int,
    limit: int,
) -> list[tuple[tuple, dt.datetime, int, int, int]]:
    """(subject, window start, count, first seq, last seq) of windows at or over `limit`."""
    touched = {
        (subject(row), _fixed_window(row[-1], minutes))
        for row in s.new().filter(matching).values_list(*columns, "at")
    }
    if not touched:
        return []
    groups = _Groups()
    rows = s.since(min(w for _s, w in touched)).filter(matching).values_list("seq", *columns, "at")
    for row in rows.iterator(chunk_size=5000):
        key = (subject(row[1:]), _fixed_window(row[-1], minutes))
        if key in touched:
            groups.add(key, row[0])
    return [
        (who, start, count, groups.first[(who, start)], groups.last[(who, start)])
        for (who, start), count in groups.count.items()
        if count >= limit
    ]


def bulk_exports(s: Slice) -> list[Finding]:
    minutes = s.limits.export_window_minutes
    words = Q()
    for word in EXPORT_WORDS:
        words |= Q(action__contains=word)
    matching = words & ~Q(actor_kind__in=("system", "public")) & ~Q(action__startswith=OWN_PREFIX)
    found = []
    for (kind, actor), start, count, first, last in _windowed_counts(
        s,
        matching=matching,
        subject=lambda row: (row[0], row[1]),
        columns=("actor_kind", "actor_id"),
        minutes=minutes,
        limit=s.limits.export_max,
    ):
        found.append(
            Finding(
                rule="bulk_export",
                key=f"bulk_export:{kind}:{actor}:{start:%Y%m%dT%H%M}",
                actor_kind=kind,
                actor_id=actor,
                window_start=start,
                window_end=start + dt.timedelta(minutes=minutes),
                count=count,
                threshold=s.limits.export_max,
                first_seq=first,
                last_seq=last,
            )
        )
    return found


def failed_signins(s: Slice) -> list[Finding]:
    minutes = s.limits.failed_signin_window_minutes
    found = []
    for (patron,), start, count, first, last in _windowed_counts(
        s,
        matching=Q(action__in=PATRON_SIGNIN_FAILURES, patron_id__isnull=False),
        subject=lambda row: (row[0],),
        columns=("patron_id",),
        minutes=minutes,
        limit=s.limits.failed_signin_max,
    ):
        found.append(
            Finding(
                rule="failed_signin",
                key=f"failed_signin:patron:{patron}:{start:%Y%m%dT%H%M}",
                patron_id=patron,
                window_start=start,
                window_end=start + dt.timedelta(minutes=minutes),
                count=count,
                threshold=s.limits.failed_signin_max,
                first_seq=first,
                last_seq=last,
                detail={"subject": "patron"},
            )
        )
    # A staff account is locked by the sign-in throttle after its own limit of
    # failures (`[accounts] lockout_after`); every lockout is an alert.
    lockouts = list(s.new().filter(action="accounts.lockout").values_list("seq", "at", "detail"))
    subjects = {
        str(detail.get("subject", ""))
        for _seq, _at, detail in lockouts
        if str(detail.get("subject", "")).startswith("staff:")
    }
    names = s.staff_info(subjects) if subjects else {}
    for seq, at, detail in lockouts:
        subject = str(detail.get("subject", ""))
        found.append(
            Finding(
                rule="failed_signin",
                key=f"failed_signin:lockout:{seq}",
                actor_kind="staff" if subject in names else "",
                actor_id=names.get(subject, {}).get("username", ""),
                window_start=at,
                window_end=at,
                count=int(detail.get("failures", 0) or 0),
                threshold=int(detail.get("failures", 0) or 0),
                first_seq=seq,
                last_seq=seq,
                detail={"subject": "staff" if subject in names else "unknown-account"},
            )
        )
    return found


# --- 7. break-glass use; 8. decoy records -------------------------------------------------------


def break_glass(s: Slice) -> list[Finding]:
    groups = _Groups()
    grants: dict[tuple, Any] = {}
    for seq, kind, actor, at, detail in (
        s.new()
        .filter(action="accounts.breakglass_use")
        .values_list("seq", "actor_kind", "actor_id", "at", "detail")
    ):
        key = (kind, actor, detail.get("grant"), _local_day(at))
        grants[key] = detail.get("permission", "")
        groups.add(key, seq)
    found = []
    for (kind, actor, grant, day), count in groups.count.items():
        start, end = _day_bounds(day)
        found.append(
            Finding(
                rule="break_glass",
                key=f"break_glass:{actor}:{grant}:{day:%Y%m%d}",
                actor_kind=kind,
                actor_id=actor,
                window_start=start,
                window_end=end,
                count=count,
                threshold=1,
                first_seq=groups.first[(kind, actor, grant, day)],
                last_seq=groups.last[(kind, actor, grant, day)],
                detail={"grant": grant, "permission": grants[(kind, actor, grant, day)]},
            )
        )
    return found


def decoys(s: Slice) -> list[Finding]:
    if not s.decoys:
        return []
    groups = _Groups()
    rows = (
        s.new()
        .filter(patron_id__in=list(s.decoys))
        .exclude(action__startswith=OWN_PREFIX)
        .values_list("seq", "actor_kind", "actor_id", "at", "patron_id")
    )
    for seq, kind, actor, at, patron in rows:
        if seq <= s.decoys[patron]:
            continue
        groups.add((kind, actor, patron, _local_day(at)), seq)
    found = []
    for (kind, actor, patron, day), count in groups.count.items():
        start, end = _day_bounds(day)
        found.append(
            Finding(
                rule="decoy",
                key=f"decoy:{kind}:{actor}:{patron}:{day:%Y%m%d}",
                actor_kind=kind,
                actor_id=actor,
                patron_id=patron,
                window_start=start,
                window_end=end,
                count=count,
                threshold=1,
                first_seq=groups.first[(kind, actor, patron, day)],
                last_seq=groups.last[(kind, actor, patron, day)],
            )
        )
    return found
