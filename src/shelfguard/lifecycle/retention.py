"""The retention register and its sweep: nothing is kept longer than its purpose (promise 5).

Each rule names what it applies to, how long that is kept (a number of days
read from `shelfguard.toml`, within bounds the program enforces) and the
function that selects what is due and destroys it. `sweep` runs every rule
for one day (`as_of`, today by default, from the one clock):

* in a dry run it counts what each rule would destroy and changes nothing;
* otherwise each rule destroys in batches, each batch in its own
  transaction and its selection recomputed from the database, so a sweep
  killed half-way leaves every batch either done or untouched and the next
  sweep simply continues; then one ledger entry per rule records the counts
  (never an id or a value) as `retention.sweep`.

The bulk rules work set-based (`UPDATE ... WHERE id IN (...)`, `DELETE ...
WHERE id IN (...)` over chunks of ids), never row by row. Erasing expired
patrons goes through `patrons.services.erase` one patron at a time, because
that is where the patron's key is destroyed and obligations are checked.

A period is "kept N days": a record whose date (its end, expiry, last use)
is D is destroyed by the sweep of day D + N, and kept on every day before.

Other apps add rules with `register_rule` from their `AppConfig.ready()`;
`delete_in_batches` does the work for the common "delete rows older than"
case.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from shelfguard.core import clock
from shelfguard.core import progress as progress_bars
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger

logger = logging.getLogger("shelfguard.retention")

ACTOR = Actor.system("retention")
PURPOSE = "retention"
NOTICE_PURPOSE = "retention notice"
NOTICE_ACTION = "retention.notice"
DEFAULT_BATCH = 5000


class RetentionError(Exception):
    """A refusal the operator can act on: a bad period, a date the sweep cannot use."""

    code = "retention"


class RetentionIncomplete(RetentionError):
    """Some rules failed; the others ran. `summary` holds every rule's counts."""

    code = "retention_incomplete"

    def __init__(self, failed: list[str], summary: dict[str, Any]) -> None:
        self.summary = summary
        super().__init__(
            f"Retention rules failed: {', '.join(failed)}. The other rules ran; see "
            "`shelfguard jobs status` and the log, fix the cause and run the sweep again."
        )


# --- periods ------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """How many days something is kept: `[section] key`, with a default and bounds."""

    key: str
    default: int
    minimum: int
    maximum: int
    section: str = "retention"

    @property
    def setting(self) -> str:
        return f"[{self.section}] {self.key}"

    def days(self) -> int:
        table = getattr(settings, "CONFIG", {}).get(self.section, {})
        if not isinstance(table, Mapping):
            raise ImproperlyConfigured(f"[{self.section}] in shelfguard.toml must be a table.")
        value = table.get(self.key, self.default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ImproperlyConfigured(
                f"{self.setting} in shelfguard.toml must be a whole number of days, not {value!r}."
            )
        if not self.minimum <= value <= self.maximum:
            raise ImproperlyConfigured(
                f"{self.setting} in shelfguard.toml must be between {self.minimum} and "
                f"{self.maximum} days, not {value}."
            )
        return value


# --- what a rule is given -----------------------------------------------------------


@dataclass
class Sweep:
    """One rule's run: the day swept, its period, and whether to destroy anything."""

    as_of: dt.date
    days: int
    dry_run: bool
    batch_size: int = DEFAULT_BATCH
    show_progress: bool = False
    label: str = ""

    @property
    def cutoff_date(self) -> dt.date:
        """Records dated on or before this day are due."""
        return self.as_of - dt.timedelta(days=self.days)

    @property
    def cutoff(self) -> dt.datetime:
        """Records timed before this moment are due (the start of the day after `cutoff_date`)."""
        return start_of_day(self.cutoff_date + dt.timedelta(days=1))

    @property
    def moment(self) -> dt.datetime:
        """The sweep's "now": the clock's time today, the end of `as_of` for another day."""
        if self.as_of == clock.today():
            return clock.now()
        return start_of_day(self.as_of + dt.timedelta(days=1)) - dt.timedelta(microseconds=1)

    @contextlib.contextmanager
    def progress(self, total: int | None) -> Iterator[Callable[[int], None]]:
        """A bar over `total` items on a terminal; yields `advance(n)`."""
        with progress_bars.count_progress(
            total, self.label or "retention", self.show_progress
        ) as bar:
            if bar is None:
                yield lambda n: None
            else:
                task = bar.task_ids[0]
                yield lambda n: bar.advance(task, n)


def start_of_day(day: dt.date) -> dt.datetime:
    """The first moment of `day` in the library's time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


RuleSweep = Callable[[Sweep], Mapping[str, int]]


@dataclass(frozen=True)
class Rule:
    name: str
    applies_to: str
    period: Period
    #: A callable, or "package.module:function" imported when the rule runs.
    sweep: RuleSweep | str

    def function(self) -> RuleSweep | None:
        if callable(self.sweep):
            return self.sweep
        module_name, _, attribute = self.sweep.partition(":")
        try:
            module = __import__(module_name, fromlist=[attribute])
        except ImportError:
            return None
        found = getattr(module, attribute, None)
        return found if callable(found) else None


_rules: dict[str, Rule] = {}


def register_rule(
    name: str,
    *,
    applies_to: str,
    sweep: RuleSweep | str,
    setting: str,
    default_days: int,
    minimum: int,
    maximum: int,
    section: str = "retention",
) -> Rule:
    """Add a rule to the register (the same name again replaces it).

    `sweep(ctx: Sweep)` selects what is due on `ctx.as_of` and, unless
    `ctx.dry_run`, destroys it in batches of its own transactions; it returns
    counts: `{"destroyed": n}` (or `{"due": n}` in a dry run), plus any other
    counts worth knowing. Never ids or values.
    """
    if not minimum <= default_days <= maximum:
        raise ValueError(f"the default period of {name} is outside its bounds")
    rule = Rule(name, applies_to, Period(setting, default_days, minimum, maximum, section), sweep)
    _rules[name] = rule
    return rule


def unregister_rule(name: str) -> None:
    _rules.pop(name, None)


def rules() -> list[Rule]:
    return list(_rules.values())


def check_configuration() -> list[str]:
    """Every period that is out of bounds or not a number, as messages (empty: all good)."""
    problems = []
    for rule in rules():
        try:
            rule.period.days()
        except ImproperlyConfigured as exc:
            problems.append(str(exc))
    return problems


# --- batch helpers ------------------------------------------------------------------


def _batches(
    ctx: Sweep, queryset: models.QuerySet, apply: Callable[[list[int]], int]
) -> dict[str, int]:
    """Walk `queryset` by id in chunks; `apply(ids)` destroys one chunk in its own transaction."""
    total = queryset.count()
    if ctx.dry_run:
        return {"due": total}
    done = 0
    last = 0
    with ctx.progress(total) as advance:
        while True:
            ids = list(
                queryset.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", flat=True)[: ctx.batch_size]
            )
            if not ids:
                break
            last = ids[-1]
            with transaction.atomic():
                done += apply(ids)
            advance(len(ids))
    return {"destroyed": done}


def delete_in_batches(ctx: Sweep, queryset: models.QuerySet) -> dict[str, int]:
    """Delete every row of `queryset` (already filtered to what is due), chunk by chunk.

    Each chunk is deleted with `queryset.filter(pk__in=chunk)`, so a row that
    stopped being due since it was selected is left alone.
    """
    return _batches(ctx, queryset, lambda ids: queryset.filter(pk__in=ids).delete()[0])


# --- the rules ----------------------------------------------------------------------


def _history_keepers() -> set[int]:
    """Ids of patrons whose consent to keep a reading history is in force now."""
    from shelfguard.circulation.privacy import HISTORY_CONSENT
    from shelfguard.patrons.models import Consent, Patron, PatronStatus
    from shelfguard.patrons.services import consent_in_force

    newest: dict[int, Consent] = {}
    rows = (
        Consent.objects.filter(purpose=HISTORY_CONSENT)
        .order_by("patron_id", "at", "id")
        .values_list("patron_id", "given", "by_guardian")
    )
    for patron_id, given, by_guardian in rows.iterator(chunk_size=10000):
        newest[patron_id] = Consent(given=given, by_guardian=by_guardian)
    keepers = set()
    candidates = [pk for pk, row in newest.items() if row.given]
    for start in range(0, len(candidates), 10000):
        chunk = candidates[start : start + 10000]
        for pk, status, guardian_required in Patron.objects.filter(pk__in=chunk).values_list(
            "pk", "status", "guardian_required"
        ):
            if status != PatronStatus.ERASED and consent_in_force(
                newest[pk], bool(guardian_required)
            ):
                keepers.add(pk)
    return keepers


def sweep_loan_links(ctx: Sweep) -> dict[str, int]:
    """Drop the patron link of ended loans (no unsettled charge) of patrons who keep no history.

    Check-in already does this; the sweep catches what was left over (a
    withdrawal that raced a return, a charge settled since, an import).
    """
    from shelfguard.circulation.models import Charge, Loan, LoanOutcome

    keepers = _history_keepers()
    unsettled = Charge.objects.filter(settled_on__isnull=True, loan__isnull=False).values("loan_id")
    due = (
        Loan.objects.filter(patron__isnull=False, ended_on__lte=ctx.cutoff_date)
        .exclude(outcome=LoanOutcome.OPEN)
        .exclude(pk__in=unsettled)
    )
    total = due.count()
    counted = destroyed = kept = 0
    last = 0
    with ctx.progress(None if ctx.dry_run else total) as advance:
        while True:
            rows = list(
                due.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", "patron_id")[: ctx.batch_size]
            )
            if not rows:
                break
            last = rows[-1][0]
            ids = [pk for pk, patron_id in rows if patron_id not in keepers]
            kept += len(rows) - len(ids)
            if ctx.dry_run:
                counted += len(ids)
            elif ids:
                with transaction.atomic():
                    destroyed += due.filter(pk__in=ids).update(patron=None)
            advance(len(rows))
    if ctx.dry_run:
        return {"due": counted, "kept_history": kept}
    return {"destroyed": destroyed, "kept_history": kept}


def sweep_hold_links(ctx: Sweep) -> dict[str, int]:
    """Drop the patron link of filled, cancelled and expired holds (always, on the day they end)."""
    from shelfguard.circulation.models import ACTIVE_HOLD_STATUSES, Hold

    due = Hold.objects.filter(patron__isnull=False).exclude(status__in=ACTIVE_HOLD_STATUSES)
    due = due.filter(Q(ended_on__isnull=True) | Q(ended_on__lte=ctx.cutoff_date))
    return _batches(ctx, due, lambda ids: due.filter(pk__in=ids).update(patron=None))


def sweep_signin_failures(ctx: Sweep) -> dict[str, int]:
    """Delete sign-in failure records (`Throttle`) whose last failure is past the period."""
    from shelfguard.accounts.models import Throttle

    moment = ctx.moment
    due = Throttle.objects.filter(
        Q(last_failure_at__lt=ctx.cutoff)
        | Q(last_failure_at__isnull=True, locked_until__isnull=True)
    ).filter(Q(locked_until__isnull=True) | Q(locked_until__lte=moment))
    return delete_in_batches(ctx, due)


def _sessions_due(model: type[models.Model], ctx: Sweep) -> models.QuerySet:
    # A session never ended but unused for the whole period has long timed out.
    return model.objects.filter(
        Q(ended_at__lt=ctx.cutoff) | Q(ended_at__isnull=True, last_seen__lt=ctx.cutoff)
    )


def sweep_staff_sessions(ctx: Sweep) -> dict[str, int]:
    """Delete staff session records that ended (or timed out) before the period."""
    from shelfguard.accounts.models import StaffSession

    return delete_in_batches(ctx, _sessions_due(StaffSession, ctx))


def sweep_patron_sessions(ctx: Sweep) -> dict[str, int]:
    """Delete portal session records that ended (or timed out) before the period."""
    if not apps.is_installed("shelfguard.portal"):
        return {"due" if ctx.dry_run else "destroyed": 0}
    return delete_in_batches(ctx, _sessions_due(apps.get_model("portal", "PatronSession"), ctx))


def sweep_one_time_links(ctx: Sweep) -> dict[str, int]:
    """Delete used or expired set-password links and staff enrolment codes."""
    from shelfguard.accounts.models import EnrolmentCode

    counts: dict[str, int] = {}
    models_due: list[type[models.Model]] = [EnrolmentCode]
    if apps.is_installed("shelfguard.portal"):
        models_due.append(apps.get_model("portal", "PasswordLink"))
    for model in models_due:
        due = model.objects.filter(Q(used_at__lt=ctx.cutoff) | Q(expires_at__lt=ctx.cutoff))
        for key, value in delete_in_batches(ctx, due).items():
            counts[key] = counts.get(key, 0) + value
    return counts


def sweep_web_sessions(ctx: Sweep) -> dict[str, int]:
    """Delete Django session rows (the cookie's server side) that expired before the period."""
    from django.contrib.sessions.models import Session

    if not settings.SESSION_ENGINE.startswith("django.contrib.sessions.backends.db"):
        return {"due" if ctx.dry_run else "destroyed": 0}
    return delete_in_batches(ctx, Session.objects.filter(expire_date__lt=ctx.cutoff))


def sweep_access_ledger(ctx: Sweep) -> dict[str, int]:
    """Prune the access ledger by whole months (`ledger.services.prune`)."""
    from shelfguard.ledger.models import Entry

    before = ctx.cutoff_date
    if ctx.dry_run:
        month = dt.datetime(before.year, before.month, 1, tzinfo=dt.UTC)
        return {"due": Entry.objects.filter(at__lt=month).count()}
    return {"destroyed": ledger.prune(before, actor=ACTOR, purpose=PURPOSE)}


# --- expired patrons ----------------------------------------------------------------

#: Days before the erasure that a patron with an e-mail address (and consent to
#: e-mail notices) is told it is coming.
NOTICE_PERIOD = Period("erasure_notice_days", 30, 0, 365)


def _notices_sent(patron_ids: list[int], since: dict[int, dt.date]) -> dict[int, dt.date]:
    """The day each patron was last sent an erasure notice, if on or after `since[patron]`."""
    from shelfguard.ledger.models import Entry

    sent: dict[int, dt.date] = {}
    for start in range(0, len(patron_ids), 1000):
        chunk = patron_ids[start : start + 1000]
        for patron_id, at in Entry.objects.filter(
            action=NOTICE_ACTION, patron_id__in=chunk
        ).values_list("patron_id", "at"):
            day = timezone.localdate(at)
            if day >= since[patron_id] and day > sent.get(patron_id, dt.date.min):
                sent[patron_id] = day
    return sent


def _wants_email_notice(patron: Any) -> bool:
    from shelfguard.patrons.services import has_consent

    return patron.email_sealed is not None and has_consent(patron, "email_notices")


def _send_erasure_notice(patron_id: int, erase_on: dt.date) -> bool:
    """E-mail the patron that their record will be erased; record it (ids only)."""
    from shelfguard.patrons.services import PatronError, reveal

    try:
        values = reveal(patron_id, ["name", "email"], actor=ACTOR, purpose=NOTICE_PURPOSE)
    except PatronError:
        return False
    if not values.get("email"):
        return False
    library = getattr(settings, "LIBRARY_NAME", "")
    body = _(
        "Dear %(name)s,\n\n"
        "your library card expired some time ago. To keep no personal data longer than "
        "it is needed, %(library)s will erase your record on or after %(date)s.\n\n"
        "If you want to keep your card, renew it at any branch or in your account before "
        "then. Otherwise you need not do anything.\n"
    ) % {"name": values.get("name") or "", "library": library, "date": erase_on.isoformat()}
    message = EmailMessage(
        subject=_("Your library record will be erased"), body=body, to=[values["email"]]
    )
    try:
        message.send()
    except Exception:  # noqa: BLE001  (any transport failure: try again at the next sweep)
        logger.warning("Erasure notice for patron %s could not be sent.", patron_id)
        return False
    with transaction.atomic():
        ledger.append(
            actor=ACTOR,
            action=NOTICE_ACTION,
            purpose=NOTICE_PURPOSE,
            patron_id=patron_id,
            detail={"erase_on": erase_on.isoformat()},
        )
    return True


def sweep_expired_patrons(ctx: Sweep) -> dict[str, int]:
    """Erase patrons whose card expired more than the period ago and who owe nothing.

    A patron with an e-mail address and consent to e-mail notices is told
    `[retention] erasure_notice_days` before; their erasure waits until that
    many days after the notice was sent, so a late notice never cuts the
    warning short. Patrons with loans or unpaid charges are kept (counted as
    `kept_outstanding`) and tried again at the next sweep.
    """
    from shelfguard.patrons import obligations
    from shelfguard.patrons.models import Patron, PatronStatus
    from shelfguard.patrons.services import ErasureRefused, PatronError, erase

    notice_days = NOTICE_PERIOD.days()
    living = Patron.objects.exclude(status=PatronStatus.ERASED).filter(expires_on__isnull=False)
    warn_by = ctx.cutoff_date + dt.timedelta(days=notice_days)
    rows = list(
        living.filter(expires_on__lte=warn_by if notice_days else ctx.cutoff_date)
        .only("id", "status", "expires_on", "guardian_required", "email_sealed")
        .order_by("pk")
    )
    counts = {"notices_sent": 0, "notices_due": 0, "waiting_for_notice": 0, "kept_outstanding": 0}
    counts["due" if ctx.dry_run else "destroyed"] = 0
    notified = (
        _notices_sent(
            [p.pk for p in rows],
            # The earliest day a notice for this expiry can have been sent: one
            # older than that was about an earlier card period (since renewed).
            {p.pk: p.expires_on + dt.timedelta(days=ctx.days - notice_days) for p in rows},
        )
        if notice_days
        else {}
    )
    with ctx.progress(len(rows)) as advance:
        for patron in rows:
            advance(1)
            due_on = patron.expires_on + dt.timedelta(days=ctx.days)
            if notice_days and _wants_email_notice(patron):
                sent_on = notified.get(patron.pk)
                if sent_on is None:
                    erase_on = max(due_on, ctx.as_of + dt.timedelta(days=notice_days))
                    if ctx.dry_run:
                        counts["notices_due"] += 1
                    elif _send_erasure_notice(patron.pk, erase_on):
                        counts["notices_sent"] += 1
                    if patron.expires_on <= ctx.cutoff_date:
                        counts["waiting_for_notice"] += 1
                    continue
                if ctx.as_of < max(due_on, sent_on + dt.timedelta(days=notice_days)):
                    if patron.expires_on <= ctx.cutoff_date:
                        counts["waiting_for_notice"] += 1
                    continue
            if patron.expires_on > ctx.cutoff_date:
                continue
            if ctx.dry_run:
                if obligations.outstanding(patron):
                    counts["kept_outstanding"] += 1
                else:
                    counts["due"] += 1
                continue
            try:
                erase(
                    patron.pk,
                    actor=ACTOR,
                    purpose=PURPOSE,
                    reason=f"retention: card expired more than {ctx.days} days ago",
                )
            except ErasureRefused:
                counts["kept_outstanding"] += 1
            except PatronError:
                continue  # erased meanwhile, or renewed: nothing to do
            else:
                counts["destroyed"] += 1
    return counts


# --- rules that call other apps' functions when they exist --------------------------


def sweep_unverified_registrations(ctx: Sweep) -> dict[str, int]:
    """Erase self-registrations never confirmed (`patrons.services.purge_unverified`).

    The self-registration service keeps its own 30-day period and erases each
    application through `erase`; this rule only calls it (and counts with
    `count_unverified_due` in a dry run), once that service is installed.
    """
    from shelfguard.patrons import services as patron_services

    purge = getattr(patron_services, "purge_unverified", None)
    if purge is None:
        raise NotInstalledRule("shelfguard.patrons.services.purge_unverified is not installed")
    if ctx.dry_run:
        count = getattr(patron_services, "count_unverified_due", None)
        if count is None:
            from shelfguard.patrons import selfreg

            count = selfreg.count_unverified_due
        return {"due": int(count(ctx.moment))}
    parameters = inspect.signature(purge).parameters
    kwargs: dict[str, Any] = {}
    if "actor" in parameters:
        kwargs["actor"] = ACTOR
    with ctx.progress(None) as advance:
        if "on_patron" in parameters:
            kwargs["on_patron"] = lambda: advance(1)
        erased = purge(ctx.moment, **kwargs)
    return {"destroyed": int(erased)}


def sweep_privacy_requests(ctx: Sweep) -> dict[str, int]:
    """Crypto-erase privacy requests closed past their period (`feedback.services.expire`).

    The feedback app reads the same setting itself; this rule calls it once
    that app is installed, and counts the same selection in a dry run.
    """
    if not apps.is_installed("shelfguard.feedback"):
        raise NotInstalledRule("shelfguard.feedback is not installed")
    from shelfguard.feedback import services as feedback

    expire = getattr(feedback, "expire", None)
    if expire is None:
        raise NotInstalledRule("shelfguard.feedback.services.expire is not installed")
    if ctx.dry_run:
        model = apps.get_model("feedback", "PrivacyRequest")
        due = model.objects.filter(
            status="closed", closed_at__lt=ctx.moment - dt.timedelta(days=ctx.days)
        ).filter(erased_at__isnull=True)
        return {"due": due.count()}
    return {"destroyed": int(expire(ctx.moment, actor=ACTOR))}


class NotInstalledRule(RetentionError):
    """The rule's function belongs to an app or service that is not installed yet."""

    code = "not_installed"


# --- running the register ------------------------------------------------------------


@dataclass
class RuleResult:
    name: str
    applies_to: str
    setting: str
    days: int | None
    #: "done", "counted" (dry run), "not installed" or "failed".
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0
    #: The period shelfguard.toml now asks for, while it waits for a second
    #: person's approval (`retention_changes`); `days` is the one in force.
    waiting_days: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.name,
            "applies_to": self.applies_to,
            "setting": self.setting,
            "days": self.days,
            "waiting_days": self.waiting_days,
            "status": self.status,
            "counts": self.counts,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class SweepReport:
    as_of: dt.date
    dry_run: bool
    rules: list[RuleResult]

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.rules if r.status == "failed"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "rules": [r.as_dict() for r in self.rules],
            "failed": self.failed,
        }

    def summary(self) -> dict[str, Any]:
        """Counts for the job's record: totals, and each rule's counts."""
        key = "due" if self.dry_run else "destroyed"
        total = sum(r.counts.get(key, 0) for r in self.rules)
        data: dict[str, Any] = {key: total, "rules": len(self.rules), "failed": len(self.failed)}
        for r in self.rules:
            data[r.name] = dict(r.counts)
        return data


def _error_text(exc: BaseException) -> str:
    name = type(exc).__name__
    if (type(exc).__module__ or "").startswith("shelfguard."):
        return f"{name}: {' '.join(str(exc).split())}"[:300]
    return f"{name} (message not kept: it may quote stored data)"


_COUNT_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")


def _ledger_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """A rule's counts under keys the ledger accepts (a registered rule may name them freely)."""
    clean = {}
    for key, value in counts.items():
        key = key.replace("-", "_")
        if _COUNT_KEY.match(key) and key not in {"rule", "days"} and len(clean) < 40:
            clean[key] = int(value)
    return clean


def check_as_of(as_of: dt.date | None, *, dry_run: bool) -> dt.date:
    """The day to sweep: today unless given; a future day only for a dry run."""
    today = clock.today()
    if as_of is None:
        return today
    if as_of > today and not dry_run:
        raise RetentionError(
            f"--as-of {as_of.isoformat()} is in the future: a real sweep destroys only what "
            "is due today or earlier. Add --dry-run to see what that day would destroy."
        )
    return as_of


def sweep(
    *,
    as_of: dt.date | None = None,
    dry_run: bool = False,
    only: list[str] | None = None,
    batch_size: int = DEFAULT_BATCH,
    show_progress: bool = False,
) -> SweepReport:
    """Run every rule (or those named in `only`) for `as_of`; see the module docstring.

    A rule that raises is recorded as failed and the others still run; the
    caller decides what a failure means (the job records the run as failed).
    """
    as_of = check_as_of(as_of, dry_run=dry_run)
    chosen = rules()
    if only:
        unknown = [name for name in only if name not in _rules]
        if unknown:
            raise RetentionError(
                f"No retention rule named {', '.join(unknown)}; rules: {', '.join(_rules)}."
            )
        chosen = [rule for rule in chosen if rule.name in only]
    problems = [p for p in check_configuration() if any(r.period.setting in p for r in chosen)]
    if problems:
        raise RetentionError(" ".join(problems))
    from shelfguard.lifecycle import retention_changes

    in_force = retention_changes.periods_in_force(
        {rule.name: rule.period.days() for rule in chosen}, actor=ACTOR, record=not dry_run
    )
    results = []
    for rule in chosen:
        days = in_force["days"][rule.name]
        result = RuleResult(rule.name, rule.applies_to, rule.period.setting, days, "done")
        result.waiting_days = in_force["waiting"].get(rule.name)
        started = time.monotonic()
        function = rule.function()
        ctx = Sweep(
            as_of=as_of,
            days=days,
            dry_run=dry_run,
            batch_size=batch_size,
            show_progress=show_progress,
            label=rule.name,
        )
        try:
            if function is None:
                raise NotInstalledRule(f"{rule.sweep} is not installed")
            result.counts = {k: int(v) for k, v in dict(function(ctx)).items()}
            result.status = "counted" if dry_run else "done"
        except NotInstalledRule as exc:
            result.status, result.error = "not installed", str(exc)
        except Exception as exc:  # noqa: BLE001  (one rule failing must not stop the others)
            result.status, result.error = "failed", _error_text(exc)
            logger.error("Retention rule %s failed: %s", rule.name, result.error)
        result.seconds = time.monotonic() - started
        if not dry_run and result.status == "done":
            with transaction.atomic():
                ledger.append(
                    actor=ACTOR,
                    action="retention.sweep",
                    purpose=PURPOSE,
                    detail={"rule": rule.name, "days": days, **_ledger_counts(result.counts)},
                )
        results.append(result)
    return SweepReport(as_of=as_of, dry_run=dry_run, rules=results)


def run_scheduled() -> dict[str, Any]:
    """The daily job: sweep today; raise `RetentionIncomplete` (with counts) if a rule failed."""
    report = sweep()
    if report.failed:
        raise RetentionIncomplete(report.failed, report.summary())
    return report.summary()


# --- the shipped register -------------------------------------------------------------

register_rule(
    "loan-patron-link",
    applies_to="ended loans' link to the patron (unless the patron keeps a reading history)",
    sweep=sweep_loan_links,
    setting="loan_link_days",
    default_days=0,
    minimum=0,
    maximum=30,
)
register_rule(
    "hold-patron-link",
    applies_to="filled, cancelled and expired holds' link to the patron",
    sweep=sweep_hold_links,
    setting="hold_link_days",
    default_days=0,
    minimum=0,
    maximum=30,
)
register_rule(
    "expired-patrons",
    applies_to="patrons whose card expired, with nothing outstanding (crypto-erasure)",
    sweep=sweep_expired_patrons,
    setting="expired_patron_days",
    default_days=2 * 365,
    minimum=30,
    maximum=10 * 365,
)
register_rule(
    "unverified-registrations",
    applies_to="self-registrations never verified",
    sweep=sweep_unverified_registrations,
    # The self-registration service's own period (patrons.selfreg.UNVERIFIED_RETENTION).
    setting="unverified_days",
    default_days=30,
    minimum=30,
    maximum=30,
)
register_rule(
    "signin-failures",
    applies_to="records of failed sign-ins (throttling)",
    sweep=sweep_signin_failures,
    setting="signin_failure_days",
    default_days=30,
    minimum=1,
    maximum=365,
)
register_rule(
    "staff-sessions",
    applies_to="ended or timed-out staff session records",
    sweep=sweep_staff_sessions,
    setting="session_days",
    default_days=30,
    minimum=1,
    maximum=365,
)
register_rule(
    "patron-sessions",
    applies_to="ended or timed-out portal session records",
    sweep=sweep_patron_sessions,
    setting="session_days",
    default_days=30,
    minimum=1,
    maximum=365,
)
register_rule(
    "web-sessions",
    applies_to="expired web sessions (server side of the session cookie)",
    sweep=sweep_web_sessions,
    setting="web_session_days",
    default_days=0,
    minimum=0,
    maximum=30,
)
register_rule(
    "one-time-links",
    applies_to="used or expired set-password links and staff enrolment codes",
    sweep=sweep_one_time_links,
    setting="link_days",
    default_days=7,
    minimum=0,
    maximum=365,
)
register_rule(
    "privacy-requests",
    applies_to="closed privacy requests (crypto-erasure)",
    sweep=sweep_privacy_requests,
    setting="request_retention_days",
    default_days=3 * 365,
    minimum=30,
    maximum=20 * 365,
    section="privacy",
)
register_rule(
    "access-ledger",
    applies_to="access-ledger entries, by whole months",
    sweep=sweep_access_ledger,
    setting="retention_days",
    default_days=ledger.DEFAULT_RETENTION_DAYS,
    minimum=1,
    maximum=100 * 365,
    section="ledger",
)
