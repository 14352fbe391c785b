"""The monitoring app's doors: scan the ledger, list and review alerts, decoys, households.

Faces (the staff pages, the CLI, the scheduled job, the privacy officer's
dashboard) call these functions and nothing else in this app.

The scan (`scan`) reads the ledger entries after the cursor, at most
`[monitoring] scan_batch` of them, hands them to the rules (`rules.py`),
stores what they find as alerts (one per natural key: a re-scan raises
nothing twice), moves the cursor and records the run in the ledger, all in
one transaction. New alerts are e-mailed to `[privacy] officer_email` after
the commit; the mail names the rule and the time only, never a patron.

Alerts name people by ids (a staff username, a patron id), never by value.
Reading them from a page or the command line is recorded in the ledger;
reviewing one records the reviewer and the note there too. Nothing here
edits or deletes an alert otherwise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from shelfguard.accounts.models import StaffUser
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.ledger.models import Entry
from shelfguard.monitoring import config, rules
from shelfguard.monitoring.models import Alert, Decoy, RoleBaseline, ScanCursor
from shelfguard.monitoring.rules import RULE_LABELS, rule_label

__all__ = [
    "RULE_LABELS",
    "AlertNotFound",
    "MonitoringError",
    "ScanReport",
    "add_decoy",
    "alert_detail",
    "alerts",
    "decoys",
    "household_state",
    "remove_decoy",
    "review_alert",
    "rule_label",
    "scan",
    "set_household",
    "set_household_address",
    "summary",
    "thresholds_in_force",
]

log = logging.getLogger(__name__)

SCAN_ACTOR = Actor.system("anomaly-scan")
SCAN_PURPOSE = "security: access monitoring"
SUMMARY_ALERTS = 50
SUMMARY_WEEKS = 12
NOTE_MAX = 200
#: Baselines are recomputed when older than this.
BASELINE_AGE = dt.timedelta(hours=24)


class MonitoringError(Exception):
    """Something a person asked for that cannot be done; `code` is stable, `message` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AlertNotFound(MonitoringError):
    def __init__(self) -> None:
        super().__init__("alert_not_found", _("There is no alert with that number."))


# --- the ledger by seq ------------------------------------------------------------------------


def _seq_at(moment: dt.datetime) -> int:
    """The first seq whose entry is at or after `moment` (one past the head when none is).

    Times rise with seqs along the chain, so a binary search over the primary
    key finds it in a few dozen point reads, without an index on `at`.
    """
    low = Entry.objects.order_by("seq").values_list("seq", flat=True).first()
    high = Entry.objects.order_by("-seq").values_list("seq", flat=True).first()
    if low is None:
        return 1
    hi = high + 1
    while low < hi:
        mid = (low + hi) // 2
        row = Entry.objects.filter(seq__gte=mid).order_by("seq").values_list("seq", "at").first()
        if row is None or row[1] >= moment:
            hi = mid
        else:
            low = row[0] + 1
    return low


def _head_seq() -> int:
    return Entry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


# --- what the rules need to know about staff, branches and patrons ------------------------------


def _staff_info(idents) -> dict[str, dict[str, Any]]:
    """Username, branch and role codes of staff named by username or as "staff:<id>"."""
    idents = set(idents)
    names = {i for i in idents if not i.startswith("staff:")}
    ids = {int(i[6:]) for i in idents if i.startswith("staff:") and i[6:].isdigit()}
    found: dict[str, dict[str, Any]] = {}
    if not names and not ids:
        return found
    rows = StaffUser.objects.filter(Q(username__in=names) | Q(pk__in=ids)).prefetch_related("roles")
    for staff in rows:
        info = {
            "username": staff.username,
            "branch_id": staff.branch_id,
            "roles": [role.code for role in staff.roles.all()],
        }
        found[staff.username] = info
        found[f"staff:{staff.pk}"] = info
    return found


def _opening(branch_id: int, first_day: dt.date, _last_day: dt.date):
    from shelfguard.circulation.calendar import calendar_for
    from shelfguard.core.models import Branch

    return calendar_for(Branch.objects.get(pk=branch_id), start=first_day)


def _relatives(household: rules.Household, patron_ids: set[int]) -> dict[int, list[str]]:
    """Of these patrons, those who may share the surname or the address, and which of them.

    A patron may share the surname when their name has every token of the
    staff member's surname, and the address when their address index equals
    the staff member's. Index values only: nothing is unsealed.
    """
    from shelfguard.patrons.models import Patron, PatronNameToken

    shared: dict[int, list[str]] = {}
    if household.surname:
        found = set(patron_ids)
        for token in household.surname:
            found &= set(
                PatronNameToken.objects.filter(token=token, patron_id__in=found).values_list(
                    "patron_id", flat=True
                )
            )
            if not found:
                break
        for patron in found:
            shared.setdefault(patron, []).append("surname")
    if household.address:
        for patron in Patron.objects.filter(
            address_index=household.address, pk__in=patron_ids
        ).values_list("pk", flat=True):
            shared.setdefault(patron, []).append("address")
    return shared


def _households() -> dict[str, rules.Household]:
    rows = StaffUser.objects.filter(
        Q(household_surname_index__isnull=False) | Q(household_address_index__isnull=False)
    ).values_list("username", "household_surname_index", "household_address_index")
    found = {
        name: rules.Household(
            surname=rules.split_tokens(surname), address=bytes(address) if address else None
        )
        for name, surname, address in rows
    }
    return {name: household for name, household in found.items() if household}


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _staff_signin_failures(
    limits: config.Thresholds, seq: int, now: dt.datetime
) -> list[rules.Finding]:
    """Staff accounts with `failed_signin_max` or more failed sign-ins in a row, not yet locked.

    Individual failures are not in the ledger (only lockouts are); the
    sign-in throttle counts them per account under a keyed hash of the name,
    so the staff names are hashed the same way and matched. One alert per
    run of failures (a throttle row lives from the first failure until a
    success or the forgetting period). A locked account is left to the
    lockout's own alert.
    """
    from shelfguard.accounts.models import Throttle
    from shelfguard.accounts.tokens import keyed_hash

    names = {
        keyed_hash("throttle-account", name): name
        for name in StaffUser.objects.values_list("username", flat=True)
    }
    rows = (
        Throttle.objects.filter(
            scope=Throttle.Scope.ACCOUNT,
            key__in=list(names),
            failures__gte=limits.failed_signin_max,
            last_failure_at__isnull=False,
        )
        .exclude(locked_until__gt=now)
        .values_list("pk", "key", "failures", "last_failure_at")
    )
    return [
        rules.Finding(
            rule="failed_signin",
            key=f"failed_signin:staff:{pk}",
            actor_kind="staff",
            actor_id=names[key],
            window_start=last,
            window_end=last,
            count=failures,
            threshold=limits.failed_signin_max,
            first_seq=seq,
            last_seq=seq,
            detail={"subject": "staff"},
        )
        for pk, key, failures, last in rows
    ]


# --- role baselines ----------------------------------------------------------------------------


def refresh_baselines(limits: config.Thresholds, now: dt.datetime) -> dict[str, float]:
    """Recompute each role's hourly percentile from the `volume_baseline_days` before today.

    Today is left out, so the hours being judged never raise their own bar.
    """
    today = _day_start(timezone.localdate(now))
    since = today - dt.timedelta(days=limits.volume_baseline_days)
    counts = rules.hourly_counts(
        Entry.objects.filter(seq__gte=_seq_at(since), seq__lt=_seq_at(today))
    )
    info = _staff_info({actor for actor, _n in counts})
    per_role: dict[str, list[int]] = {}
    for actor, n in counts:
        for role in info.get(actor, {}).get("roles", []):
            per_role.setdefault(role, []).append(n)
    values = {role: rules.percentile(ns, limits.volume_percentile) for role, ns in per_role.items()}
    RoleBaseline.objects.exclude(role__in=list(values)).delete()
    for role, value in values.items():
        RoleBaseline.objects.update_or_create(
            role=role,
            defaults={
                "percentile_value": value,
                "hours_sampled": len(per_role[role]),
                "computed_at": now,
            },
        )
    return values


def _baselines(
    limits: config.Thresholds, now: dt.datetime, cursor: ScanCursor
) -> tuple[dict[str, float], bool]:
    """The roles' baselines, recomputed when older than a day (or never computed)."""
    if cursor.baselines_at is None or cursor.baselines_at <= now - BASELINE_AGE:
        values = refresh_baselines(limits, now)
        cursor.baselines_at = now
        return values, True
    return dict(RoleBaseline.objects.values_list("role", "percentile_value")), False


# --- the scan ----------------------------------------------------------------------------------


@dataclass
class ScanReport:
    after_seq: int
    through_seq: int
    scanned: int
    raised: list[int] = field(default_factory=list)
    behind: int = 0
    baselines_refreshed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "after_seq": self.after_seq,
            "through_seq": self.through_seq,
            "scanned": self.scanned,
            "raised": len(self.raised),
            "alert_ids": self.raised,
            "behind": self.behind,
            "baselines_refreshed": self.baselines_refreshed,
        }


def _natural_key(text: str) -> str:
    if len(text) <= 200:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _store(findings: list[rules.Finding], now: dt.datetime) -> list[int]:
    """Create the alerts not raised before; return the new alerts' ids."""
    by_key: dict[str, rules.Finding] = {}
    for finding in findings:
        by_key.setdefault(_natural_key(finding.key), finding)
    existing = set(Alert.objects.filter(key__in=list(by_key)).values_list("key", flat=True))
    new = [
        Alert(
            key=key,
            rule=f.rule,
            actor_kind=f.actor_kind,
            actor_id=f.actor_id,
            patron_id=f.patron_id,
            window_start=f.window_start,
            window_end=f.window_end,
            count=f.count,
            threshold=f.threshold,
            first_seq=f.first_seq,
            last_seq=f.last_seq,
            detail=f.detail,
            raised_at=now,
        )
        for key, f in by_key.items()
        if key not in existing
    ]
    for alert in new:
        alert.save(force_insert=True)
    return [alert.pk for alert in new]


def scan(*, now: dt.datetime | None = None) -> ScanReport:
    """Examine the next slice of the ledger with every rule; store and e-mail what they find.

    Safe to run again at any time: the cursor moves only when the slice's
    alerts are stored, in the same transaction, and an alert's natural key is
    unique. Raises `ImproperlyConfigured` for a wrong `[monitoring]` setting.
    """
    limits = config.thresholds()
    config.officer_email()  # a wrong address stops the scan before anything is stored
    now = now or clock.now()
    with transaction.atomic():
        # Two first scans at once both insert the row; the second insert is ignored.
        ScanCursor.objects.bulk_create([ScanCursor(pk=1)], ignore_conflicts=True)
        cursor = ScanCursor.objects.select_for_update().get(pk=1)
        head = _head_seq()
        after = cursor.last_seq
        through = min(head, after + limits.scan_batch)
        baselines, refreshed = _baselines(limits, now, cursor)
        report = ScanReport(after_seq=after, through_seq=through, scanned=0)
        report.baselines_refreshed = refreshed
        piece = rules.Slice(
            after=after,
            through=through,
            now=now,
            limits=limits,
            entries=Entry.objects,
            seq_at=_seq_at,
            baselines=baselines,
            decoys=dict(Decoy.objects.values_list("patron_id", "marked_seq")),
            households=_households(),
            staff_info=_staff_info,
            opening=_opening,
        )
        findings: list[rules.Finding] = []
        if through > after:
            report.scanned = piece.new().count()
            findings += rules.volume(piece)
            findings += rules.after_hours(piece)
            findings += rules.household(piece, _relatives)
            findings += rules.bulk_exports(piece)
            findings += rules.failed_signins(piece)
            findings += rules.break_glass(piece)
            findings += rules.decoys(piece)
        idle, idle_through = rules.idle_reveals(piece, max(cursor.idle_seq, 0))
        findings += idle
        findings += _staff_signin_failures(limits, through, now)
        report.raised = _store(findings, now)
        own_only = not (
            piece.new().exclude(action__startswith=rules.OWN_PREFIX).exists()
            if through > after
            else False
        )
        cursor.last_seq = through
        cursor.idle_seq = idle_through
        cursor.last_scan_at = now
        cursor.save()
        if report.raised or not own_only:
            # Reading who looked at whom is itself recorded; a scan that found
            # only its own earlier entries writes nothing, or it would feed itself.
            ledger.append(
                actor=SCAN_ACTOR,
                action="monitoring.scan",
                purpose=SCAN_PURPOSE,
                detail={
                    "after_seq": after,
                    "through_seq": through,
                    "raised": len(report.raised),
                },
            )
        report.behind = max(0, head - through)
        raised = list(report.raised)
        transaction.on_commit(lambda: _notify(raised))
    return report


def _notify(alert_ids: list[int]) -> None:
    """E-mail the officer one message for the alerts just raised: rules and times, no patrons."""
    if not alert_ids:
        return
    to = config.officer_email()
    if not to:
        return
    found = list(Alert.objects.filter(pk__in=alert_ids).order_by("raised_at", "pk"))
    lines = [
        _("Access monitoring raised %(n)d new alert(s).") % {"n": len(found)},
        "",
    ]
    for alert in found:
        lines.append(
            f"#{alert.pk}  {rule_label(alert.rule)}  "
            f"{timezone.localtime(alert.window_start):%Y-%m-%d %H:%M}–"
            f"{timezone.localtime(alert.window_end):%Y-%m-%d %H:%M}"
        )
    lines += ["", _("Review them on the staff pages under Monitoring (/staff/monitoring/).")]
    subject = _("Shelfguard: %(n)d new access alert(s)") % {"n": len(found)}
    try:
        EmailMessage(subject=subject, body="\n".join(lines), to=[to]).send()
    except Exception:  # the alerts are stored and shown on the page; a mail failure is logged
        log.exception("could not e-mail %d new access alert(s)", len(found))
        return
    Alert.objects.filter(pk__in=alert_ids).update(notified_at=clock.now())


def run_scheduled() -> dict[str, Any]:
    """The "anomaly-scan" job: one bounded scan."""
    return scan().as_dict()


# --- alerts --------------------------------------------------------------------------------------


def alerts(*, actor: Actor, purpose: str, open_only: bool = False, limit: int = 200) -> list[Alert]:
    """The newest alerts (open ones only with `open_only`); the reading is recorded."""
    rows = Alert.objects.all()
    if open_only:
        rows = rows.filter(status=Alert.Status.OPEN)
    with transaction.atomic():
        found = list(rows.order_by("-raised_at", "-id")[:limit])
        ledger.append(
            actor=actor,
            action="monitoring.alerts_read",
            purpose=purpose,
            detail={"open_only": open_only, "results": len(found)},
        )
    return found


def alert_detail(alert_id: int, *, actor: Actor, purpose: str) -> Alert:
    """One alert; the reading is recorded with the alert's patron id, if it names one."""
    with transaction.atomic():
        alert = Alert.objects.filter(pk=alert_id).first()
        if alert is None:
            raise AlertNotFound()
        ledger.append(
            actor=actor,
            action="monitoring.alert_read",
            purpose=purpose,
            patron_id=alert.patron_id,
            detail={"alert": alert.pk, "rule": alert.rule},
        )
    return alert


def review_alert(alert_id: int, *, note: str, actor: Actor, purpose: str) -> Alert:
    """Mark an open alert reviewed, with the reviewer's note; the review goes to the ledger."""
    note = (note or "").strip()
    if not note:
        raise MonitoringError("note_required", _("Write a short note saying what you found."))
    if len(note) > NOTE_MAX:
        raise MonitoringError(
            "note_too_long",
            _("Keep the note to %(n)d characters; the full story belongs in your case file.")
            % {"n": NOTE_MAX},
        )
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None:
            raise AlertNotFound()
        if alert.status != Alert.Status.OPEN:
            raise MonitoringError(
                "already_reviewed", _("This alert was already reviewed; reviews are final.")
            )
        entry = ledger.append(
            actor=actor,
            action="monitoring.alert_review",
            purpose=purpose,
            patron_id=alert.patron_id,
            detail={"alert": alert.pk, "rule": alert.rule, "note": note},
        )
        alert.status = Alert.Status.REVIEWED
        alert.reviewer = f"{actor.kind}:{actor.ident}"
        alert.review_note = note
        alert.reviewed_at = entry.at
        alert.save(update_fields=["status", "reviewer", "review_note", "reviewed_at"])
    return alert


# --- decoys --------------------------------------------------------------------------------------


def decoys() -> list[Decoy]:
    """The patron ids marked as decoys (ids only: nothing personal to record)."""
    return list(Decoy.objects.order_by("patron_id"))


def add_decoy(card: str, *, actor: Actor, purpose: str) -> Decoy:
    """Mark the patron holding `card` as a decoy; from now on any access to it alerts.

    The decoy is created beforehand by a normal registration with synthetic data.
    """
    from shelfguard.patrons import services as patrons

    patron = patrons.find_by_card(card or "")
    if patron is None:
        raise MonitoringError(
            "card_unknown",
            _("No patron holds that card. Register the decoy first, then mark its card."),
        )
    with transaction.atomic():
        if Decoy.objects.filter(patron_id=patron.pk).exists():
            raise MonitoringError("already_decoy", _("That patron is already a decoy."))
        entry = ledger.append(
            actor=actor,
            action="monitoring.decoy_add",
            purpose=purpose,
            patron_id=patron.pk,
        )
        return Decoy.objects.create(
            patron_id=patron.pk,
            added_at=entry.at,
            added_by=f"{actor.kind}:{actor.ident}",
            marked_seq=entry.seq,
        )


def remove_decoy(patron_id: int, *, actor: Actor, purpose: str) -> None:
    with transaction.atomic():
        removed, _n = Decoy.objects.filter(patron_id=patron_id).delete()
        if not removed:
            raise MonitoringError("not_decoy", _("That patron is not a decoy."))
        ledger.append(
            actor=actor, action="monitoring.decoy_remove", purpose=purpose, patron_id=patron_id
        )


# --- a staff member's own surname, as blind indexes --------------------------------------------


def set_household(staff: StaffUser, *, surname: str, actor: Actor, purpose: str) -> int:
    """Store the blind indexes of `staff`'s surname (empty text clears them); return how many.

    Each token of the surname is indexed exactly as a patron's name token is
    (`vault.blind.name_tokens` and `blind_index("name_token", ...)` with the
    patrons' index key), so the household rule can compare them. The surname
    itself is never stored, logged or written to the ledger.
    """
    from shelfguard.vault import blind

    surname = (surname or "").strip()
    tokens = blind.name_tokens(surname) if surname else []
    if surname and not tokens:
        raise MonitoringError(
            "surname_unusable", _("That surname has no letters to compare; type it as written.")
        )
    stored = b"".join(
        bytes([len(index)]) + index
        for index in (blind.blind_index("name_token", token) for token in tokens)
    )
    with transaction.atomic():
        StaffUser.objects.filter(pk=staff.pk).update(household_surname_index=stored or None)
        ledger.append(
            actor=actor,
            action="monitoring.household_set",
            purpose=purpose,
            detail={"staff": staff.username, "tokens": len(tokens)},
        )
    return len(tokens)


def set_household_address(staff: StaffUser, *, address: str, actor: Actor, purpose: str) -> bool:
    """Store the blind index of `staff`'s postal address (empty text clears it); True if stored.

    Indexed exactly as a patron's address is (`blind_index("address", ...)`
    with the patrons' index key and normalisation), so the household rule can
    compare them. The address itself is never stored, logged or written to
    the ledger.
    """
    from shelfguard.vault import blind

    address = (address or "").strip()
    stored = None
    if address:
        try:
            stored = blind.blind_index("address", address)
        except ValueError:
            raise MonitoringError(
                "address_unusable",
                _("That address has no letters or digits to compare; type it as written."),
            ) from None
    with transaction.atomic():
        StaffUser.objects.filter(pk=staff.pk).update(household_address_index=stored)
        ledger.append(
            actor=actor,
            action="monitoring.household_address_set",
            purpose=purpose,
            detail={"staff": staff.username, "address": stored is not None},
        )
    return stored is not None


def household_state() -> dict[str, Any]:
    """How many staff have a household index, and how many were made with an older index key."""
    from shelfguard.vault import blind
    from shelfguard.vault.keys import require_index_keyring

    current = require_index_keyring().for_storage.version % 256
    total = stale = 0
    for household in _households().values():
        total += 1
        values = [*household.surname, *([household.address] if household.address else [])]
        if any(blind.index_version(value) != current for value in values):
            stale += 1
    return {"staff": total, "stale": stale}


# --- thresholds and the dashboard summary -------------------------------------------------------


def thresholds_in_force() -> dict[str, Any]:
    """The `[monitoring]` values in force, and each role's baseline and resulting threshold."""
    limits = config.thresholds()
    settings_rows = [
        {"name": name, "value": getattr(limits, name), "label": str(spec[3])}
        for name, spec in config.SETTINGS.items()
    ]
    roles = [
        {
            "role": b.role,
            "percentile_value": b.percentile_value,
            "hours_sampled": b.hours_sampled,
            "computed_at": b.computed_at,
            "threshold": rules.volume_threshold([b.role], {b.role: b.percentile_value}, limits),
        }
        for b in RoleBaseline.objects.order_by("role")
    ]
    try:
        email = config.officer_email()
    except ImproperlyConfigured:
        email = ""
    return {
        "settings": settings_rows,
        "roles": roles,
        "floor": limits.volume_floor,
        "officer_email_configured": bool(email),
    }


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def summary(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The state of monitoring for the privacy officer's dashboard.

    Returns the open alerts (newest first, at most 50), how many are open,
    the number of alerts raised in each of the last 12 weeks (weeks start on
    Monday in the library's time zone, oldest first, the current week last)
    and where the last scan stopped. Alerts carry ids only (a staff username
    and a patron id), never a personal value.
    """
    now = now or clock.now()
    open_alerts = Alert.objects.filter(status=Alert.Status.OPEN)
    newest = list(
        open_alerts.order_by("-raised_at", "-id").values(
            "id", "rule", "raised_at", "actor_id", "patron_id"
        )[:SUMMARY_ALERTS]
    )
    this_week = _week_start(timezone.localdate(now))
    first_week = this_week - dt.timedelta(weeks=SUMMARY_WEEKS - 1)
    since = timezone.make_aware(dt.datetime.combine(first_week, dt.time.min))
    per_day = (
        Alert.objects.filter(raised_at__gte=since, raised_at__lte=now)
        .annotate(day=TruncDate("raised_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("id"))
    )
    weeks = {first_week + dt.timedelta(weeks=i): 0 for i in range(SUMMARY_WEEKS)}
    for row in per_day:
        week = _week_start(row["day"])
        if week in weeks:
            weeks[week] += row["n"]
    cursor = ScanCursor.objects.filter(pk=1).first()
    return {
        "open_alerts": [
            {
                "id": a["id"],
                "rule": a["rule"],
                "rule_label": rule_label(a["rule"]),
                "raised_at": a["raised_at"],
                "staff": a["actor_id"],
                "patron_id": a["patron_id"],
            }
            for a in newest
        ],
        "open_count": open_alerts.count(),
        "alerts_per_week": [{"week_start": w, "count": n} for w, n in weeks.items()],
        "last_scan_at": cursor.last_scan_at if cursor else None,
        "last_scan_seq": cursor.last_seq if cursor else 0,
    }
