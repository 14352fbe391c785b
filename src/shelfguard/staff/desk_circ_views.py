"""The circulation desk: check out, check in, renew, holds, hold shelf, items in transit.

Scanner first. A barcode scanner types the card number or barcode and
presses Enter; every box that expects a scan has the focus when its page
opens and gets it back after each answer. With JavaScript
(`static/shelfguard/desk.js`) each form is sent with `fetch()` and asking
for JSON (`Accept: application/json`); the answer (the title and due date,
the routing of a returned copy, or the refusal with its reason) is shown in
place in an `aria-live` region, without a page load. Without JavaScript the
very same forms are ordinary POSTs answered with a redirect to the page,
which shows the outcome once (progressive enhancement).

The views only translate: every action is a `circulation.services` call with
the staff member as the actor and a purpose, so each is checked at the one
gate and recorded in the ledger (actor, action, patron id, branch; never the
item or the title). What the pages decide themselves:

- **The desk's branch is the staff member's own branch** (`StaffUser.branch`).
  Every page is `permission_required("circulation.loan", branch_of=desk_branch)`
  and every service call names that branch; a branch-scoped role therefore
  works at its own branch's desk only. (Cancelling a hold is also checked by
  the service for the hold's pickup branch.)
- **The patron at the desk** is kept in the staff session as a patron id
  only (never a name, card number or title) from the card scan until
  "Done / next patron" (or sign-out). No patron id ever appears in a URL on
  these pages, so the browser history does not say whom the desk served.
- **The patron panel** shows the name only to staff holding
  `patron.view_name`, revealed with the purpose `circulation` (in the
  ledger); then status, card expiry, blocks and the current loans and holds
  (needed to renew and to hand over holds). Never past loans.
- **Hold slips carry no name.** A slip for the hold shelf shows the pickup
  number (the hold's number), the pickup branch, the date the hold is kept
  until and, for staff holding `patron.view_name`, the last four digits of
  the card, revealed with the purpose `hold slip` (in the ledger) so that a
  patron can find their copy on a self-service shelf. A transit slip shows
  the destination branch only.
- **No-JS outcomes** wait in the session until the next page view shows
  them: a code, the message and, after a checkin, the routing and hold
  number; never the patron together with a title.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shelfguard.accounts import services as accounts
from shelfguard.accounts.services import AccessDenied
from shelfguard.catalog import services as catalog
from shelfguard.catalog.models import Item, ItemStatus
from shelfguard.circulation import services as circulation
from shelfguard.circulation.errors import CirculationError
from shelfguard.circulation.models import Hold, HoldStatus, PatronBlock
from shelfguard.core import clock
from shelfguard.core.models import Branch
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import PatronStatus
from shelfguard.staff.access import permission_required

MASK = "•••"
LOAN_CODE = "circulation.loan"
NAME_CODE = "patron.view_name"

#: Purposes: the desk's actions, the name on the panel, the card digits on a hold slip.
PURPOSE = "circulation desk"
NAME_PURPOSE = "circulation"
SLIP_PURPOSE = "hold slip"

#: Session keys: the patron at the checkout desk (an id), and the outcome a no-JS page shows once.
PATRON_KEY = "desk_circ_patron"
OUTCOME_KEY = "desk_circ_outcome"

SCAN_MAX = 64
LIST_LIMIT = 500

#: Codes of the desk's own answers (the services' refusal codes are in circulation.errors).
CHECKED_OUT = "checked_out"
CHECKED_IN = "checked_in"
RENEWED = "renewed"
HOLD_PLACED = "hold_placed"
HOLD_CANCELLED = "hold_cancelled"
PATRON_FOUND = "patron_found"
PATRON_CLEARED = "patron_cleared"
NO_PATRON = "no_patron"
NOT_ALLOWED = "not_allowed"

# --- helpers ------------------------------------------------------------------------


def desk_branch(request: HttpRequest, **kwargs) -> int | None:
    """The desk's branch: the staff member's own branch."""
    return getattr(request.user, "branch_id", None)


def _actor(request: HttpRequest):
    return accounts.staff_actor(request.user)


def _branch(request: HttpRequest) -> Branch:
    return request.user.branch


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _scan(request: HttpRequest, name: str) -> str:
    """A scanned or typed value: spaces a scanner or a person may add are dropped."""
    return "".join(str(request.POST.get(name, "")).split())[:SCAN_MAX]


def _answer(
    request: HttpRequest,
    *,
    ok: bool,
    code: str,
    message: str,
    back: str,
    status: int | None = None,
    html: str = "",
    keep: dict | None = None,
    **extra,
) -> HttpResponse:
    """JSON for the script; otherwise the outcome waits in the session and the page is shown again.

    `keep` is what a no-JS page needs to show the outcome (never a name or a
    card number); `extra` goes to the script only.
    """
    if status is None:
        status = 200 if ok else 400
    if _wants_json(request):
        body = {"ok": ok, "code": code, "message": message, **extra}
        if html:
            body["html"] = html
        return JsonResponse(body, status=status)
    request.session[OUTCOME_KEY] = {"ok": ok, "code": code, "message": message, **(keep or {})}
    return redirect(back)


def _refusal(request: HttpRequest, exc: Exception, back: str) -> HttpResponse:
    if isinstance(exc, AccessDenied):
        return _answer(
            request, ok=False, code=NOT_ALLOWED, message=exc.decision.reason, back=back, status=403
        )
    return _answer(request, ok=False, code=exc.code, message=exc.message, back=back)


def _outcome(request: HttpRequest) -> dict | None:
    return request.session.pop(OUTCOME_KEY, None)


def _title_of(barcode: str) -> str:
    return (
        Item.objects.filter(barcode=barcode).values_list("record__title", flat=True).first() or ""
    )


def _may(request: HttpRequest, code: str, branch_id: int | None) -> bool:
    cache = request.__dict__.setdefault("_desk_circ_decisions", {})
    if (code, branch_id) not in cache:
        cache[(code, branch_id)] = bool(
            accounts.has_permission(request.user, code, branch=branch_id)
        )
    return cache[(code, branch_id)]


def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    context.setdefault("outcome", _outcome(request))
    context.setdefault("desk", _branch(request))
    return render(request, template, context, status=status)


def _date(value: dt.date | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.isoformat()


# --- the patron panel -----------------------------------------------------------------


def _patron_panel(request: HttpRequest, patron_id: int) -> dict | None:
    """What the desk shows about the patron being served; None when there is no such patron."""
    patron = patrons.get_patron(patron_id)
    if patron is None or patron.is_erased:
        return None
    actor = _actor(request)
    name = MASK
    if _may(request, NAME_CODE, patron.home_branch_id):
        try:
            name = patrons.reveal(patron, ["name"], actor=actor, purpose=NAME_PURPOSE)["name"]
        except patrons.PatronError:
            name = MASK
    today = clock.today()
    problems = []
    if patron.status in (PatronStatus.BLOCKED,):
        problems.append(_("The card is blocked."))
    elif patron.status in (PatronStatus.CLOSED,):
        problems.append(_("The card is closed."))
    if patron.status == PatronStatus.EXPIRED or (patron.expires_on and patron.expires_on < today):
        problems.append(_("The card has expired; renew it at the desk."))
    manual = PatronBlock.objects.filter(patron_id=patron.pk, lifted_at__isnull=True).order_by(
        "created_at", "id"
    )
    problems.extend(_("Borrowing blocked: %(reason)s") % {"reason": b.reason} for b in manual)
    loans, holds, unlisted = [], [], ""
    try:
        loans = circulation.loans_of(patron, actor=actor, purpose=PURPOSE)
        holds = circulation.holds_of(patron, actor=actor, purpose=PURPOSE)
    except AccessDenied as exc:
        unlisted = exc.decision.reason
    overdue = sum(1 for loan in loans if loan["due_on"] < today.isoformat())
    if overdue:
        problems.append(_("Items overdue: %(n)d.") % {"n": overdue})
    status_labels = dict(HoldStatus.choices)
    branch = patron.home_branch
    return {
        "id": patron.pk,
        "name": name,
        "status_label": patron.get_status_display(),
        "category": patron.category.name if patron.category_id else "",
        "home_branch": f"{branch.code} – {branch.name}" if branch else "",
        "expires_on": patron.expires_on,
        "problems": problems,
        "loans": loans,
        "holds": [
            {**h, "status_label": status_labels.get(h["status"], h["status"])} for h in holds
        ],
        "unlisted": unlisted,
    }


def _panel_html(request: HttpRequest, panel: dict | None) -> str:
    return render_to_string("staff/desk/circ_patron_panel.html", {"panel": panel}, request=request)


def _current_patron(request: HttpRequest) -> int | None:
    value = request.session.get(PATRON_KEY)
    return value if isinstance(value, int) else None


# --- check out --------------------------------------------------------------------------


@permission_required(LOAN_CODE, branch_of=desk_branch)
@require_GET
def checkout(request: HttpRequest) -> HttpResponse:
    """Scan the card, then the items one after another."""
    patron_id = _current_patron(request)
    panel = _patron_panel(request, patron_id) if patron_id else None
    if patron_id and panel is None:
        request.session.pop(PATRON_KEY, None)
    return _page(request, "staff/desk/circ_checkout.html", {"panel": panel})


@permission_required(LOAN_CODE, branch_of=desk_branch)
@csrf_protect
@require_POST
def checkout_patron(request: HttpRequest) -> HttpResponse:
    """The card scan: the patron is now the one served at this desk."""
    back = reverse("staff:desk_circ_checkout")
    card = _scan(request, "card")
    try:
        patron = circulation.find_patron(card)
    except CirculationError as exc:
        return _refusal(request, exc, back)
    request.session[PATRON_KEY] = patron.pk
    if not _wants_json(request):
        return redirect(back)
    panel = _patron_panel(request, patron.pk)
    return _answer(
        request,
        ok=True,
        code=PATRON_FOUND,
        message=_("Patron %(id)d. Scan the items.") % {"id": patron.pk},
        back=back,
        html=_panel_html(request, panel),
        blocked=bool(panel and panel["problems"]),
    )


@permission_required(LOAN_CODE, branch_of=desk_branch)
@csrf_protect
@require_POST
def checkout_item(request: HttpRequest) -> HttpResponse:
    """One item scan: lend it to the patron at the desk, or say why not."""
    back = reverse("staff:desk_circ_checkout")
    patron_id = _current_patron(request)
    if patron_id is None:
        return _answer(
            request,
            ok=False,
            code=NO_PATRON,
            message=_("Scan the patron's card first."),
            back=back,
        )
    barcode = _scan(request, "barcode")
    try:
        result = circulation.checkout(
            patron_id, barcode, branch=_branch(request).code, actor=_actor(request), purpose=PURPOSE
        )
    except (CirculationError, AccessDenied) as exc:
        return _refusal(request, exc, back)
    due = result.due_on.isoformat()
    title = _title_of(barcode)
    message = _("Lent: %(title)s, due %(date)s.") % {"title": title, "date": due}
    if result.hold_filled:
        message += " " + _("This fills the patron's hold.")
    row = {"title": title, "barcode": barcode, "due_on": due, "renewals": 0}
    html = render_to_string("staff/desk/circ_loan_row.html", {"loan": row}, request=request)
    return _answer(
        request,
        ok=True,
        code=CHECKED_OUT,
        message=message,
        back=back,
        html=html,
        # The no-JS page lists the loans afresh: the title is not kept in the session.
        keep={"message": _("Lent, due %(date)s.") % {"date": due}},
        title=title,
        due_on=due,
        hold_filled=result.hold_filled,
    )


@permission_required(LOAN_CODE, branch_of=desk_branch)
@csrf_protect
@require_POST
def checkout_done(request: HttpRequest) -> HttpResponse:
    """The "Done / next patron" key: forget the patron at the desk."""
    request.session.pop(PATRON_KEY, None)
    return _answer(
        request,
        ok=True,
        code=PATRON_CLEARED,
        message=_("Ready for the next patron: scan a card."),
        back=reverse("staff:desk_circ_checkout"),
    )


# --- check in ---------------------------------------------------------------------------


def _slip(request: HttpRequest, routing: dict) -> dict | None:
    """The slip to put in the copy: hold (pickup number, no name) or transit (destination)."""
    if routing.get("status") == ItemStatus.IN_TRANSIT and routing.get("transit_to"):
        branch = Branch.objects.filter(code=routing["transit_to"]).first()
        slip = {"kind": "transit", "branch": branch.code if branch else routing["transit_to"]}
        slip["branch_name"] = branch.name if branch else ""
        if routing.get("hold"):
            slip["hold"] = routing["hold"]
        return slip
    if routing.get("status") == ItemStatus.ON_HOLD_SHELF and routing.get("hold"):
        hold = Hold.objects.select_related("pickup_branch").filter(pk=routing["hold"]).first()
        if hold is None:
            return None
        slip = {
            "kind": "hold",
            "hold": hold.pk,
            "branch": hold.pickup_branch.code,
            "branch_name": hold.pickup_branch.name,
            "until": _date(hold.expires_on),
            "card_end": "",
        }
        if hold.patron_id:
            owner = patrons.get_patron(hold.patron_id)
            if owner is not None and _may(request, NAME_CODE, owner.home_branch_id):
                try:
                    card = patrons.reveal(
                        owner, ["card_number"], actor=_actor(request), purpose=SLIP_PURPOSE
                    )["card_number"]
                except patrons.PatronError:
                    card = None
                slip["card_end"] = (card or "")[-4:]
        return slip
    return None


def _routing_message(routing: dict) -> str:
    status = routing.get("status")
    if status == ItemStatus.ON_HOLD_SHELF:
        return _("Put it on the hold shelf for pickup here (hold %(hold)s).") % {
            "hold": routing.get("hold")
        }
    if status == ItemStatus.IN_TRANSIT:
        if routing.get("hold"):
            return _("Send it in transit to %(branch)s for a hold (hold %(hold)s).") % {
                "branch": routing.get("transit_to"),
                "hold": routing.get("hold"),
            }
        return _("Send it in transit to %(branch)s.") % {"branch": routing.get("transit_to")}
    if status == ItemStatus.AVAILABLE:
        return _("Reshelve it.")
    return _("Keep it aside: its status is “%(status)s”.") % {
        "status": ItemStatus(status).label if status in ItemStatus.values else status
    }


def _checkin_html(request: HttpRequest, result: dict) -> str:
    return render_to_string(
        "staff/desk/circ_checkin_result.html", {"result": result}, request=request
    )


@permission_required(LOAN_CODE, branch_of=desk_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def checkin(request: HttpRequest) -> HttpResponse:
    """Scan items back in; each answer says where the copy goes, with its slip."""
    back = reverse("staff:desk_circ_checkin")
    if request.method == "GET":
        outcome = _outcome(request)
        result = None
        if outcome and outcome.get("routing"):
            result = {**outcome, "slip": _slip(request, outcome["routing"])}
        return _page(
            request, "staff/desk/circ_checkin.html", {"outcome": outcome, "result": result}
        )
    barcode = _scan(request, "barcode")
    try:
        done = circulation.checkin(
            barcode, branch=_branch(request).code, actor=_actor(request), purpose=PURPOSE
        )
    except (CirculationError, AccessDenied) as exc:
        return _refusal(request, exc, back)
    r = done.routing
    routing = {"status": str(r.status), "transit_to": r.transit_to, "hold": r.hold_id}
    message = _routing_message(routing)
    if not done.was_on_loan:
        message = _("It was not on loan.") + " " + message
    if done.days_late:
        message += " " + _("Returned %(n)d days late.") % {"n": done.days_late}
    title = _title_of(barcode)
    # No title or barcode in the session: a patron may be at the checkout desk in it.
    keep = {"routing": routing}
    if not _wants_json(request):
        return _answer(request, ok=True, code=CHECKED_IN, message=message, back=back, keep=keep)
    result = {
        "ok": True,
        "message": message,
        "routing": routing,
        "title": title,
        "barcode": barcode,
        "slip": _slip(request, routing),
    }
    return _answer(
        request,
        ok=True,
        code=CHECKED_IN,
        message=message,
        back=back,
        html=_checkin_html(request, result),
        routing=routing,
        title=title,
    )


# --- renew --------------------------------------------------------------------------------


@permission_required(LOAN_CODE, branch_of=desk_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def renew(request: HttpRequest) -> HttpResponse:
    """Scan an item to renew its loan; from the checkout panel, only the patron's own loans."""
    from_panel = request.POST.get("from") == "checkout"
    back = reverse("staff:desk_circ_checkout" if from_panel else "staff:desk_circ_renew")
    if request.method == "GET":
        return _page(request, "staff/desk/circ_renew.html", {})
    barcode = _scan(request, "barcode")
    patron_id = _current_patron(request) if from_panel else None
    if from_panel and patron_id is None:
        return _answer(
            request, ok=False, code=NO_PATRON, message=_("Scan the patron's card first."), back=back
        )
    try:
        loan = circulation.renew(
            barcode,
            actor=_actor(request),
            purpose=PURPOSE,
            patron=patron_id,
            branch=_branch(request).code,
        )
    except (CirculationError, AccessDenied) as exc:
        return _refusal(request, exc, back)
    due = loan.due_on.isoformat()
    return _answer(
        request,
        ok=True,
        code=RENEWED,
        message=_("Renewed: due %(date)s.") % {"date": due},
        back=back,
        barcode=barcode,
        due_on=due,
        renewals=loan.renewals,
    )


# --- holds -----------------------------------------------------------------------------------


def _find_record(text: str):
    """A title by control number, or the title of the item with this barcode."""
    if not text:
        return None, None
    item = Item.objects.filter(barcode=text).select_related("record").first()
    if item is not None:
        return item.record, item
    return catalog.get_record(text), None


def _branches() -> list[dict]:
    return [{"code": b.code, "name": b.name} for b in Branch.objects.order_by("code")]


@permission_required(LOAN_CODE, branch_of=desk_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def hold_place(request: HttpRequest) -> HttpResponse:
    """Place a hold: the card (or the patron at the checkout desk), a title or an item, a pickup."""
    back = reverse("staff:desk_circ_hold_place")
    if request.method == "GET":
        context = {
            "branches": _branches(),
            "has_patron": _current_patron(request) is not None,
        }
        return _page(request, "staff/desk/circ_hold_place.html", context)
    card = _scan(request, "card")
    try:
        if card:
            patron_id = circulation.find_patron(card).pk
        else:
            patron_id = _current_patron(request)
            if patron_id is None:
                return _answer(
                    request,
                    ok=False,
                    code=NO_PATRON,
                    message=_("Scan the patron's card first."),
                    back=back,
                )
        wanted = _scan(request, "title")
        record, item = _find_record(wanted)
        if record is None:
            return _answer(
                request,
                ok=False,
                code="unknown_record",
                message=_("No title has this control number, and no item this barcode."),
                back=back,
            )
        pickup = str(request.POST.get("pickup", "")).strip() or _branch(request).code
        exact = request.POST.get("level") == "item" and item is not None
        hold = circulation.place_hold(
            patron_id,
            pickup_branch=pickup,
            record=None if exact else record.pk,
            barcode=item.barcode if exact else None,
            actor=_actor(request),
            purpose=PURPOSE,
        )
    except (CirculationError, AccessDenied) as exc:
        return _refusal(request, exc, back)
    message = _("Hold %(hold)d placed for pickup at %(branch)s.") % {
        "hold": hold.pk,
        "branch": hold.pickup_branch.code,
    }
    return _answer(request, ok=True, code=HOLD_PLACED, message=message, back=back, hold=hold.pk)


_BACKS = {
    "checkout": "staff:desk_circ_checkout",
    "queue": "staff:desk_circ_hold_queue",
    "shelf": "staff:desk_circ_hold_shelf",
}


@permission_required(LOAN_CODE, branch_of=desk_branch)
@csrf_protect
@require_POST
def hold_cancel(request: HttpRequest) -> HttpResponse:
    """Cancel one hold (its number in the form); the service checks the pickup branch too."""
    back = reverse(_BACKS.get(request.POST.get("from", ""), "staff:desk_circ_hold_queue"))
    if request.POST.get("from") == "queue" and request.POST.get("q"):
        back += "?" + _query(request.POST.get("q", ""))
    try:
        hold_id = int(request.POST.get("hold", ""))
    except ValueError:
        return _answer(
            request, ok=False, code="invalid", message=_("Choose the hold to cancel."), back=back
        )
    patron_id = _current_patron(request) if request.POST.get("from") == "checkout" else None
    try:
        circulation.cancel_hold(hold_id, actor=_actor(request), purpose=PURPOSE, patron=patron_id)
    except (CirculationError, AccessDenied) as exc:
        return _refusal(request, exc, back)
    return _answer(
        request,
        ok=True,
        code=HOLD_CANCELLED,
        message=_("Hold %(hold)d cancelled.") % {"hold": hold_id},
        back=back,
        hold=hold_id,
    )


def _query(text: str) -> str:
    from django.utils.http import urlencode

    return urlencode({"q": text})


@permission_required(LOAN_CODE, branch_of=desk_branch)
@require_GET
def hold_queue(request: HttpRequest) -> HttpResponse:
    """The holds on a title in queue order (no patrons named), by control number or item barcode."""
    wanted = "".join(request.GET.get("q", "").split())[:SCAN_MAX]
    record, _item = _find_record(wanted)
    context = {"q": wanted, "record": None, "queue": []}
    status = 200
    if wanted and record is None:
        context["not_found"] = True
        status = 404
    elif record is not None:
        labels = dict(HoldStatus.choices)
        context["record"] = {"title": record.title, "control_number": record.control_number}
        context["queue"] = [
            {**row, "status_label": labels.get(row["status"], row["status"])}
            for row in circulation.hold_queue(record.pk)
        ]
    return _page(request, "staff/desk/circ_hold_queue.html", context, status=status)


@permission_required(LOAN_CODE, branch_of=desk_branch)
@require_GET
def hold_shelf(request: HttpRequest) -> HttpResponse:
    """What waits on this branch's hold shelf, by pickup number (no patron named)."""
    shelf = circulation.hold_shelf(desk_branch(request), limit=LIST_LIMIT)
    return _page(request, "staff/desk/circ_hold_shelf.html", {"shelf": shelf})


@permission_required(LOAN_CODE, branch_of=desk_branch)
@require_GET
def transit(request: HttpRequest) -> HttpResponse:
    """Items in transit to this branch, and those on their way from it to another branch."""
    context = circulation.in_transit(desk_branch(request), limit=LIST_LIMIT)
    return _page(request, "staff/desk/circ_transit.html", context)
