"""The patron's own account: what they can see and do about their loans and their data.

These are the portal's reads and changes that no other app offers as they
are needed here. Each one goes through the owning app's services (loans and
holds through `circulation`, personal values through `patrons.reveal`, the
ledger through `ledger.entries_about`) with the patron as the actor on the
"web" channel, so every look the patron takes at their own record appears in
the ledger as self-service, like any other look. What leaves this module is
plain data (dicts and dataclasses of strings, dates and ids): pages never
receive model instances with sealed fields.

Refusals are `AccountError` (or the circulation refusal they came from) with
a message that says what to do and never holds a personal value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from shelfguard.accounts import services as accounts
from shelfguard.catalog.models import Record
from shelfguard.circulation import services as circulation
from shelfguard.circulation.models import Charge, HoldStatus
from shelfguard.circulation.rules import money
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.ledger import services as ledger
from shelfguard.patrons import privacy_notice
from shelfguard.patrons import register as reg
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Patron
from shelfguard.portal.sessions import patron_actor

#: The purpose of the portal's reads (loans, holds, consents, the ledger).
SELF_SERVICE = "self-service"
#: The purpose of revealing the patron's own sealed values to them.
SELF_SERVICE_VIEW = "self-service view"
HISTORY_CONSENT = "reading_history"
#: Entries per page of "who looked at my record".
LEDGER_PAGE = 25


class AccountError(Exception):
    """A request from the account pages that was not carried out; nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(str(message))
        self.message = str(message)


def actor_of(patron: Patron | int) -> Actor:
    """The patron acting on their own account in the portal."""
    return patron_actor(patron, "web")


def show_staff_names() -> bool:
    """`[portal] show_staff_names` (default false): name staff on "who looked at my record"."""
    raw = settings.CONFIG.get("portal", {}).get("show_staff_names", False)
    if not isinstance(raw, bool):
        raise ImproperlyConfigured(
            f"[portal] show_staff_names in shelfguard.toml must be true or false, not {raw!r}."
        )
    return raw


def branches() -> list[dict[str, str]]:
    """Every branch (code and name), for choosing where to collect a hold."""
    return [{"code": b.code, "name": b.name} for b in Branch.objects.order_by("name", "code")]


def _branch_names() -> dict[str, str]:
    return {b["code"]: b["name"] for b in branches()}


# --- My account: loans, holds, charges, blocks ---------------------------------------------


@dataclass(frozen=True)
class Overview:
    status: str
    expires_on: dt.date | None
    loans: list[dict[str, Any]]
    holds: list[dict[str, Any]]
    charges: list[dict[str, Any]]
    charges_total: str
    blocks: list[str]
    today: dt.date


# The patron's words for each kind of block (`circulation.standing` speaks to the desk).
_BLOCK_TEXT = {
    "closed": gettext_lazy("This card is closed."),
    "status": gettext_lazy("This card is blocked. Ask at the library desk."),
    "expired": gettext_lazy("This card has expired. Renew it at the library desk."),
    # The reason staff typed is written for staff (circulation.PatronBlock), not for the
    # patron, so the page does not show it.
    "manual": gettext_lazy("The library has stopped borrowing on this card. Ask at the desk why."),
    "consent": gettext_lazy(
        "You have withdrawn your consent to library service, so you cannot borrow."
    ),
}


def overview(patron: Patron, *, actor: Actor, purpose: str = SELF_SERVICE) -> Overview:
    """Loans (overdue marked), holds with their queue positions, unpaid charges and blocks."""
    today = clock.today()
    loans = circulation.loans_of(patron, actor=actor, purpose=purpose)
    for loan in loans:
        loan["due_on"] = dt.date.fromisoformat(loan["due_on"])
        loan["overdue"] = loan["due_on"] < today
    names = _branch_names()
    holds = circulation.holds_of(patron, actor=actor, purpose=purpose)
    for hold in holds:
        hold["status_label"] = HoldStatus(hold["status"]).label
        hold["pickup_name"] = names.get(hold["pickup"], hold["pickup"])
        hold["can_change_pickup"] = hold["status"] == HoldStatus.WAITING
        hold["expires_on"] = (
            dt.date.fromisoformat(hold["expires_on"]) if hold["expires_on"] else None
        )
    with transaction.atomic():
        rows = list(
            Charge.objects.filter(patron_id=patron.pk, settled_on__isnull=True).order_by(
                "created_on", "id"
            )
        )
        current = circulation.standing(patron.pk, today=today)
        ledger.append(
            actor=actor,
            action="portal.account_read",
            purpose=purpose,
            patron_id=patron.pk,
            fields=["charges", "blocks"],
            detail={"charges": len(rows), "blocks": len(current.blocks)},
        )
    charges = [
        {
            "amount": money(c.amount_cents),
            "kind": c.kind,
            "created_on": c.created_on,
        }
        for c in rows
    ]
    blocks = [str(_BLOCK_TEXT.get(code, reason)) for code, reason in current.blocks]
    return Overview(
        status=patron.get_status_display(),
        expires_on=patron.expires_on,
        loans=loans,
        holds=holds,
        charges=charges,
        charges_total=money(sum(c.amount_cents for c in rows)),
        blocks=blocks,
        today=today,
    )


@dataclass(frozen=True)
class RenewOutcome:
    title: str
    renewed: bool
    message: str
    due_on: dt.date | None = None


def _renew_one(patron: Patron, loan: dict[str, Any], *, actor: Actor, purpose: str) -> RenewOutcome:
    try:
        renewed = circulation.renew(loan["barcode"], actor=actor, purpose=purpose, patron=patron)
    except circulation.CirculationError as refused:
        return RenewOutcome(title=loan["title"], renewed=False, message=refused.message)
    return RenewOutcome(
        title=loan["title"],
        renewed=True,
        message=_("Renewed."),
        due_on=renewed.due_on,
    )


def renew(
    patron: Patron, loans: list[int] | None, *, actor: Actor, purpose: str = SELF_SERVICE
) -> list[RenewOutcome]:
    """Renew the named loans of this patron (all of them when `loans` is None).

    Each renewal is its own service call, so one refused loan (another patron
    waits for it, the limit is reached) does not stop the others; each
    outcome carries the service's reason. A loan id that is not this
    patron's open loan is refused as unknown.
    """
    mine = circulation.loans_of(patron, actor=actor, purpose=purpose)
    if loans is None:
        chosen = mine
    else:
        by_id = {loan["loan"]: loan for loan in mine}
        if any(pk not in by_id for pk in loans):
            raise AccountError(_("That loan is not on your card. Reload the page and try again."))
        chosen = [by_id[pk] for pk in loans]
    if not chosen:
        raise AccountError(_("You have nothing on loan to renew."))
    return [_renew_one(patron, loan, actor=actor, purpose=purpose) for loan in chosen]


def _circulation_call(call, *args, **kwargs):
    """Run a circulation door; a refusal of another patron's hold reads as "no such hold"."""
    try:
        return call(*args, **kwargs)
    except accounts.AccessDenied:
        raise AccountError(_("There is no such hold on your card.")) from None
    except circulation.CirculationError as refused:
        if refused.code in ("not_yours", "unknown_hold"):
            raise AccountError(_("There is no such hold on your card.")) from None
        raise AccountError(refused.message) from None


def cancel_hold(patron: Patron, hold: int, *, actor: Actor, purpose: str = SELF_SERVICE) -> None:
    _circulation_call(circulation.cancel_hold, hold, actor=actor, purpose=purpose, patron=patron)


def change_pickup(
    patron: Patron, hold: int, branch: str, *, actor: Actor, purpose: str = SELF_SERVICE
) -> None:
    if branch not in _branch_names():
        raise AccountError(_("Choose a branch from the list."))
    _circulation_call(
        circulation.change_pickup, hold, branch, actor=actor, purpose=purpose, patron=patron
    )


def hold_target(record_id: int) -> dict[str, Any] | None:
    """The title a hold would be placed on (public catalogue data), or None."""
    return Record.objects.filter(pk=record_id).values("pk", "title", "control_number").first()


def place_hold(
    patron: Patron, record_id: int, branch: str, *, actor: Actor, purpose: str = SELF_SERVICE
) -> None:
    if branch not in _branch_names():
        raise AccountError(_("Choose a branch from the list."))
    try:
        circulation.place_hold(
            patron, pickup_branch=branch, record=record_id, actor=actor, purpose=purpose
        )
    except circulation.CirculationError as refused:
        message = refused.message
        if refused.code == "already_held":
            message = _("You already have a hold on this title.")
        elif refused.code == "patron_blocked":
            message = _(
                "You cannot place holds while borrowing is stopped on this card. "
                "“My account” says why."
            )
        elif refused.code == "holds_not_allowed":
            message = _("The library's loan rules do not allow you to place a hold on this.")
        raise AccountError(message) from None


# --- My data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataRow:
    key: str
    label: str
    value: str
    purpose: str
    legal_basis: str
    retention: str
    protection: str


def _clear_value(patron: Patron, key: str) -> str:
    if key == "category":
        return patron.category.name if patron.category_id else ""
    if key == "home_branch":
        return patron.home_branch.name if patron.home_branch_id else ""
    if key == "identity_verification":
        if not patron.identity_document:
            return ""
        when = patron.identity_verified_at
        return _("%(document)s, checked on %(date)s") % {
            "document": patron.get_identity_document_display(),
            "date": when.date().isoformat() if when else _("an unknown date"),
        }
    if key == "pin":
        return _("set (kept only as a one-way hash)") if patron.pin_hash else ""
    if key == "consents":
        return _("see “My consents” below")
    return ""


def my_data(
    patron: Patron, *, actor: Actor, purpose: str = SELF_SERVICE_VIEW
) -> tuple[list[DataRow], list[patrons.ConsentState]]:
    """Every field the library holds about the patron, with purpose and retention, and consents.

    Sealed values are revealed through `patrons.reveal` (one ledger entry
    naming the fields); consents through `patrons.consents` (recorded too).
    """
    fields = reg.collected_fields()
    sealed = [f.key for f in fields if f.sealed]
    values = patrons.reveal(patron, sealed, actor=actor, purpose=purpose) if sealed else {}
    rows = []
    for f in fields:
        value = values.get(f.key) if f.sealed else _clear_value(patron, f.key)
        rows.append(
            DataRow(
                key=f.key,
                label=f.label,
                value=value or "",
                purpose=f.purpose,
                legal_basis=f.legal_basis,
                retention=f.retention,
                protection=str(f.protection),
            )
        )
    states = patrons.consents(patron, actor=actor, purpose=purpose)
    return rows, states


# --- Who looked at my record -------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    at: dt.datetime
    who: str
    roles: list[str] = field(default_factory=list)
    branch: str = ""
    name: str = ""
    action: str = ""
    purpose: str = ""
    fields: list[str] = field(default_factory=list)
    yours: bool = False


_ACTIONS = {
    "patron.reveal": gettext_lazy("opened personal details"),
    "patron.consent.read": gettext_lazy("read your consents"),
    "patron.consent.give": gettext_lazy("recorded a consent"),
    "patron.consent.withdraw": gettext_lazy("recorded a withdrawal of consent"),
    "ledger.query": gettext_lazy("read this list of who looked at your record"),
    "circulation.loans_read": gettext_lazy("looked at your loans"),
    "circulation.hold_read": gettext_lazy("looked at your holds"),
    "circulation.history_read": gettext_lazy("looked at your reading history"),
    "circulation.history_delete": gettext_lazy("deleted reading history"),
    "circulation.checkout": gettext_lazy("lent an item"),
    "circulation.checkin": gettext_lazy("took back an item"),
    "circulation.renew": gettext_lazy("renewed a loan"),
    "circulation.hold_place": gettext_lazy("placed a hold"),
    "circulation.hold_cancel": gettext_lazy("cancelled a hold"),
    "circulation.hold_pickup_change": gettext_lazy("changed where a hold is collected"),
    "circulation.hold_trap": gettext_lazy("set a copy aside for your hold"),
    "circulation.hold_expire": gettext_lazy("ended a hold that was not collected"),
    "circulation.block": gettext_lazy("stopped borrowing on your card"),
    "circulation.unblock": gettext_lazy("allowed borrowing on your card again"),
    "circulation.charge_settle": gettext_lazy("recorded a charge as settled"),
    "circulation.claims_returned": gettext_lazy("recorded an item you say you returned"),
    "patron.register": gettext_lazy("created your record"),
    "patron.update": gettext_lazy("changed your record"),
    "patron.identity_check": gettext_lazy("recorded an identity check"),
    "portal.account_read": gettext_lazy("looked at your charges and blocks"),
    "portal.signin": gettext_lazy("signed in to the account pages"),
    "portal.signin_failure": gettext_lazy("a sign-in that failed"),
    "portal.session_end": gettext_lazy("a session of the account pages ended"),
    "portal.password_set": gettext_lazy("set your account password"),
    "portal.password_link": gettext_lazy("made a link to set your password"),
    "portal.password_change": gettext_lazy("changed your account password"),
}


def _field_label(key: str) -> str:
    found = reg.BY_KEY.get(key)
    return found.label if found else key.replace("_", " ")


def who_looked(
    patron: Patron, *, page: int = 1, actor: Actor, purpose: str = SELF_SERVICE
) -> tuple[list[Look], int]:
    """One page (newest first) of the ledger entries about the patron, and the number of pages.

    Staff are shown by role(s) and branch, by name only when the library
    chose `[portal] show_staff_names = true`; the patron's own actions as
    "you"; self-check terminals by the branch the entry names; jobs as the
    library's system. Reading the page is itself recorded.
    """
    page = max(1, page)
    entries, total = ledger.entries_about(
        patron.pk,
        actor=actor,
        purpose=purpose,
        offset=(page - 1) * LEDGER_PAGE,
        limit=LEDGER_PAGE,
    )
    staff = accounts.staff_as_seen_by_patron(e.actor_id for e in entries if e.actor_kind == "staff")
    names = _branch_names()
    named = show_staff_names()
    looks = []
    for e in entries:
        branch_code = e.detail.get("branch") if isinstance(e.detail, dict) else None
        branch = names.get(branch_code, "") if isinstance(branch_code, str) else ""
        roles: list[str] = []
        name = ""
        yours = False
        if e.actor_kind == "patron" and e.actor_id == str(patron.pk):
            who, yours = _("You"), True
        elif e.actor_kind == "staff":
            facts = staff.get(e.actor_id)
            who = _("Library staff")
            if facts is not None:
                roles, branch = facts.roles, facts.branch
            if named:
                name = e.actor_id
        elif e.actor_kind == "terminal":
            who = (
                _("Self-check machine at %(branch)s") % {"branch": branch}
                if branch
                else _("A self-check machine")
            )
        elif e.actor_kind == "system":
            who = _("The library's system")
        elif e.actor_kind == "cli":
            who = _("A library administrator, on the server")
        else:
            who = _("Someone else")
        looks.append(
            Look(
                at=e.at,
                who=who,
                roles=roles,
                branch=branch,
                name=name,
                action=str(_ACTIONS.get(e.action, e.action)),
                purpose=e.purpose,
                fields=[_field_label(k) for k in e.fields],
                yours=yours,
            )
        )
    pages = max(1, -(-total // LEDGER_PAGE))
    return looks, pages


# --- Consent and the privacy notice --------------------------------------------------------


def optional_purposes() -> dict[str, str]:
    """The consents a patron may turn on and off here: every one but `service`."""
    return {k: v for k, v in reg.CONSENT_PURPOSES.items() if k != reg.REQUIRED_CONSENT}


def consent_states(
    patron: Patron, *, actor: Actor, purpose: str = SELF_SERVICE
) -> list[patrons.ConsentState]:
    return patrons.consents(patron, actor=actor, purpose=purpose)


def set_consent(
    patron: Patron,
    consent: str,
    *,
    on: bool,
    delete_history: bool = True,
    actor: Actor,
    purpose: str = SELF_SERVICE,
) -> None:
    """Turn one optional consent on or off.

    Turning the reading history off unlinks the history kept so far in the
    withdrawal's own transaction (`circulation.privacy.on_consent_withdrawn`):
    without the consent the library may not keep it (promise 4). So the
    patron's "delete what was kept" box is a confirmation: unticked, nothing
    changes and the page says why.
    """
    if consent not in optional_purposes():
        raise AccountError(_("Choose one of the listed choices."))
    if on:
        if patron.guardian_required:
            raise AccountError(
                _(
                    "Below the guardian age a parent or guardian gives consent. "
                    "Come to the library desk together."
                )
            )
        patrons.give_consent(patron, consent, actor=actor, purpose=purpose)
        return
    if consent == HISTORY_CONSENT and not delete_history:
        raise AccountError(
            _(
                "Without this consent the library may not keep your reading history, so "
                "turning it off deletes what was kept. To keep a copy, download your data "
                "first, then turn it off with the box ticked."
            )
        )
    patrons.withdraw_consent(patron, consent, actor=actor, purpose=purpose)


def notice_language(language: str | None) -> str:
    code = (language or "en").lower()
    return "zh-hans" if code.startswith("zh") else "en"


@dataclass(frozen=True)
class NoticeDue:
    version: int
    accepted: int
    language: str
    text: str


def notice_due(states: list[patrons.ConsentState], language: str | None) -> NoticeDue | None:
    """The current notice when a consent in force was given under an older version, else None."""
    stale = [s for s in states if s.needs_renewal]
    if not stale:
        return None
    notice = privacy_notice.current(notice_language(language))
    accepted = min(s.notice_version or 0 for s in stale)
    return NoticeDue(
        version=notice.version, accepted=accepted, language=notice.language, text=notice.text
    )


def accept_notice(
    patron: Patron, version: int, *, actor: Actor, purpose: str = SELF_SERVICE
) -> int:
    """Renew every consent in force under the current notice `version`; returns how many.

    `version` is the one the patron was shown: if a newer one was published
    in between, nothing is recorded and they are asked to read it.
    """
    if version != privacy_notice.current_version():
        raise AccountError(_("A newer privacy notice was published meanwhile. Read it, please."))
    if patron.guardian_required:
        raise AccountError(
            _(
                "Below the guardian age a parent or guardian accepts the notice. "
                "Come to the library desk together."
            )
        )
    states = patrons.consents(patron, actor=actor, purpose=purpose)
    stale = [s.purpose for s in states if s.needs_renewal]
    with transaction.atomic():
        for consent in stale:
            patrons.give_consent(
                patron, consent, actor=actor, purpose=purpose, notice_version=version
            )
    return len(stale)


# --- Reading history ---------------------------------------------------------------------


def keeps_history(patron: Patron) -> bool:
    return patrons.has_consent(patron, HISTORY_CONSENT)


def history(
    patron: Patron, *, search: str = "", actor: Actor, purpose: str = SELF_SERVICE
) -> list[dict[str, Any]]:
    """The kept history, newest first; `search` keeps the titles that contain every word."""
    rows = circulation.reading_history(patron, actor=actor, purpose=purpose)
    words = search.casefold().split()
    if words:
        rows = [r for r in rows if all(w in r["title"].casefold() for w in words)]
    for row in rows:
        row["loaned_on"] = dt.date.fromisoformat(row["loaned_on"])
        row["ended_on"] = dt.date.fromisoformat(row["ended_on"]) if row["ended_on"] else None
    return rows


def delete_history_entry(
    patron: Patron, loan: int, *, actor: Actor, purpose: str = SELF_SERVICE
) -> None:
    try:
        circulation.delete_history_entry(patron, loan, actor=actor, purpose=purpose)
    except circulation.CirculationError as refused:
        raise AccountError(refused.message) from None


def delete_history(patron: Patron, *, actor: Actor, purpose: str = SELF_SERVICE) -> int:
    return circulation.delete_history(patron, actor=actor, purpose=purpose)
