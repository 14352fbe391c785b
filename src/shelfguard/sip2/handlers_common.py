"""What every SIP2 message handler shares: the request in hand, replies, the patron's PIN.

A handler gets a `Request` (the connection, the parsed message, the
signed-in terminal and the actor it acts as) and returns a `Message` to send,
or None. It translates: every change and every read of a patron goes
through a service, which checks and records it.

The patron's PIN (AD) is checked here, through `accounts.throttle` with the
same account key as portal sign-in ("patron:id:<id>", or "patron:card:<card>"
for a card nobody holds), so wrong PINs at a machine and wrong passwords on
the web count toward one lockout; the source is the terminal, so a machine
whose users keep failing is slowed down as a whole. A card that matches
nobody and a wrong PIN get the same answer (valid patron N, valid password
N): the machine cannot be used to learn which card numbers exist.

Once a PIN has been accepted on a connection, later messages for the same
card may leave AD out until the patron's session ends (35) or another card
is used; a message that does carry AD has it checked again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from shelfguard.accounts import throttle
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons import services as patrons
from shelfguard.patrons import validation
from shelfguard.patrons.models import Patron
from shelfguard.sip2 import protocol
from shelfguard.sip2.models import NameDisplay, Terminal
from shelfguard.sip2.session import Connection

logger = logging.getLogger("shelfguard.sip2")

#: The purpose recorded for everything a self-check machine does.
PURPOSE = "self-check"
#: Longest title or list entry put into a reply (a receipt line, not a catalogue record).
TEXT_MAX = 60
#: SIP2 language codes (the 3-digit field of 23 and 63) Shelfguard speaks.
LANGUAGES = {"001": "en", "024": "en", "019": "zh-hans"}
SESSION_KEY = "patron"

_DUMMY_HASH: list[str] = []


@dataclass
class Request:
    conn: Connection
    msg: protocol.Message
    terminal: Terminal
    actor: Actor

    def field(self, field_id: str) -> str:
        return (protocol.field(self.msg, field_id) or "").strip()

    @property
    def branch_code(self) -> str:
        return self.terminal.branch.code


def now() -> str:
    return protocol.format_date(clock.now())


def text(value: object, conn: Connection, limit: int = 0) -> str:
    """`value` as it may go into a field: no separators, and only what the encoding carries."""
    out = str(value).replace("|", "/")
    out = "".join(" " if ch in "\r\n\t\x0b\x0c\x85\u2028\u2029" else ch for ch in out)
    if limit and len(out) > limit:
        out = out[: limit - 1] + "…"
    return out.encode(conn.encoding, "replace").decode(conn.encoding)


#: Fields the spec requires in the answers that carry them: sent even when empty.
REQUIRED_FIELDS = frozenset({"AO", "AA", "AB", "AE", "AJ"})


def reply(
    req: Request, code: str, fixed: dict[str, str], fields: list[tuple[str, str | None]]
) -> protocol.Message:
    """A reply message; empty optional fields are dropped, text made safe for the wire."""
    clean = [
        (fid, text(value, req.conn))
        for fid, value in fields
        if value is not None and (value != "" or fid in REQUIRED_FIELDS)
    ]
    return protocol.Message(code, fixed, clean, req.msg.sequence)


def yn(flag: bool) -> str:
    return "Y" if flag else "N"


# --- screen messages ----------------------------------------------------------------


def screen_message(code: str) -> str:
    """What a patron standing at a machine should read for a circulation refusal."""
    messages = {
        "unknown_item": _("This item is not recognised. Please ask at the desk."),
        "unknown_patron": _("Your card is not recognised. Please ask at the desk."),
        "already_on_loan_to_patron": _("You already have this item. To keep it longer, renew it."),
        "on_loan_to_other": _("This item is checked out on another card. Please ask at the desk."),
        "not_on_loan": _("This item is not checked out."),
        "item_unavailable": _("This item cannot be checked out here. Please ask at the desk."),
        "on_hold_for_other": _("This item is kept for another reader. Please ask at the desk."),
        "patron_blocked": _("Your card cannot be used to borrow now. Please ask at the desk."),
        "limit_reached": _("You have borrowed as many items as you may."),
        "renewal_limit": _("This item cannot be renewed again. Please return it."),
        "hold_pending": _("Another reader is waiting for this item, so it cannot be renewed."),
        "holds_not_allowed": _("Holds cannot be placed on this item."),
        "already_held": _("You already have a hold on this title."),
        "not_yours": _("This item is checked out on another card."),
        "unknown_hold": _("You have no hold on this title."),
    }
    return messages.get(code, _("This cannot be done at this machine. Please ask at the desk."))


def not_allowed_message() -> str:
    return _("This machine may not do that. Please ask at the desk.")


# --- the patron ---------------------------------------------------------------------


@dataclass(frozen=True)
class PatronCheck:
    """The patron whose card and PIN were accepted, or None and what to tell them."""

    patron: Patron | None
    message: str = ""


def _card_key(card: str) -> str:
    try:
        return validation.card_number(card[:64])
    except validation.PatronError:
        return "".join(card[:64].split()).upper()


def account_key(patron: Patron | None, card: str) -> str:
    """The throttle's account name, the same as portal sign-in's (see the module docstring)."""
    return f"patron:id:{patron.pk}" if patron is not None else f"patron:card:{card}"


def _source(req: Request) -> str:
    return f"sip2-terminal:{req.terminal.login}"


def _dummy_check(pin: str) -> None:
    """Spend on an unknown card what a real PIN check spends (a keyed digest).

    PINs are kept as keyed digests (`patrons.registration.pin_digest`), so a
    real check costs microseconds; this keeps an unknown card from answering
    measurably faster than a known one with a wrong PIN.
    """
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(secrets.token_bytes(32))
    hmac.new(_DUMMY_HASH[0], pin.encode("utf-8", "replace"), hashlib.sha256).digest()


def _refused_pin(retry_after: int, locked: bool) -> str:
    if locked:
        return _("Too many wrong PINs: this card is locked for a while. Please ask at the desk.")
    if retry_after:
        return ngettext(
            "Wrong card or PIN. Wait %(n)d second and try again.",
            "Wrong card or PIN. Wait %(n)d seconds and try again.",
            retry_after,
        ) % {"n": retry_after}
    return _("Wrong card or PIN. Please try again.")


def check_patron(req: Request, *, pin_required: bool = True) -> PatronCheck:
    """The patron of AA if the PIN in AD (or this session's earlier one) is right."""
    card = req.field("AA")
    if not card:
        return PatronCheck(None, _("Please scan your library card."))
    key = _card_key(card)
    pin = protocol.field(req.msg, "AD")
    session = req.conn.state.get(SESSION_KEY)
    if not pin:
        if session and session["card"] == key:
            found = patrons.get_patron(session["id"])
            if found is not None and not found.is_erased:
                return PatronCheck(found)
        if pin_required:
            return PatronCheck(None, _("Please enter your PIN."))
    found = patrons.find_by_card(key)
    if not pin_required and not pin:
        return PatronCheck(found, "" if found else screen_message("unknown_patron"))
    account = account_key(found, key)
    verdict = throttle.check(account, _source(req))
    if not verdict.allowed:
        return PatronCheck(None, _refused_pin(verdict.retry_after, verdict.locked))
    if found is None or not found.pin_hash:
        _dummy_check(pin)
        ok = False
    else:
        ok = patrons.check_pin(found, pin)
    if not ok:
        verdict = throttle.failure(
            account,
            _source(req),
            channel="sip2",
            subject=f"patron:{found.pk}" if found else None,
        )
        with transaction.atomic():
            ledger.append(
                actor=req.actor,
                action="sip2.pin_failure",
                purpose=PURPOSE,
                patron_id=found.pk if found else None,
                detail={"subject": "patron" if found else "unknown-card"},
            )
        req.conn.state.pop(SESSION_KEY, None)
        return PatronCheck(None, _refused_pin(verdict.retry_after, verdict.locked))
    throttle.success(account)
    req.conn.state[SESSION_KEY] = {"card": key, "id": found.pk}
    return PatronCheck(found)


def display_name(req: Request, patron: Patron) -> str:
    """The name the terminal's policy allows (read through `reveal`, so recorded)."""
    policy = req.terminal.name_display
    if policy == NameDisplay.NONE:
        return _("Patron")
    name = patrons.reveal(patron, ["name"], actor=req.actor, purpose=PURPOSE).get("name") or ""
    if policy == NameDisplay.FIRST:
        name = name.split()[0] if name.split() else ""
    return name or _("Patron")


def status_flags(blocks: list[tuple[str, str]]) -> str:
    """The 14-character patron status: 'Y' where a privilege is denied, blank where not.

    Positions: 0 charge, 1 renewal, 2 recall, 3 hold privileges denied;
    6 too many items overdue; 10 excessive outstanding fines.
    """
    flags = [" "] * 14
    if blocks:
        for pos in (0, 1, 2, 3):
            flags[pos] = "Y"
    codes = {code for code, _reason in blocks}
    if "overdues" in codes:
        flags[6] = "Y"
    if "charges" in codes:
        flags[10] = "Y"
    return "".join(flags)


def refused_status() -> str:
    """The patron status sent with no data (unknown card, wrong PIN): everything denied."""
    return "Y" * 4 + " " * 10


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
