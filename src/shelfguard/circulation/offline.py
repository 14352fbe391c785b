"""The offline upload: desk transactions recorded while the network was down, applied later.

The file is CSV, one transaction a line (a header line is optional)::

    timestamp,action,patron_card,item_barcode,branch
    2026-06-10T09:14:03+02:00,checkout,29000000123,31234000000017,MAIN
    2026-06-10T09:20:00,checkin,,31234000000017,EAST

* **Every line is checked first** (fields, time, action, branch); if any line
  is invalid nothing is applied and each invalid line is reported with its
  number and why (`skip_invalid=True` applies the valid ones anyway).
* The lines are applied **in time order** (then in file order), each through
  the same services the desk uses, back-dated with `at=`: the loan day and the
  due date count from the time on the line. A timestamp without an offset is
  in the library's time zone. A time in the future, or older than the
  back-dating window (`[circulation] offline_window_days`, 30 by default), is
  refused.
* **Applying a file twice changes nothing the second time.** Each line dealt
  with (applied, or refused by the services) is remembered as a keyed hash
  (`OfflineTransaction`): no card number or barcode is kept, and the row is
  deleted once the line is older than the window (when it would be refused
  anyway). A line seen before is skipped and the report says so. A refused
  line stays refused: do it at the desk by hand.
* The services are called as the operator (`Actor.cli_operator()`); their
  ledger entries hold the patron id, the branch and the day the action
  happened (`on`; not the time of day), never the item, as for any desk action.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from shelfguard.accounts.services import AccessDenied
from shelfguard.circulation import errors as e
from shelfguard.circulation.common import branch_of, find_patron
from shelfguard.circulation.loans import backdate_window, checked_moment, checkin, checkout, renew
from shelfguard.circulation.models import OfflineTransaction
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.vault import blind
from shelfguard.vault.keys import IndexKey, require_index_keyring

HEADER = ("timestamp", "action", "patron_card", "item_barcode", "branch")
ACTIONS = ("checkout", "checkin", "renew")
PURPOSE = "offline circulation upload"
#: Longest card number or barcode accepted on a line.
MAX_FIELD = 64
_DIGEST_TAG = b"shelfguard offline upload v1"


@dataclass(frozen=True, slots=True)
class Line:
    """One valid line, ready to apply. `card` is empty when the line has none."""

    number: int
    at: dt.datetime
    action: str
    card: str
    barcode: str
    branch: str

    def canonical(self) -> bytes:
        """The line in one spelling: the same transaction written differently hashes the same."""
        parts = (
            self.at.astimezone(dt.UTC).isoformat(),
            self.action,
            self.card,
            self.barcode,
            self.branch,
        )
        return "\x1f".join(parts).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Problem:
    """A line not applied: invalid, refused by the services, or skipped as already done."""

    line: int
    outcome: str  # "invalid", "refused" or "skipped"
    code: str
    reason: str
    action: str = ""

    def as_dict(self) -> dict:
        return {
            "line": self.line,
            "action": self.action,
            "outcome": self.outcome,
            "code": self.code,
            "reason": self.reason,
        }


@dataclass
class Report:
    """What an upload did. No card number or barcode: lines are named by number."""

    lines: int = 0
    applied: int = 0
    refused: int = 0
    skipped: int = 0
    invalid: int = 0
    dry_run: bool = False
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "lines": self.lines,
            "applied": self.applied,
            "refused": self.refused,
            "skipped": self.skipped,
            "invalid": self.invalid,
            "dry_run": self.dry_run,
            "problems": [p.as_dict() for p in sorted(self.problems, key=lambda p: p.line)],
        }


class InvalidUpload(Exception):
    """Some lines are invalid; nothing was applied. `report` lists each one."""

    def __init__(self, report: Report) -> None:
        super().__init__(f"{report.invalid} line(s) of the file are invalid; nothing was applied.")
        self.report = report


# --- reading and checking ---


def _moment(text: str) -> dt.datetime:
    if len(text) < 16 or text[10] not in "Tt ":
        raise ValueError
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
    return moment


def _card(text: str) -> str:
    try:
        return blind.normalise("card", text)
    except ValueError:
        return "".join(text.split())


def _check(number: int, row: list[str], branches: dict[str, str | None]) -> Line:
    """The row as a `Line`, or `Problem` raised as ValueError(code, reason)."""
    if len(row) != len(HEADER):
        raise ValueError(
            "fields",
            _("Expected %(n)d fields (%(names)s), found %(found)d.")
            % {"n": len(HEADER), "names": ",".join(HEADER), "found": len(row)},
        )
    stamp, action, card, barcode, branch = (cell.strip() for cell in row)
    action = action.lower()
    if action not in ACTIONS:
        raise ValueError(
            "action", _("Unknown action; use one of: %(a)s.") % {"a": ", ".join(ACTIONS)}
        )
    try:
        at = _moment(stamp)
    except ValueError:
        raise ValueError(
            "timestamp",
            _("The timestamp is not an ISO 8601 date and time (e.g. 2026-06-10T09:14:03+02:00)."),
        ) from None
    try:
        checked_moment(at)
    except e.CirculationError as exc:
        raise ValueError("timestamp", exc.message) from None
    if action == "checkout" and not card:
        raise ValueError("patron_card", _("A checkout needs the patron's card number."))
    if len(card) > MAX_FIELD or len(barcode) > MAX_FIELD:
        raise ValueError("length", _("The card number or barcode is too long."))
    if not barcode:
        raise ValueError("item_barcode", _("The item barcode is missing."))
    if not branch:
        raise ValueError("branch", _("The branch code is missing."))
    key = branch.upper()
    if key not in branches:
        try:
            branches[key] = branch_of(key).code
        except e.CirculationError:
            branches[key] = None
    if branches[key] is None:
        raise ValueError(e.UNKNOWN_BRANCH, _("There is no such branch."))
    return Line(number, at, action, _card(card) if card else "", barcode, branches[key])


def read(rows: Iterable[str]) -> tuple[list[Line], list[Problem], int]:
    """Check every line of the CSV text `rows` (an open file or any iterable of lines).

    Streams: only the checked lines are kept, not the text. Returns the valid
    lines, the invalid ones (with their line numbers) and how many lines held
    a transaction. A file the CSV reader cannot read past is one problem.
    """
    lines: list[Line] = []
    problems: list[Problem] = []
    branches: dict[str, str | None] = {}
    reader = csv.reader(rows, strict=True)
    counted = 0
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(
                Problem(start, "invalid", "csv", _("Not valid CSV: %(e)s") % {"e": exc})
            )
            break
        number, start = start, reader.line_num + 1
        if not row or all(not cell.strip() for cell in row):
            continue
        if counted == 0 and not lines and not problems:
            first = [cell.strip().lstrip("\ufeff").lower() for cell in row]
            if tuple(first) == HEADER:
                continue
        counted += 1
        try:
            lines.append(_check(number, row, branches))
        except ValueError as exc:
            code, reason = exc.args
            problems.append(Problem(number, "invalid", code, str(reason)))
    return lines, problems, counted


# --- remembering lines dealt with ---


def _offline_key(key: IndexKey) -> bytes:
    # Domain separation from the blind indexes made with the same key.
    return hmac.new(key.subkey("card"), _DIGEST_TAG, hashlib.sha256).digest()


def _digests(line: Line, keys: tuple[bytes, ...]) -> list[bytes]:
    text = line.canonical()
    return [hmac.new(k, text, hashlib.sha256).digest() for k in keys]


def purge_expired() -> int:
    """Forget lines older than the back-dating window (they would be refused now anyway)."""
    today = clock.now().date()
    deleted, _by_model = OfflineTransaction.objects.filter(expires_on__lt=today).delete()
    return deleted


# --- applying ---


def _run(line: Line, *, actor: Actor, purpose: str, patrons: dict[str, int]) -> None:
    if line.action == "checkin":
        checkin(line.barcode, branch=line.branch, actor=actor, purpose=purpose, at=line.at)
        return
    patron = None
    if line.card:
        if line.card not in patrons:
            patrons[line.card] = find_patron(line.card).pk
        patron = patrons[line.card]
    if line.action == "checkout":
        checkout(patron, line.barcode, branch=line.branch, actor=actor, purpose=purpose, at=line.at)
    else:
        renew(
            line.barcode,
            patron=patron,
            branch=line.branch,
            actor=actor,
            purpose=purpose,
            at=line.at,
        )


def apply(
    rows: Iterable[str],
    *,
    actor: Actor,
    purpose: str = PURPOSE,
    dry_run: bool = False,
    skip_invalid: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_line: Callable[[], None] | None = None,
) -> Report:
    """Check, sort and apply an offline file; return the report, or raise `InvalidUpload`.

    `dry_run` checks the lines and finds those already applied, and changes
    nothing (the services' own refusals are only known by applying).
    `on_start(n)` is told how many lines will be applied, `on_line()` after each.
    """
    lines, invalid, counted = read(rows)
    report = Report(lines=counted, invalid=len(invalid), dry_run=dry_run, problems=list(invalid))
    if invalid and not skip_invalid:
        raise InvalidUpload(report)
    lines.sort(key=lambda line: (line.at, line.number))
    ring = require_index_keyring()
    keys = tuple(_offline_key(k) for k in ring.for_lookup)
    storage_key = _offline_key(ring.for_storage)
    window = backdate_window()
    if not dry_run:
        purge_expired()
    if on_start:
        on_start(len(lines))
    seen: dict[bytes, int] = {}
    patrons: dict[str, int] = {}
    for line in lines:
        digests = _digests(line, keys)
        mine = hmac.new(storage_key, line.canonical(), hashlib.sha256).digest()
        earlier = next((seen[d] for d in digests if d in seen), None)
        done = None if earlier else OfflineTransaction.objects.filter(digest__in=digests).first()
        if earlier is not None:
            report.skipped += 1
            report.problems.append(
                Problem(
                    line.number,
                    "skipped",
                    "duplicate",
                    _("The same transaction as line %(n)d.") % {"n": earlier},
                    line.action,
                )
            )
        elif done is not None:
            report.skipped += 1
            reason = (
                _("Already applied by an earlier upload.")
                if done.applied
                else _("Already refused on an earlier upload; do it at the desk.")
            )
            report.problems.append(
                Problem(line.number, "skipped", "already_done", reason, line.action)
            )
        elif dry_run:
            report.applied += 1
        else:
            outcome = _apply_one(line, mine, window, actor=actor, purpose=purpose, patrons=patrons)
            if outcome is None:
                report.applied += 1
            else:
                report.refused += 1
                report.problems.append(outcome)
        seen[mine] = line.number
        if on_line:
            on_line()
    return report


def _apply_one(
    line: Line,
    digest: bytes,
    window: dt.timedelta,
    *,
    actor: Actor,
    purpose: str,
    patrons: dict[str, int],
) -> Problem | None:
    """Apply one line with its digest in one transaction; a refusal is remembered too."""
    # The UTC day after the window closes: a day, not the time of the line.
    expires_on = line.at.astimezone(dt.UTC).date() + window + dt.timedelta(days=1)
    try:
        with transaction.atomic():
            _run(line, actor=actor, purpose=purpose, patrons=patrons)
            OfflineTransaction.objects.create(digest=digest, applied=True, expires_on=expires_on)
    except e.CirculationError as exc:
        # Remembered so that a second upload cannot apply it against a later state.
        OfflineTransaction.objects.create(digest=digest, applied=False, expires_on=expires_on)
        return Problem(line.number, "refused", exc.code, exc.message, line.action)
    except AccessDenied as exc:
        return Problem(line.number, "refused", "access_denied", str(exc), line.action)
    return None
