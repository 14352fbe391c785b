"""SIP2 item messages: checkout (11), checkin (09), renew (29), renew all (65),
item information (17), item status update (19) and hold (15).

Each calls one circulation service as the terminal, at the terminal's
branch; the service checks the rules and writes the ledger entry (with the
patron id, never the item). A refusal (`CirculationError`) becomes the
negative answer with a screen message a patron at a machine understands
(`handlers_common.screen_message`).

Offline transactions ("no block" = Y: the machine lent or took back the item
while it could not reach us) go through the same services back-dated to the
machine's transaction date, as the offline upload does (`at=`): the same
rules, the same window (`[circulation] offline_window_days`). One the rules
refuse is answered ok=0 and must be dealt with at the desk.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _

from shelfguard.accounts.services import AccessDenied
from shelfguard.catalog.models import ItemStatus
from shelfguard.circulation import services as circulation
from shelfguard.sip2 import protocol, services
from shelfguard.sip2.handlers_common import (
    PURPOSE,
    TEXT_MAX,
    Request,
    check_patron,
    now,
    reply,
    screen_message,
    text,
    yn,
)
from shelfguard.sip2.handlers_patron import LIST_MAX, refusal

#: SIP2 circulation status (17/18) of each item status.
CIRCULATION_STATUS = {
    ItemStatus.AVAILABLE: "03",
    ItemStatus.ON_LOAN: "04",
    ItemStatus.ON_HOLD_SHELF: "08",
    ItemStatus.IN_TRANSIT: "10",
    ItemStatus.LOST: "12",
    ItemStatus.MISSING: "13",
}
REFUSALS = (circulation.CirculationError, AccessDenied)


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _refusal_text(exc: Exception) -> str:
    if isinstance(exc, circulation.CirculationError):
        return screen_message(exc.code)
    return screen_message("")


def _offline_moment(req: Request, *names: str) -> dt.datetime | None:
    """With "no block" = Y, the time the machine did it (first of `names` given); else None."""
    if req.msg.fixed.get("no_block") != "Y":
        return None
    for name in names:
        try:
            moment = protocol.parse_date(
                req.msg.fixed.get(name, " " * 18), local_tz=timezone.get_default_timezone()
            )
        except protocol.ProtocolError:
            raise _Refused(
                _("The machine's date is not readable. Please ask at the desk.")
            ) from None
        if moment is not None:
            return moment
    return None


def _due(due_on: dt.date) -> str:
    """A due date as a SIP2 date: the end of that day in the library's time zone."""
    end = dt.datetime.combine(due_on, dt.time(23, 59, 59), tzinfo=timezone.get_default_timezone())
    return protocol.format_date(end)


def _title(barcode: str) -> str:
    summary = services.item_summary(barcode)
    return summary.title[:TEXT_MAX] if summary else ""


def _item_fields(req: Request, barcode: str) -> list[tuple[str, str]]:
    """Institution, patron, item and title: how a checkout, cancel or renew answer starts."""
    return [
        ("AO", req.branch_code),
        ("AA", req.field("AA")),
        ("AB", barcode),
        ("AJ", _title(barcode)),
    ]


# --- 11 checkout --------------------------------------------------------------------


def checkout(req: Request) -> protocol.Message:
    checked = check_patron(req)
    if checked.patron is None:
        return refusal(req, checked.message)
    patron, barcode = checked.patron, req.field("AB")
    renewed = False
    try:
        moment = _offline_moment(req, "transaction_date")
        if req.field("BI") == "Y":
            return _cancel_checkout(req, patron, barcode)
        try:
            result = circulation.checkout(
                patron,
                barcode,
                branch=req.terminal.branch,
                actor=req.actor,
                purpose=PURPOSE,
                at=moment,
            )
            due_on = result.due_on
        except circulation.CirculationError as exc:
            # Lending it again to the patron who has it is a renewal, when the machine may renew.
            if exc.code != "already_on_loan_to_patron" or req.msg.fixed["sc_renewal_policy"] != "Y":
                raise
            loan = circulation.renew(
                barcode,
                actor=req.actor,
                purpose=PURPOSE,
                patron=patron,
                branch=req.terminal.branch,
                at=moment,
            )
            due_on, renewed = loan.due_on, True
    except _Refused as exc:
        return refusal(req, exc.message)
    except REFUSALS as exc:
        return refusal(req, _refusal_text(exc))
    return reply(
        req,
        "12",
        {
            "ok": "1",
            "renewal_ok": yn(renewed),
            "magnetic_media": "U",
            "desensitize": "Y",
            "transaction_date": now(),
        },
        [
            *_item_fields(req, barcode),
            ("AH", _due(due_on)),
            ("AF", _("Due back on %(date)s.") % {"date": due_on.isoformat()}),
        ],
    )


def _cancel_checkout(req: Request, patron, barcode: str) -> protocol.Message:
    """BI = Y: the machine could not hand the item over; undo the patron's loan of it."""
    loans = circulation.loans_of(patron, actor=req.actor, purpose=PURPOSE)
    if not any(loan["barcode"] == barcode for loan in loans):
        return refusal(req, screen_message("not_on_loan"))
    circulation.checkin(barcode, branch=req.terminal.branch, actor=req.actor, purpose=PURPOSE)
    return reply(
        req,
        "12",
        {
            "ok": "1",
            "renewal_ok": "N",
            "magnetic_media": "U",
            "desensitize": "N",
            "transaction_date": now(),
        },
        [
            *_item_fields(req, barcode),
            ("AF", _("The checkout was cancelled.")),
        ],
    )


# --- 09 checkin ---------------------------------------------------------------------


def checkin(req: Request) -> protocol.Message:
    barcode = req.field("AB")
    try:
        moment = _offline_moment(req, "return_date", "transaction_date")
        result = circulation.checkin(
            barcode, branch=req.terminal.branch, actor=req.actor, purpose=PURPOSE, at=moment
        )
    except _Refused as exc:
        return refusal(req, exc.message)
    except REFUSALS as exc:
        return refusal(req, _refusal_text(exc))
    routing = result.routing
    summary = services.item_summary(barcode)
    if routing.status == ItemStatus.ON_HOLD_SHELF:
        alert_type, sort_bin = "01", "HOLD"
    elif routing.transit_to and routing.hold_id:
        alert_type, sort_bin = "02", routing.transit_to
    elif routing.transit_to:
        alert_type, sort_bin = "04", routing.transit_to
    else:
        alert_type, sort_bin = "", ""
    message = _("Thank you.")
    if result.charge_cents:
        message += " " + _("This item was late; a charge was added to your card.")
    return reply(
        req,
        "10",
        {
            "ok": "1",
            "resensitize": "Y",
            "magnetic_media": "U",
            "alert": yn(bool(alert_type)),
            "transaction_date": now(),
        },
        [
            ("AO", req.branch_code),
            ("AB", barcode),
            ("AQ", summary.home_branch if summary else ""),
            ("AJ", summary.title[:TEXT_MAX] if summary else ""),
            ("CL", sort_bin),
            ("CT", routing.transit_to or ""),
            ("CV", alert_type),
            ("AF", message),
        ],
    )


# --- 29 renew, 65 renew all ---------------------------------------------------------


def renew(req: Request) -> protocol.Message:
    checked = check_patron(req)
    if checked.patron is None:
        return refusal(req, checked.message)
    barcode = req.field("AB")
    try:
        moment = _offline_moment(req, "transaction_date")
        loan = circulation.renew(
            barcode,
            actor=req.actor,
            purpose=PURPOSE,
            patron=checked.patron,
            branch=req.terminal.branch,
            at=moment,
        )
    except _Refused as exc:
        return refusal(req, exc.message)
    except REFUSALS as exc:
        return refusal(req, _refusal_text(exc))
    return reply(
        req,
        "30",
        {
            "ok": "1",
            "renewal_ok": "Y",
            "magnetic_media": "U",
            "desensitize": "U",
            "transaction_date": now(),
        },
        [
            *_item_fields(req, barcode),
            ("AH", _due(loan.due_on)),
            ("AF", _("Renewed: due back on %(date)s.") % {"date": loan.due_on.isoformat()}),
        ],
    )


def renew_all(req: Request) -> protocol.Message:
    checked = check_patron(req)
    if checked.patron is None:
        return refusal(req, checked.message)
    renewed: list[str] = []
    unrenewed: list[str] = []
    for loan in circulation.loans_of(checked.patron, actor=req.actor, purpose=PURPOSE):
        try:
            circulation.renew(
                loan["barcode"],
                actor=req.actor,
                purpose=PURPOSE,
                patron=checked.patron,
                branch=req.terminal.branch,
            )
        except REFUSALS:
            unrenewed.append(loan["barcode"])
        else:
            renewed.append(loan["barcode"])
    return reply(
        req,
        "66",
        {
            "ok": "1",
            "renewed_count": f"{min(len(renewed), 9999):04d}",
            "unrenewed_count": f"{min(len(unrenewed), 9999):04d}",
            "transaction_date": now(),
        },
        [
            ("AO", req.branch_code),
            # The counts are whole; the lists stop at LIST_MAX so the answer fits one message.
            *(("BM", b) for b in renewed[:LIST_MAX]),
            *(("BN", b) for b in unrenewed[:LIST_MAX]),
            (
                "AF",
                _("Renewed %(done)d, not renewed %(left)d.")
                % {"done": len(renewed), "left": len(unrenewed)},
            ),
        ],
    )


# --- 17 item information, 19 item status update --------------------------------------


def item_information(req: Request) -> protocol.Message:
    barcode = req.field("AB")
    summary = services.item_summary(barcode)
    if summary is None:
        return refusal(req, screen_message("unknown_item"))
    return reply(
        req,
        "18",
        {
            "circulation_status": CIRCULATION_STATUS.get(summary.status, "01"),
            "security_marker": "00",
            "fee_type": "01",
            "transaction_date": now(),
        },
        [
            ("AB", summary.barcode),
            ("AJ", summary.title[:TEXT_MAX]),
            ("AH", _due(summary.due_on) if summary.due_on else ""),
            ("CF", str(summary.holds_waiting) if summary.holds_waiting else ""),
            ("AQ", summary.home_branch),
            ("CT", summary.transit_to or ""),
        ],
    )


def item_status_update(req: Request) -> protocol.Message:
    """Item properties (CH) are not kept by Shelfguard: always "not supported"."""
    return refusal(req, _("Changing item properties is not supported."))


# --- 15 hold ------------------------------------------------------------------------


def hold(req: Request) -> protocol.Message:
    """Place (+) or cancel (-) a hold; "*" (change a hold) is not supported.

    A hold is on the title of the item scanned (AB), unless the hold type
    (BY) is 3, "this copy". The pickup branch is BS, or the terminal's.
    """
    checked = check_patron(req)
    if checked.patron is None:
        return refusal(req, checked.message)
    patron, mode, barcode = checked.patron, req.msg.fixed["hold_mode"], req.field("AB")
    summary = services.item_summary(barcode)
    if summary is None:
        return refusal(req, screen_message("unknown_item"))
    pickup = req.field("BS") or req.branch_code
    try:
        if mode == "+":
            target = (
                {"barcode": barcode} if req.field("BY") == "3" else {"record": summary.record_id}
            )
            placed = circulation.place_hold(
                patron, pickup_branch=pickup, actor=req.actor, purpose=PURPOSE, **target
            )
            queue = circulation.hold_queue(summary.record_id)
            position = next((q["position"] for q in queue if q["hold"] == placed.pk), 0)
            message = _("Your hold was placed.")
        elif mode == "-":
            hold_id = services.patron_hold_on(
                patron.pk, summary.record_id, actor=req.actor, purpose=PURPOSE
            )
            if hold_id is None:
                return refusal(req, screen_message("unknown_hold"))
            circulation.cancel_hold(hold_id, actor=req.actor, purpose=PURPOSE, patron=patron)
            position, message = 0, _("Your hold was cancelled.")
        else:
            return refusal(req, _("Changing a hold is not supported here."))
    except REFUSALS as exc:
        return refusal(req, _refusal_text(exc))
    return reply(
        req,
        "16",
        {
            "ok": "1",
            "available": yn(summary.status == ItemStatus.AVAILABLE),
            "transaction_date": now(),
        },
        [
            ("AO", req.branch_code),
            ("AA", req.field("AA")),
            ("AB", barcode),
            ("AJ", summary.title[:TEXT_MAX]),
            ("BS", text(pickup, req.conn) if mode == "+" else ""),
            ("BR", str(position) if position else ""),
            ("AF", message),
        ],
    )
