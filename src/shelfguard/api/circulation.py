"""Circulation over the API: check out, check in, renew, place holds.

Each handler checks the token's scope and the staff member's permission for
the branch the action happens at (before any patron is looked up, so a token
without the permission cannot probe card numbers), then calls the one
circulation service with the staff member as the actor on the `api`
channel. The service checks the permission again, does the work in one
transaction and writes the ledger entry. Refusals of the service
(`CirculationError`) become JSON bodies with its stable `code`.

Nothing here answers with a patron's name or id: the caller already knows the
card it sent, and a checked-in item says only whether a hold is waiting.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from ninja import Field, NinjaAPI, Router, Schema, Status
from ninja.decorators import decorate_view

from shelfguard.api import services
from shelfguard.api.auth import StaffToken, authenticated
from shelfguard.api.schemas import ProblemOut
from shelfguard.catalog.services import get_record
from shelfguard.circulation import errors as circulation_errors
from shelfguard.circulation import services as circulation
from shelfguard.core.models import Branch, branch_code_validator

CIRCULATION = services.Access(scopes=("circulation",), permissions=("circulation.loan",))

BARCODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
BRANCH = branch_code_validator.regex.pattern
EXAMPLE_CARD = "21234000012345"

# Refusal codes of the circulation services that mean "no such thing".
NOT_FOUND = frozenset(
    {
        circulation_errors.UNKNOWN_ITEM,
        circulation_errors.UNKNOWN_PATRON,
        circulation_errors.UNKNOWN_BRANCH,
        circulation_errors.UNKNOWN_HOLD,
        circulation_errors.UNKNOWN_RECORD,
    }
)

ERRORS = {
    400: ProblemOut,
    401: ProblemOut,
    403: ProblemOut,
    404: ProblemOut,
    409: ProblemOut,
    429: ProblemOut,
}

router = Router(tags=["circulation"], auth=StaffToken())


def status_of(exc: circulation.CirculationError) -> int:
    if exc.code in NOT_FOUND:
        return 404
    if exc.code == circulation_errors.INVALID:
        return 400
    return 409


def install(api: NinjaAPI) -> None:
    """Add the circulation endpoints and the answer to their refusals to `api`."""

    @api.exception_handler(circulation.CirculationError)
    def refused(request: HttpRequest, exc: circulation.CirculationError) -> HttpResponse:
        return api.create_response(
            request, {"code": exc.code, "detail": exc.message}, status=status_of(exc)
        )

    api.add_router("/", router)


# --- schemas -------------------------------------------------------------------


def _card_field() -> object:
    return Field(
        ...,
        min_length=1,
        max_length=64,
        description="The patron's library card number (spaces are ignored).",
        examples=[EXAMPLE_CARD],
    )


def _barcode_field() -> object:
    return Field(
        ..., pattern=BARCODE, description="The item's barcode.", examples=["31234000012345"]
    )


def _branch_field(what: str) -> object:
    return Field(
        None,
        pattern=BRANCH,
        description=f"Branch code {what}; default: the token's staff member's home branch.",
        examples=["MAIN"],
    )


class CheckoutIn(Schema):
    patron_card: str = _card_field()
    barcode: str = _barcode_field()
    branch: str | None = _branch_field("where the item is lent")


class CheckoutOut(Schema):
    barcode: str
    due_on: dt.date = Field(description="The last day of the loan.")
    due_at: dt.datetime = Field(description="The branch's closing time on that day (UTC).")
    hold_filled: bool = Field(description="True when this loan filled the patron's own hold.")


class CheckinIn(Schema):
    barcode: str = _barcode_field()
    branch: str | None = _branch_field("where the item is returned")


class CheckinOut(Schema):
    barcode: str
    was_on_loan: bool
    status: str = Field(
        description="The item's status now, e.g. available, in_transit, on_hold_shelf."
    )
    transit_to: str | None = Field(description="Branch code to send the item to, if any.")
    for_hold: bool = Field(description="True when the item is set aside for a waiting hold.")
    days_late: int
    charge_cents: int = Field(description="Late charge raised by this return, in cents.")


class RenewIn(Schema):
    barcode: str = _barcode_field()
    patron_card: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="If given, the renewal is refused unless the loan is this patron's.",
        examples=[EXAMPLE_CARD],
    )
    branch: str | None = _branch_field("where the renewal is made")


class RenewOut(Schema):
    barcode: str
    due_on: dt.date
    renewals: int = Field(description="How many times this loan has been renewed.")


class HoldIn(Schema):
    patron_card: str = _card_field()
    pickup_branch: str | None = _branch_field("where the patron collects the item")
    control_number: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Hold the title (any copy). Give this or `barcode`, not both.",
    )
    barcode: str | None = Field(
        None, pattern=BARCODE, description="Hold this one copy. Give this or `control_number`."
    )


class HoldOut(Schema):
    hold_id: int
    status: str
    pickup_branch: str
    control_number: str
    barcode: str | None
    placed_at: dt.datetime


# --- handlers ------------------------------------------------------------------


def _branch(auth: services.Authenticated, code: str | None) -> Branch:
    if code is None:
        return auth.staff.branch
    found = Branch.objects.filter(code=code.strip().upper()).first()
    if found is None:
        raise circulation.CirculationError(
            circulation_errors.UNKNOWN_BRANCH, "There is no such branch."
        )
    return found


def _allowed(request: HttpRequest, branch_code: str | None, purpose: str):
    """Scope and permission for the branch; returns (auth, branch)."""
    auth = authenticated(request)
    services.check_scope(auth, CIRCULATION)
    branch = _branch(auth, branch_code)
    services.authorise(auth, CIRCULATION, branch=branch.pk, purpose=purpose)
    return auth, branch


@router.post(
    "/circulation/checkout",
    response={200: CheckoutOut, **ERRORS},
    summary="Lend an item to a patron (scope circulation)",
    description=(
        "Refusals (blocked patron, limit reached, item on hold for someone else ...) are 409 "
        "with the circulation service's code."
    ),
)
@decorate_view(never_cache)
def checkout(request: HttpRequest, body: CheckoutIn) -> CheckoutOut:
    purpose = "checkout"
    auth, branch = _allowed(request, body.branch, purpose)
    patron = circulation.find_patron(body.patron_card)
    result = circulation.checkout(
        patron, body.barcode, branch=branch, actor=auth.actor, purpose=purpose
    )
    return CheckoutOut(
        barcode=body.barcode,
        due_on=result.due_on,
        due_at=result.due_at,
        hold_filled=result.hold_filled,
    )


@router.post(
    "/circulation/checkin",
    response={200: CheckinOut, **ERRORS},
    summary="Take an item back (scope circulation)",
)
@decorate_view(never_cache)
def checkin(request: HttpRequest, body: CheckinIn) -> CheckinOut:
    purpose = "checkin"
    auth, branch = _allowed(request, body.branch, purpose)
    result = circulation.checkin(body.barcode, branch=branch, actor=auth.actor, purpose=purpose)
    return CheckinOut(
        barcode=body.barcode,
        was_on_loan=result.was_on_loan,
        status=str(result.routing.status),
        transit_to=result.routing.transit_to,
        for_hold=result.routing.hold_id is not None,
        days_late=result.days_late,
        charge_cents=result.charge_cents,
    )


@router.post(
    "/circulation/renew",
    response={200: RenewOut, **ERRORS},
    summary="Renew a loan (scope circulation)",
)
@decorate_view(never_cache)
def renew(request: HttpRequest, body: RenewIn) -> RenewOut:
    purpose = "renewal"
    auth, branch = _allowed(request, body.branch, purpose)
    patron = circulation.find_patron(body.patron_card) if body.patron_card else None
    loan = circulation.renew(
        body.barcode, patron=patron, branch=branch, actor=auth.actor, purpose=purpose
    )
    return RenewOut(barcode=body.barcode, due_on=loan.due_on, renewals=loan.renewals)


@router.post(
    "/holds",
    response={201: HoldOut, **ERRORS},
    summary="Place a hold for a patron (scope circulation)",
)
@decorate_view(never_cache)
def place_hold(request: HttpRequest, body: HoldIn) -> Status:
    purpose = "hold request"
    auth, pickup = _allowed(request, body.pickup_branch, purpose)
    record = None
    if body.control_number is not None:
        record = get_record(body.control_number)
        if record is None:
            raise circulation.CirculationError(
                circulation_errors.UNKNOWN_RECORD, "There is no record with this control number."
            )
    patron = circulation.find_patron(body.patron_card)
    hold = circulation.place_hold(
        patron,
        pickup_branch=pickup,
        record=record.pk if record is not None else None,
        barcode=body.barcode,
        actor=auth.actor,
        purpose=purpose,
    )
    return Status(
        201,
        HoldOut(
            hold_id=hold.pk,
            status=str(hold.status),
            pickup_branch=pickup.code,
            control_number=hold.record.control_number,
            barcode=hold.item.barcode if hold.item_id else None,
            placed_at=hold.placed_at,
        ),
    )
