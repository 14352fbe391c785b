"""SIP2 patron messages: status (23), information (63), end session (35), fee paid (37),
patron enable (25), block patron (01); and the negative answer of every message.

Patron data in a reply is the least a self-check needs: the name as the
terminal's policy allows (default: first name only), the card's standing,
counts, and on request the items the patron has out now and their holds.
Never an address, e-mail or phone number (BD, BE, BF stay empty even when
asked for), never a past loan. A wrong or missing PIN gets "valid patron
password: N" (CQ N) and nothing else.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from shelfguard.accounts.services import AccessDenied
from shelfguard.circulation import services as circulation
from shelfguard.core import clock
from shelfguard.sip2 import protocol, services
from shelfguard.sip2.handlers_common import (
    PURPOSE,
    SESSION_KEY,
    TEXT_MAX,
    Request,
    check_patron,
    display_name,
    logger,
    money,
    now,
    refused_status,
    reply,
    screen_message,
    status_flags,
)

#: Most item-list entries sent in one 63 answer when the terminal asks without a range.
LIST_MAX = 20

#: The fixed fields of each message's negative answer (the date is added when sent).
_NEGATIVE: dict[str, tuple[str, dict[str, str]]] = {
    "23": ("24", {"patron_status": refused_status(), "language": "000"}),
    "63": (
        "64",
        {
            "patron_status": refused_status(),
            "language": "000",
            "hold_items_count": "0000",
            "overdue_items_count": "0000",
            "charged_items_count": "0000",
            "fine_items_count": "0000",
            "recall_items_count": "0000",
            "unavailable_holds_count": "0000",
        },
    ),
    "11": ("12", {"ok": "0", "renewal_ok": "N", "magnetic_media": "U", "desensitize": "N"}),
    # A refused return keeps the security tag on.
    "09": ("10", {"ok": "0", "resensitize": "Y", "magnetic_media": "U", "alert": "N"}),
    "29": ("30", {"ok": "0", "renewal_ok": "N", "magnetic_media": "U", "desensitize": "N"}),
    "65": ("66", {"ok": "0", "renewed_count": "0000", "unrenewed_count": "0000"}),
    "17": ("18", {"circulation_status": "01", "security_marker": "00", "fee_type": "01"}),
    "19": ("20", {"item_properties_ok": "0"}),
    "15": ("16", {"ok": "0", "available": "N"}),
    "35": ("36", {"end_session": "N"}),
    "37": ("38", {"payment_accepted": "N"}),
    "25": ("26", {"patron_status": refused_status(), "language": "000"}),
}


def refusal(req: Request, message: str, **extra: str) -> protocol.Message | None:
    """The negative answer to `req` with a screen message (None for 01, which has no answer)."""
    if req.msg.code not in _NEGATIVE:
        return None
    code, fixed = _NEGATIVE[req.msg.code]
    fixed = {**fixed, "transaction_date": now()}
    if "language" in fixed and req.msg.fixed.get("language"):
        fixed["language"] = req.msg.fixed["language"]
    fields = [("AO", req.branch_code)]
    if req.msg.code in ("23", "63", "25"):
        fields += [("AA", req.field("AA")), ("AE", ""), ("BL", "N"), ("CQ", "N")]
    elif req.field("AA"):
        fields.append(("AA", req.field("AA")))
    if req.field("AB"):
        fields.append(("AB", req.field("AB")))
    fields += [(fid, value) for fid, value in extra.items()]
    fields.append(("AF", message))
    return reply(req, code, fixed, fields)


# --- 23 patron status ---------------------------------------------------------------


def _standing_reply(req: Request, code: str, patron, extra_fixed=None, extra_fields=()):
    standing = services.patron_standing(patron.pk, actor=req.actor, purpose=PURPOSE)
    fixed = {
        "patron_status": status_flags(standing.blocks),
        "language": req.msg.fixed.get("language", "000") or "000",
        "transaction_date": now(),
        **(extra_fixed or {}),
    }
    fields = [
        ("AO", req.branch_code),
        ("AA", req.field("AA")),
        ("AE", display_name(req, patron)),
        ("BL", "Y"),
        ("CQ", "Y"),
        *extra_fields,
    ]
    if standing.blocks:
        fields.append(("AF", screen_message("patron_blocked")))
    return reply(req, code, fixed, fields), standing


def patron_status(req: Request) -> protocol.Message:
    checked = check_patron(req)
    if checked.patron is None:
        return refusal(req, checked.message)
    answer, _standing = _standing_reply(req, "24", checked.patron)
    return answer


# --- 63 patron information ----------------------------------------------------------


def _range(req: Request) -> tuple[int, int]:
    """The 1-based, inclusive range of list entries asked for (BP, BQ), at most `LIST_MAX`."""
    try:
        start = max(1, int(req.field("BP") or 1))
    except ValueError:
        start = 1
    try:
        end = int(req.field("BQ") or start + LIST_MAX - 1)
    except ValueError:
        end = start + LIST_MAX - 1
    return start, max(start, min(end, start + LIST_MAX - 1))


def patron_information(req: Request) -> protocol.Message:
    checked = check_patron(req)
    if checked.patron is None:
        return refusal(req, checked.message)
    patron = checked.patron
    summary = req.msg.fixed.get("summary", "").ljust(10)
    wanted = summary.find("Y")
    today = clock.today().isoformat()
    loans = circulation.loans_of(patron, actor=req.actor, purpose=PURPOSE)
    holds = circulation.holds_of(patron, actor=req.actor, purpose=PURPOSE)
    charges = services.unpaid_charges(patron.pk, actor=req.actor, purpose=PURPOSE)
    overdue = [loan for loan in loans if loan["due_on"] < today]
    ready = [h for h in holds if h["status"] == "ready"]
    waiting = [h for h in holds if h["status"] != "ready"]
    start, end = _range(req)
    lists = {
        0: ("AS", [h["title"] for h in ready]),
        1: ("AT", [loan["barcode"] for loan in overdue]),
        2: ("AU", [loan["barcode"] for loan in loans]),
        3: ("AV", [f"{c['id']} {money(c['cents'])} {c['kind']}" for c in charges]),
        5: ("CD", [h["title"] for h in waiting]),
    }
    items: list[tuple[str, str]] = []
    if wanted in lists:
        fid, values = lists[wanted]
        items = [(fid, value[:TEXT_MAX]) for value in values[start - 1 : end]]
    counts = {
        "hold_items_count": f"{min(len(ready), 9999):04d}",
        "overdue_items_count": f"{min(len(overdue), 9999):04d}",
        "charged_items_count": f"{min(len(loans), 9999):04d}",
        "fine_items_count": f"{min(len(charges), 9999):04d}",
        "recall_items_count": "0000",
        "unavailable_holds_count": f"{min(len(waiting), 9999):04d}",
    }
    owed = sum(c["cents"] for c in charges)
    extra = [("BV", money(owed))] if charges else []
    answer, _standing = _standing_reply(req, "64", patron, counts, [*extra, *items])
    return answer


# --- 35 end session -----------------------------------------------------------------


def end_session(req: Request) -> protocol.Message:
    req.conn.state.pop(SESSION_KEY, None)
    return reply(
        req,
        "36",
        {"end_session": "Y", "transaction_date": now()},
        [("AO", req.branch_code), ("AA", req.field("AA")), ("AF", _("Goodbye."))],
    )


# --- 37 fee paid --------------------------------------------------------------------


def _cents(amount: str) -> int | None:
    """An amount such as "2.50" or "2" in cents, or None when it is not one."""
    whole, _dot, part = amount.strip().partition(".")
    if not whole.isdigit() or (part and (not part.isdigit() or len(part) > 2)):
        return None
    return int(whole) * 100 + int(part.ljust(2, "0") or 0)


def fee_paid(req: Request) -> protocol.Message:
    """Settle one charge, named by its id (CG, as sent in the AV list), paid in full (BV)."""
    checked = check_patron(req)
    if checked.patron is None:
        return refusal(req, checked.message)
    charges = services.unpaid_charges(checked.patron.pk, actor=req.actor, purpose=PURPOSE)
    wanted = req.field("CG")
    charge = next((c for c in charges if str(c["id"]) == wanted), None)
    if charge is None:
        return refusal(req, _("This charge is not known or already paid. Please ask at the desk."))
    if _cents(req.field("BV")) != charge["cents"]:
        return refusal(req, _("Only the whole amount of a charge can be paid here."))
    try:
        circulation.settle_charge(charge["id"], actor=req.actor, purpose=PURPOSE)
    except circulation.CirculationError as exc:
        return refusal(req, screen_message(exc.code))
    return reply(
        req,
        "38",
        {"payment_accepted": "Y", "transaction_date": now()},
        [
            ("AO", req.branch_code),
            ("AA", req.field("AA")),
            ("BK", req.field("BK")),
            ("AF", _("Thank you. Your payment was recorded.")),
        ],
    )


# --- 25 patron enable ---------------------------------------------------------------


def patron_enable(req: Request) -> protocol.Message:
    """Lift the blocks self-check machines put on this card; staff blocks stay."""
    checked = check_patron(req)
    if checked.patron is None:
        return refusal(req, checked.message)
    for block_id in services.terminal_blocks(checked.patron.pk, actor=req.actor, purpose=PURPOSE):
        try:
            circulation.lift_block(block_id, actor=req.actor, purpose=PURPOSE)
        except circulation.CirculationError:
            continue  # lifted meanwhile
    answer, _standing = _standing_reply(req, "26", checked.patron)
    return answer


# --- 01 block patron ----------------------------------------------------------------


def block_patron(req: Request) -> None:
    """Block the card (the machine kept it, or saw misuse). 01 has no answer.

    The machine's own text (AL) is not stored: it could say anything. The
    block's reason says only that a self-check machine put it on.
    """
    checked = check_patron(req, pin_required=False)
    if checked.patron is None:
        logger.info("Block from terminal %s for an unknown card ignored.", req.terminal.login)
        return
    retained = req.msg.fixed.get("card_retained") == "Y"
    reason = (
        _("Blocked by self-check machine %(login)s; it kept the card.")
        if retained
        else _("Blocked by self-check machine %(login)s.")
    ) % {"login": req.terminal.login}
    try:
        circulation.block_patron(checked.patron, reason, actor=req.actor, purpose=PURPOSE)
    except (circulation.CirculationError, AccessDenied) as exc:
        logger.info("Block from terminal %s refused (%s).", req.terminal.login, type(exc).__name__)
    req.conn.state.pop(SESSION_KEY, None)
    return
