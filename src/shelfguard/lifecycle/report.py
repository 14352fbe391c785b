"""Every figure of the privacy officer's dashboard and of `shelfguard privacy report`, in one place.

The library must be able to show, from one page and one document, that data
is destroyed on time (the last retention run and its counts), that backups
restore (the last verified backup and its age), that deletions can be undone
(the recycle bin and four-eyes approvals), and that unusual access is
noticed (monitoring alerts, reveals per day, break-glass grants, the
ledger's own verification). `gather` collects all of it through the owning
apps' services; the page and the three report formats only lay it out, so
they cannot disagree.

Nothing here holds a personal value: counts, ids, dates and staff usernames.
Gathering is recorded in the ledger (counts only) in the same transaction,
like every other look at what the library keeps.

`now` moves the report to the end of an earlier day (`--as-of`): figures
with a time (ledger entries, backup and job runs, alerts) are cut off there;
figures that are a present state (open privacy requests, certifications,
grants) are today's records measured against that day.

Monitoring, the recycle bin and four-eyes approvals are read lazily: an
installation without them gets a section that says so instead of failing.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.lifecycle.models import BackupRun

#: A backup whose last successful test restore is older than this is flagged.
STALE_BACKUP_HOURS = 26
#: Certifications expiring within this many days are listed.
CERTIFICATION_WINDOW_DAYS = 30
#: Reveals and backup age are charted over this many days.
CHART_DAYS = 30
#: Break-glass grants that ended within this many days count as recent.
RECENT_GRANT_DAYS = 30
RETENTION_JOB = "retention"
CHECKPOINT_JOB = "ledger-checkpoint"

#: The top-level keys of the report, in order (docs/privacy/dashboard-and-report.md).
KEYS = (
    "generated_at",
    "as_of",
    "monitoring",
    "privacy_requests",
    "certifications",
    "backups",
    "retention",
    "ledger",
    "break_glass",
    "approvals",
    "recycle_bin",
    "reveals",
)


def _iso(moment: dt.datetime | dt.date | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        return moment.astimezone(dt.UTC).isoformat()
    return moment.isoformat()


def end_of_day(day: dt.date) -> dt.datetime:
    """The last moment of `day` in the library's time zone (what `--as-of DAY` means)."""
    start = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))
    return (start - dt.timedelta(microseconds=1)).astimezone(dt.UTC)


def _optional(module: str) -> Any | None:
    """An app's services module, or None while that app is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


# --- monitoring --------------------------------------------------------------------------------


def _monitoring(now: dt.datetime) -> dict[str, Any]:
    services = _optional("shelfguard.monitoring.services")
    if services is None or not hasattr(services, "summary"):
        return {"installed": False}
    found = services.summary(now=now)
    return {
        "installed": True,
        "open_count": found["open_count"],
        "open_alerts": [
            {
                "id": a["id"],
                "rule": a["rule"],
                "rule_label": str(a["rule_label"]),
                "raised_at": _iso(a["raised_at"]),
                "staff": a["staff"],
                "patron_id": a["patron_id"],
            }
            for a in found["open_alerts"]
        ],
        "alerts_per_week": [
            {"week_start": _iso(w["week_start"]), "count": w["count"]}
            for w in found["alerts_per_week"]
        ],
        "last_scan_at": _iso(found["last_scan_at"]),
        "last_scan_seq": found["last_scan_seq"],
    }


# --- privacy requests --------------------------------------------------------------------------


def _privacy_requests(today: dt.date, *, actor: Actor, purpose: str) -> dict[str, Any]:
    from shelfguard.feedback import services as feedback

    rows = feedback.dashboard(actor=actor, purpose=purpose)
    listed = []
    for row in rows:
        if row.filed_on > today:
            continue
        days_left = (row.due_on - today).days
        listed.append(
            {
                "id": row.pk,
                "reference": row.reference,
                "kind": row.kind_label,
                "status": row.status,
                "status_label": row.status_label,
                "filed_on": _iso(row.filed_on),
                "due_on": _iso(row.due_on),
                "age_days": (today - row.filed_on).days,
                "days_left": days_left,
                "overdue": days_left < 0,
                "days_overdue": max(0, -days_left),
            }
        )
    return {
        "open_count": len(listed),
        "overdue_count": sum(1 for r in listed if r["overdue"]),
        "open": listed,
    }


# --- certifications ----------------------------------------------------------------------------


def _certifications(today: dt.date, *, by: Any, purpose: str) -> dict[str, Any]:
    from shelfguard.accounts import services as accounts

    try:
        rows = accounts.list_certifications(by=by, purpose=purpose)
    except accounts.AccessDenied:
        return {"shown": False, "expiring": [], "expired": [], "missing": []}
    limit = today + dt.timedelta(days=CERTIFICATION_WINDOW_DAYS)
    expiring, expired, missing = [], [], []
    for row in rows:
        latest = row.latest
        person = {"staff": row.staff.username, "branch": row.staff.branch.code}
        if latest is None:
            if row.needs_one:
                missing.append(person)
        elif latest.expires_on < today:
            expired.append(
                {
                    **person,
                    "expires_on": _iso(latest.expires_on),
                    "days_ago": (today - latest.expires_on).days,
                    "needs_one": row.needs_one,
                }
            )
        elif latest.expires_on <= limit:
            expiring.append(
                {
                    **person,
                    "expires_on": _iso(latest.expires_on),
                    "days_left": (latest.expires_on - today).days,
                    "needs_one": row.needs_one,
                }
            )
    return {
        "shown": True,
        "window_days": CERTIFICATION_WINDOW_DAYS,
        "expiring": sorted(expiring, key=lambda r: r["expires_on"]),
        "expired": sorted(expired, key=lambda r: r["expires_on"]),
        "missing": missing,
    }


# --- backups -----------------------------------------------------------------------------------


def _run(run: BackupRun | None, now: dt.datetime) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "at": _iso(run.started_at),
        "age_hours": round((now - run.started_at).total_seconds() / 3600, 1),
        "outcome": run.outcome,
        "file": run.file_name,
        "size_bytes": run.size_bytes,
        "problems": list(run.problems),
    }


def _backups(now: dt.datetime, days: list[dt.date]) -> dict[str, Any]:
    from shelfguard.lifecycle import archive
    from shelfguard.lifecycle.errors import BackupError

    runs = BackupRun.objects.filter(started_at__lte=now)
    creates = runs.filter(kind=BackupRun.Kind.CREATE)
    verifies = runs.filter(kind=BackupRun.Kind.VERIFY)
    ok = BackupRun.Outcome.OK
    verified = verifies.filter(outcome=ok).first()
    try:
        configured = bool(archive.settings().get("recipients"))
    except BackupError:
        configured = False
    age = round((now - verified.started_at).total_seconds() / 3600, 1) if verified else None
    # The age of the newest verified backup at the end of each charted day: the
    # verifications in the window, and the last one before it.
    first_end = end_of_day(days[0]) if days else now
    window = list(
        verifies.filter(outcome=ok, started_at__gt=first_end - dt.timedelta(days=1))
        .order_by("started_at")
        .values_list("started_at", flat=True)
    )
    before = (
        verifies.filter(outcome=ok, started_at__lte=first_end - dt.timedelta(days=1))
        .values_list("started_at", flat=True)
        .first()
    )
    moments = ([before] if before else []) + window
    per_day = []
    for day in days:
        end = min(end_of_day(day), now)
        done = [m for m in moments if m <= end]
        per_day.append(
            {
                "day": _iso(day),
                "hours": round((end - done[-1]).total_seconds() / 3600, 1) if done else None,
            }
        )
    return {
        "recipients_configured": configured,
        "last_backup": _run(creates.first(), now),
        "last_successful_backup": _run(creates.filter(outcome=ok).first(), now),
        "last_verification": _run(verifies.first(), now),
        "last_successful_verification": _run(verified, now),
        "verified_age_hours": age,
        "stale_after_hours": STALE_BACKUP_HOURS,
        "stale": age is None or age > STALE_BACKUP_HOURS,
        "verified_age_per_day": per_day,
    }


# --- retention and jobs --------------------------------------------------------------------------


def _job_run(job: str, now: dt.datetime) -> dict[str, Any] | None:
    from shelfguard.jobs.models import JobRun

    run = (
        JobRun.objects.filter(job=job, started_at__lte=now)
        .exclude(outcome__in=["running", "skipped"])
        .order_by("-started_at", "-id")
        .first()
    )
    if run is None:
        return None
    return {
        "id": run.pk,
        "trigger": run.trigger,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "outcome": run.outcome,
        "summary": run.summary,
        "error": run.error,
    }


def _retention(now: dt.datetime) -> dict[str, Any]:
    run = _job_run(RETENTION_JOB, now)
    if run is None:
        return {"last_run": None}
    summary = run["summary"] if isinstance(run["summary"], dict) else {}
    rules = [
        {"rule": name, "counts": {k: int(v) for k, v in counts.items()}}
        for name, counts in sorted(summary.items())
        if isinstance(counts, dict)
    ]
    last = {key: run[key] for key in ("id", "trigger", "started_at", "finished_at", "outcome")}
    last.update(
        destroyed=int(summary.get("destroyed", summary.get("due", 0)) or 0),
        failed=int(summary.get("failed", 0) or 0),
        rules=rules,
        error=run["error"],
    )
    return {"last_run": last}


# --- the ledger --------------------------------------------------------------------------------


def _last_checkpoint() -> dict[str, Any] | None:
    """The newest checkpoint file, its signature checked (one file, not the whole directory)."""
    from shelfguard.ledger import checkpoints

    directory = checkpoints.checkpoints_dir()
    if not directory.is_dir():
        return None
    numbered = [
        (int(m.group(1)), path)
        for path in directory.iterdir()
        if (m := checkpoints._FILE_NAME.match(path.name)) and path.is_file()
    ]
    if not numbered:
        return None
    seq, path = max(numbered)
    public_key = checkpoints.public_key_of()
    if public_key is None:
        return {"seq": seq, "at": None, "valid": False, "reason": "no signing key"}
    try:
        found = checkpoints._check_file(path, seq, public_key)
    except ValueError as exc:
        return {"seq": seq, "at": None, "valid": False, "reason": str(exc)}
    return {"seq": found.seq, "at": found.at, "valid": True, "reason": ""}


#: How far back the last recorded ledger verification is looked for.
VERIFICATION_LOOKBACK_DAYS = 90


def first_seq_since(moment: dt.datetime) -> int:
    """The seq of the first entry at or after `moment`, found by binary search on the key.

    The ledger has no index on time (one would slow every append), but entry
    times only grow along the chain, so a few primary-key lookups find where a
    period starts and every later query reads only that range of the key.
    """
    from shelfguard.ledger.models import Entry

    def first_at_or_after(seq: int) -> tuple[int, dt.datetime] | None:
        return Entry.objects.filter(seq__gte=seq).order_by("seq").values_list("seq", "at").first()

    low = first_at_or_after(0)
    high = Entry.objects.order_by("-seq").values_list("seq", flat=True).first()
    if low is None or high is None:
        return 0
    # Every entry below `lo` is older than `moment`; the first one from `hi` on is not.
    lo, hi = low[0], high + 1
    while lo < hi:
        mid = (lo + hi) // 2
        found = first_at_or_after(mid)
        if found is None or found[1] >= moment:
            hi = mid
        else:
            lo = found[0] + 1
    return lo


def _ledger(now: dt.datetime) -> dict[str, Any]:
    from shelfguard.ledger.models import ChainHead, Entry

    head = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first()
    # Recorded by `shelfguard audit verify`; newest first along the primary key.
    verified = (
        Entry.objects.filter(
            seq__gte=first_seq_since(now - dt.timedelta(days=VERIFICATION_LOOKBACK_DAYS)),
            action="ledger.verify",
            at__lte=now,
        )
        .order_by("-seq")
        .values("at", "actor_id", "detail")
        .first()
    )
    last_verification = None
    if verified is not None:
        detail = verified["detail"] or {}
        last_verification = {
            "at": _iso(verified["at"]),
            "age_hours": round((now - verified["at"]).total_seconds() / 3600, 1),
            "ok": bool(detail.get("ok")),
            "entries": detail.get("entries"),
            "problems": detail.get("problems"),
            "head_seq": detail.get("head_seq"),
            "by": verified["actor_id"],
        }
    return {
        "head_seq": head or 0,
        "last_verification": last_verification,
        "last_checkpoint": _last_checkpoint(),
        "last_checkpoint_job": _job_run(CHECKPOINT_JOB, now),
    }


# --- break-glass -------------------------------------------------------------------------------


def _break_glass(now: dt.datetime, *, by: Any, purpose: str) -> dict[str, Any]:
    from shelfguard.accounts import services as accounts

    try:
        rows = accounts.list_break_glass(by=by, purpose=purpose)
    except accounts.AccessDenied:
        return {"shown": False, "active": [], "recent": []}
    active, recent = [], []
    since = now - dt.timedelta(days=RECENT_GRANT_DAYS)
    for row in rows:
        grant = row.grant
        if grant.starts > now:
            continue
        ended = grant.revoked_at or grant.ends
        item = {
            "id": grant.pk,
            "staff": grant.staff.username,
            "granted_by": grant.granted_by.username,
            "permissions": list(grant.permissions),
            "starts": _iso(grant.starts),
            "ends": _iso(grant.ends),
            "revoked_at": _iso(grant.revoked_at),
            "uses": sum(1 for u in row.uses if u.at <= now),
            "unreviewed": sum(1 for u in row.uses if u.at <= now and not u.reviewed),
        }
        if ended > now:
            active.append(item)
        elif ended >= since:
            recent.append(item)
    return {"shown": True, "recent_days": RECENT_GRANT_DAYS, "active": active, "recent": recent}


# --- recycle bin and four-eyes approvals (lifecycle, when installed) -----------------------------


def _approvals(now: dt.datetime) -> dict[str, Any]:
    approvals = _optional("shelfguard.lifecycle.approvals")
    if approvals is None or not hasattr(approvals, "pending"):
        return {"installed": False, "pending": []}
    pending = []
    for row in approvals.pending(now):
        # The requester's free-text reason is left out: the report holds codes and counts.
        found = approvals.request_dict(row)
        pending.append(
            {
                "id": found["id"],
                "action": found["action"],
                "count": found["count"],
                "requested_by": found["requested_by"],
                "requested_at": found["created_at"],
                "expires_at": found["expires_at"],
            }
        )
    return {"installed": True, "pending": pending}


def _recycle_bin(now: dt.datetime) -> dict[str, Any]:
    recycle = _optional("shelfguard.lifecycle.recycle")
    if recycle is None or not hasattr(recycle, "entries"):
        return {"installed": False}
    binned = [e for e in recycle.entries() if e.deleted_at <= now]
    by_kind: dict[str, int] = defaultdict(int)
    for entry in binned:
        by_kind[entry.kind] += 1
    return {
        "installed": True,
        "items": len(binned),
        "by_kind": dict(sorted(by_kind.items())),
        "oldest_at": _iso(min((e.deleted_at for e in binned), default=None)),
        "purge_due": len(recycle.due(now)),
        "bin_days": recycle.bin_days(),
    }


# --- reveals per day ---------------------------------------------------------------------------


def chart_days(now: dt.datetime) -> list[dt.date]:
    last = timezone.localdate(now)
    return [last - dt.timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]


def _reveals(now: dt.datetime, days: list[dt.date]) -> dict[str, Any]:
    """`patron.reveal` entries per day, by channel and by the role(s) of who revealed.

    Two grouped queries; entries are never loaded one by one. A staff member's
    roles are today's (the ledger names the person, not the role they held),
    and one holding two roles is counted under the pair, so every entry is
    counted exactly once in each breakdown.
    """
    from shelfguard.accounts.models import StaffUser
    from shelfguard.ledger.models import Entry

    start = timezone.make_aware(dt.datetime.combine(days[0], dt.time.min))
    entries = Entry.objects.filter(
        seq__gte=first_seq_since(start), action="patron.reveal", at__gte=start, at__lte=now
    ).annotate(day=TruncDate("at", tzinfo=timezone.get_current_timezone()))
    index = {day: i for i, day in enumerate(days)}
    by_channel: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for row in entries.values("day", "channel").annotate(n=Count("seq")).order_by():
        if row["day"] in index:
            by_channel[row["channel"]][index[row["day"]]] += row["n"]
    per_actor = list(
        entries.values("day", "actor_kind", "actor_id").annotate(n=Count("seq")).order_by()
    )
    names = {r["actor_id"] for r in per_actor if r["actor_kind"] == "staff"}
    roles = {
        staff.username: "+".join(sorted(r.code for r in staff.roles.all())) or "no role"
        for staff in StaffUser.objects.filter(username__in=names).prefetch_related("roles")
    }
    by_role: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for row in per_actor:
        if row["day"] not in index:
            continue
        if row["actor_kind"] == "staff":
            key = roles.get(row["actor_id"], "former staff")
        else:
            key = f"({row['actor_kind']})"
        by_role[key][index[row["day"]]] += row["n"]
    return {
        "days": [_iso(d) for d in days],
        "total": sum(sum(v) for v in by_channel.values()),
        "by_channel": dict(sorted(by_channel.items())),
        "by_role": dict(sorted(by_role.items())),
    }


# --- the door ----------------------------------------------------------------------------------


def _counts(figures: dict[str, Any]) -> dict[str, int]:
    monitoring = figures["monitoring"]
    requests = figures["privacy_requests"]
    certs = figures["certifications"]
    grants = figures["break_glass"]
    return {
        "open_alerts": int(monitoring.get("open_count", 0)),
        "open_requests": requests["open_count"],
        "overdue_requests": requests["overdue_count"],
        "certifications_expiring": len(certs["expiring"]),
        "certifications_expired": len(certs["expired"]),
        "active_grants": len(grants["active"]),
        "reveals": figures["reveals"]["total"],
        "backup_stale": int(figures["backups"]["stale"]),
    }


OUTPUTS = ("page", "html", "pdf", "json")


def gather(
    *,
    actor: Actor,
    purpose: str,
    by: Any = None,
    output: str = "page",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Every figure of the dashboard and the report, as plain JSON-ready data.

    `by` is the staff member looking (their permissions decide whether the
    certification and break-glass sections are filled); None for the server
    operator at the command line. `output` names what the figures are for
    (page, html, pdf, json), which the ledger entry records with the counts.
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}")
    generated = clock.now()
    now = min(now or generated, generated)
    today = timezone.localdate(now)
    days = chart_days(now)
    with transaction.atomic():
        figures: dict[str, Any] = {
            "generated_at": _iso(generated),
            "as_of": _iso(now),
            "monitoring": _monitoring(now),
            "privacy_requests": _privacy_requests(today, actor=actor, purpose=purpose),
            "certifications": _certifications(today, by=by, purpose=purpose),
            "backups": _backups(now, days),
            "retention": _retention(now),
            "ledger": _ledger(now),
            "break_glass": _break_glass(now, by=by, purpose=purpose),
            "approvals": _approvals(now),
            "recycle_bin": _recycle_bin(now),
            "reveals": _reveals(now, days),
        }
        ledger.append(
            actor=actor,
            action="lifecycle.privacy_report",
            purpose=purpose,
            detail={"output": output, **_counts(figures)},
        )
    # Round-trip once so the page, the HTML, the PDF and the JSON all see the same plain data.
    return json.loads(json.dumps(figures, default=str))


def charts(figures: dict[str, Any]) -> list[Any]:
    """The pictures of the figures (reveals, alerts per week, backup age), each with its table."""
    from django.utils.translation import gettext as _

    from shelfguard.lifecycle import charts as draw

    reveals = figures["reveals"]
    days = [d[5:] for d in reveals["days"]]  # MM-DD: the year is in the report's date
    common = {
        "labels": days,
        "y_label": _("reveals"),
        "x_label": _("day (month-day)"),
        "label_column": _("Day"),
        "total_column": _("Total"),
    }
    drawn = [
        draw.stacked_bars(
            "reveals-channel",
            title=_("Reveals of patron data per day, by channel (last 30 days)"),
            summary=_("%(total)d reveals in 30 days.") % {"total": reveals["total"]},
            series=reveals["by_channel"],
            **common,
        ),
        draw.stacked_bars(
            "reveals-role",
            title=_("Reveals of patron data per day, by role (last 30 days)"),
            summary=_("%(total)d reveals in 30 days.") % {"total": reveals["total"]},
            series=reveals["by_role"],
            **common,
        ),
    ]
    monitoring = figures["monitoring"]
    if monitoring.get("installed"):
        weeks = monitoring["alerts_per_week"]
        drawn.append(
            draw.stacked_bars(
                "alerts-week",
                title=_("Monitoring alerts raised per week (last 12 weeks)"),
                summary=_("%(total)d alerts in 12 weeks.")
                % {"total": sum(w["count"] for w in weeks)},
                labels=[w["week_start"][:10] for w in weeks],
                series={_("alerts"): [w["count"] for w in weeks]},
                y_label=_("alerts"),
                x_label=_("week starting"),
                label_column=_("Week starting"),
                total_column=_("Total"),
            )
        )
    backups = figures["backups"]
    ages = backups["verified_age_per_day"]
    drawn.append(
        draw.line(
            "backup-age",
            title=_("Age of the newest verified backup at the end of each day (hours)"),
            summary=_("The dashed line marks %(hours)d hours, after which it is flagged.")
            % {"hours": backups["stale_after_hours"]},
            labels=[a["day"][5:] for a in ages],
            values=[a["hours"] for a in ages],
            y_label=_("hours"),
            x_label=_("day (month-day)"),
            label_column=_("Day"),
            value_column=_("Hours since verified backup"),
            threshold=backups["stale_after_hours"],
            threshold_label=_("%(hours)d h") % {"hours": backups["stale_after_hours"]},
        )
    )
    return drawn


# --- the report's three formats ----------------------------------------------------------------


def render_json(figures: dict[str, Any]) -> str:
    return json.dumps(figures, ensure_ascii=False, indent=2, sort_keys=False)


def render_html(figures: dict[str, Any]) -> str:
    """One self-contained page: inline CSS and SVG, no link to anything outside it."""
    from django.conf import settings
    from django.template.loader import render_to_string

    return render_to_string(
        "reports/privacy_report.html",
        {"r": figures, "charts": charts(figures), "library": settings.LIBRARY_NAME},
    )


#: Fonts that cover Chinese, asked of fontconfig by language (none is shipped with Shelfguard).
_CJK_QUERY = ":lang=zh-cn"


def _cjk_font() -> str | None:
    """A font file on this system that covers Simplified Chinese, if fontconfig knows one."""
    import shutil
    import subprocess

    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        found = subprocess.run(
            [fc_list, _CJK_QUERY, "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(
        line.split(":")[0].strip()
        for line in found.splitlines()
        if line.split(":")[0].strip().lower().endswith((".ttf", ".otf"))
    )
    return files[0] if files else None


def render_pdf(figures: dict[str, Any]) -> bytes:
    """The figures as a PDF (fpdf2): tables of the same sections as the HTML report.

    With a font covering Chinese on the system (found through fontconfig) it
    is embedded and the PDF is in the command's language. Otherwise it uses a
    core Latin-1 font, is in English, says so on its first page, and prints
    characters outside Latin-1 as "?": the HTML report is the full-language one.
    """
    from django.utils import translation

    font_file = _cjk_font()
    if font_file is None:
        with translation.override("en"):
            return _pdf(figures, None)
    return _pdf(figures, font_file)


def _pdf(figures: dict[str, Any], font_file: str | None) -> bytes:
    from django.utils.translation import gettext as _
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    if font_file:
        pdf.add_font("report", "", font_file)
        family = "report"
    else:
        family = "Helvetica"

    def text(value: Any) -> str:
        value = "-" if value is None else str(value)
        return value if font_file else value.encode("latin-1", "replace").decode("latin-1")

    def heading(title: str) -> None:
        pdf.ln(3)
        pdf.set_font(family, size=13)
        pdf.cell(0, 8, text(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=9)

    def line(value: str) -> None:
        pdf.multi_cell(0, 5, text(value), new_x="LMARGIN", new_y="NEXT")

    def table(columns: list[str], rows: list[list[Any]]) -> None:
        if not rows:
            line(_("(none)"))
            return
        with pdf.table(text_align="LEFT", line_height=5) as grid:
            grid.row([text(c) for c in columns])
            for row in rows:
                grid.row([text(c) for c in row])

    title = _("Privacy report")
    pdf.set_title(text(title))
    pdf.add_page()
    pdf.set_font(family, size=16)
    pdf.cell(0, 10, text(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=9)
    line(
        _("Figures as of %(at)s (made %(made)s), UTC.")
        % {"at": figures["as_of"], "made": figures["generated_at"]}
    )
    line(_("Counts, ids and staff usernames only. Making this report was recorded in the ledger."))
    if not font_file:
        line(
            "Note: no font covering Chinese was found on this system, so this PDF is in "
            "English with Latin-1 text only; the HTML report is the full-language one."
        )

    b = figures["backups"]
    heading(_("Backups"))
    verified = b["last_successful_verification"]
    if b["stale"] and verified:
        line(
            _("WARNING: last verified backup %(hours)s hours ago (limit %(limit)s hours).")
            % {"hours": b["verified_age_hours"], "limit": b["stale_after_hours"]}
        )
    elif b["stale"]:
        line(_("WARNING: no backup has ever been verified by a test restore."))
    else:
        line(_("Last verified backup: %(hours)s hours ago.") % {"hours": verified["age_hours"]})
    never = _("never")
    table(
        [_("Run"), _("When (UTC)"), _("Hours ago"), _("Outcome"), _("File")],
        [
            [label, run["at"], run["age_hours"], run["outcome"], run["file"]]
            if run
            else [label, never, "", "", ""]
            for label, run in (
                (_("Last backup"), b["last_backup"]),
                (_("Last successful backup"), b["last_successful_backup"]),
                (_("Last verification (test restore)"), b["last_verification"]),
                (_("Last successful verification"), verified),
            )
        ],
    )

    heading(_("Retention: data destroyed on time"))
    run = figures["retention"]["last_run"]
    if run:
        line(
            _(
                "Last retention run on %(at)s: %(outcome)s; %(destroyed)s destroyed, %(failed)s rules failed."
            )
            % {
                "at": run["started_at"],
                "outcome": run["outcome"],
                "destroyed": run["destroyed"],
                "failed": run["failed"],
            }
        )
        table(
            [_("Rule"), _("Counts")],
            [
                [r["rule"], ", ".join(f"{k}: {v}" for k, v in r["counts"].items()) or "-"]
                for r in run["rules"]
            ],
        )
    else:
        line(_("WARNING: the retention sweep has never run."))

    q = figures["privacy_requests"]
    heading(_("Open privacy requests"))
    line(
        _("%(n)s open, %(overdue)s overdue.")
        % {"n": q["open_count"], "overdue": q["overdue_count"]}
    )
    table(
        [_("Reference"), _("Status"), _("Filed"), _("Age (days)"), _("Deadline")],
        [
            [
                r["reference"],
                r["status_label"],
                r["filed_on"],
                r["age_days"],
                f"{r['due_on']} - "
                + (
                    _("OVERDUE by %(days)s days") % {"days": r["days_overdue"]}
                    if r["overdue"]
                    else _("%(days)s days left") % {"days": r["days_left"]}
                ),
            ]
            for r in q["open"]
        ],
    )

    m = figures["monitoring"]
    heading(_("Monitoring alerts"))
    if not m["installed"]:
        line(_("Monitoring not installed."))
    else:
        line(
            _("%(n)s open alerts; last scan %(at)s.")
            % {"n": m["open_count"], "at": m["last_scan_at"] or never}
        )
        table(
            [_("Alert"), _("Rule"), _("Raised (UTC)"), _("Staff"), _("Patron id")],
            [
                [f"#{a['id']}", a["rule_label"], a["raised_at"], a["staff"], a["patron_id"]]
                for a in m["open_alerts"]
            ],
        )
        table(
            [_("Week starting"), _("alerts")],
            [[w["week_start"], w["count"]] for w in m["alerts_per_week"]],
        )

    c = figures["certifications"]
    heading(_("Privacy certifications"))
    if not c["shown"]:
        line(_("Not shown: this needs the permission to record certifications."))
    else:
        table(
            [_("Staff member"), _("Branch"), _("Valid until"), _("State")],
            [[p["staff"], p["branch"], p["expires_on"], _("EXPIRED")] for p in c["expired"]]
            + [
                [p["staff"], p["branch"], "-", _("NONE, but their roles need one")]
                for p in c["missing"]
            ]
            + [
                [
                    p["staff"],
                    p["branch"],
                    p["expires_on"],
                    _("expires in %(days)s days") % {"days": p["days_left"]},
                ]
                for p in c["expiring"]
            ],
        )

    g = figures["break_glass"]
    heading(_("Break-glass grants"))
    if not g["shown"]:
        line(_("Not shown: this needs the permission to grant break-glass access."))
    else:
        table(
            [
                _("Grant"),
                _("Staff member"),
                _("Permissions"),
                _("From – until (UTC)"),
                _("State"),
                _("Uses (not reviewed)"),
            ],
            [
                [
                    f"#{x['id']}",
                    x["staff"],
                    ", ".join(x["permissions"]),
                    f"{x['starts']} - {x['ends']}",
                    state,
                    f"{x['uses']} ({x['unreviewed']})",
                ]
                for state, group in ((_("ACTIVE"), g["active"]), (_("ended"), g["recent"]))
                for x in group
            ],
        )

    lg = figures["ledger"]
    heading(_("Access ledger"))
    line(_("Newest entry (chain head): #%(seq)s.") % {"seq": lg["head_seq"]})
    v = lg["last_verification"]
    if v is None:
        line(_("Last full verification: never recorded: run `shelfguard audit verify`."))
    elif v["ok"]:
        line(
            _("Last full verification: verified, %(n)s entries, on %(at)s.")
            % {"n": v["entries"], "at": v["at"]}
        )
    else:
        line(
            _("Last full verification: FAILED on %(at)s: %(n)s problems.")
            % {"at": v["at"], "n": v["problems"]}
        )
    cp = lg["last_checkpoint"]
    if cp is None:
        line(_("Newest checkpoint: none yet."))
    elif cp["valid"]:
        line(
            _("Newest checkpoint: #%(seq)s, signed %(at)s, signature valid.")
            % {"seq": cp["seq"], "at": cp["at"]}
        )
    else:
        line(
            _("Newest checkpoint: #%(seq)s: NOT TRUSTED (%(reason)s).")
            % {"seq": cp["seq"], "reason": cp["reason"]}
        )

    heading(_("Recycle bin and four-eyes approvals"))
    bin_ = figures["recycle_bin"]
    if bin_["installed"]:
        line(
            _(
                "%(n)s deleted objects can still be restored from the recycle bin; %(due)s are due to be purged."
            )
            % {"n": bin_["items"], "due": bin_["purge_due"]}
        )
    else:
        line(_("Recycle bin not installed."))
    approvals = figures["approvals"]
    if not approvals["installed"]:
        line(_("Four-eyes approvals not installed."))
    else:
        table(
            [_("Request"), _("Action"), _("Requested by"), _("Requested (UTC)"), _("Objects")],
            [
                [f"#{a['id']}", a["action"], a["requested_by"], a["requested_at"], a["count"]]
                for a in approvals["pending"]
            ],
        )

    r = figures["reveals"]
    heading(_("Reveals of patron data per day (last 30 days)"))
    line(_("%(total)d reveals in 30 days.") % {"total": r["total"]})
    for label, series in ((_("By channel"), r["by_channel"]), (_("By role"), r["by_role"])):
        names = list(series)
        rows = [
            [day, *(series[n][i] for n in names)]
            for i, day in enumerate(r["days"])
            if any(series[n][i] for n in names)
        ]
        line(label)
        table([_("Day"), *names], rows)

    heading(_("Age of the newest verified backup at the end of each day (hours)"))
    table(
        [_("Day"), _("Hours since verified backup")],
        [[a["day"], "-" if a["hours"] is None else a["hours"]] for a in b["verified_age_per_day"]],
    )
    return bytes(pdf.output())
