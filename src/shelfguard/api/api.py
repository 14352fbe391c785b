"""The JSON API: the public catalogue, and staff endpoints behind API tokens.

Handlers translate requests into service calls and shape the answer; they
never reach past the services. The catalogue endpoints (search, records)
are public and cacheable. The staff endpoints need a bearer token
(`services.authenticate`), a scope on it and the staff member's own
permission, checked on every request; their answers are never cached.
Nothing here sets a cookie or reads one, and ninja's interactive docs page
is switched off because it loads its scripts from a CDN.

Messages of the staff endpoints are in English only: their clients are
programs, which should match on the `code` of an error body.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import register_converter
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control, never_cache
from ninja import NinjaAPI, Path, Query, Status
from ninja.decorators import decorate_view
from ninja.errors import AuthenticationError, HttpError, ValidationError

from shelfguard.accounts.services import AccessDenied
from shelfguard.api import circulation as circulation_api
from shelfguard.api import services
from shelfguard.api.auth import REALM, StaffToken, authenticated
from shelfguard.api.schemas import (
    BranchHoldingsOut,
    ItemDetailOut,
    ItemOut,
    ProblemOut,
    RecordOut,
    SearchOut,
    SearchParams,
)
from shelfguard.catalog.search import SearchError, SearchRequest
from shelfguard.catalog.services import get_record, holdings_by_branch, search_catalogue
from shelfguard.core.actors import Actor

# Same freshness as the catalogue pages: availability may lag by a minute.
MAX_AGE = 60


class AnyText:
    """Django's `path` converter, but matching line breaks too.

    With `path`, a control number or barcode holding an encoded newline
    matched no URL at all, and the answer was the HTML 404 page.
    """

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AnyText, "anytext")

api = NinjaAPI(
    title="Shelfguard API",
    version="1",
    description=(
        "The public catalogue (search and record details, no sign-in), and staff endpoints "
        "that need a staff API token (`Authorization: Bearer sgt_...`) with the right scope. "
        "A token never allows more than its staff member's own permissions allow right now."
    ),
    urls_namespace="api-v1",
    docs_url=None,
)

staff_token = StaffToken()

# What every staff endpoint may answer besides its own results.
STAFF_ERRORS = {400: ProblemOut, 401: ProblemOut, 403: ProblemOut, 429: ProblemOut}


@api.exception_handler(ValidationError)
def invalid_parameters(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """A 400 naming each bad parameter, instead of ninja's 422 with pydantic internals."""
    problems = []
    for error in exc.errors:
        name = ".".join(str(part) for part in error.get("loc", ())[1:]) or _("request")
        problems.append(f"{name}: {error.get('msg', _('invalid value'))}")
    return api.create_response(
        request, {"code": "invalid_request", "detail": "; ".join(problems)}, status=400
    )


def _problem(request: HttpRequest, status: int, code: str, detail: str) -> HttpResponse:
    return api.create_response(request, {"code": code, "detail": detail}, status=status)


HTTP_ERROR_CODES = {400: "invalid_request", 404: "not_found"}


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """Handlers' own refusals, and ninja's (a body that is not JSON), with a code too."""
    code = HTTP_ERROR_CODES.get(exc.status_code, "error")
    return _problem(request, exc.status_code, code, str(exc))


@api.exception_handler(AuthenticationError)
def no_credentials(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    """No bearer token at all (ninja's own refusal)."""
    response = _problem(
        request,
        401,
        "not_authenticated",
        "This endpoint needs a staff API token: Authorization: Bearer sgt_...",
    )
    response["WWW-Authenticate"] = f'Bearer realm="{REALM}"'
    return response


@api.exception_handler(services.TokenRefused)
def token_refused(request: HttpRequest, exc: services.TokenRefused) -> HttpResponse:
    """Any wrong token: one message whatever was wrong, so nothing is learnt from it."""
    if exc.throttled:
        response = _problem(request, 429, "throttled", str(exc))
    else:
        response = _problem(request, 401, "not_authenticated", str(exc))
        response["WWW-Authenticate"] = f'Bearer realm="{REALM}", error="invalid_token"'
    if exc.retry_after:
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(services.ScopeMissing)
def scope_missing(request: HttpRequest, exc: services.ScopeMissing) -> HttpResponse:
    response = _problem(request, 403, "scope_missing", str(exc))
    response["WWW-Authenticate"] = (
        f'Bearer realm="{REALM}", error="insufficient_scope", scope="{" ".join(exc.needed)}"'
    )
    return response


@api.exception_handler(AccessDenied)
def access_denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    """The staff member's own permissions refuse (role, branch, certification, disabled)."""
    return _problem(request, 403, "permission_denied", str(exc.decision.reason))


@api.get(
    "/search",
    response={200: SearchOut, 400: ProblemOut},
    summary="Search the catalogue",
    tags=["catalogue"],
)
@decorate_view(cache_control(public=True, max_age=MAX_AGE))
def search(request: HttpRequest, params: Query[SearchParams]) -> dict:
    text = params.q.strip()
    if not text:
        raise HttpError(400, _("q: give one or more words to search for."))
    try:
        # SearchRequest itself refuses inconsistent requests (an empty year
        # range, say), so it is built inside the try too.
        wanted = SearchRequest(
            text=text,
            language=params.language,
            year_from=params.year_from,
            year_to=params.year_to,
            branch=params.branch,
            item_type=params.item_type,
            offset=params.offset,
            limit=params.limit,
        )
        result = search_catalogue(wanted, actor=Actor.public("api"))
    except SearchError as exc:
        raise HttpError(400, str(exc)) from exc
    return {"total": result.total, "hits": result.hits, "facets": result.facets}


@api.get(
    "/records/{anytext:control_number}",
    response={200: RecordOut, 404: ProblemOut},
    summary="One record with its holdings",
    tags=["catalogue"],
)
@decorate_view(cache_control(public=True, max_age=MAX_AGE))
def record(request: HttpRequest, control_number: str) -> RecordOut:
    found = get_record(control_number)
    if found is None:
        raise HttpError(404, _("There is no record with this control number."))
    holdings = [
        BranchHoldingsOut(
            branch_code=branch.branch_code,
            branch_name=branch.branch_name,
            available=branch.available,
            items=[
                ItemOut(
                    call_number=item.call_number,
                    location=item.location,
                    item_type=item.item_type.code,
                    status=item.status,
                )
                for item in branch.items
            ],
        )
        for branch in holdings_by_branch(found)
    ]
    return RecordOut(
        control_number=found.control_number,
        title=found.title,
        vernacular_title=found.vernacular_title,
        responsibility=found.responsibility,
        authors=found.authors,
        subjects=found.subjects,
        publisher=found.publisher,
        year=found.year,
        edition=found.edition,
        physical_description=found.physical_description,
        language=found.language,
        isbns=found.isbns,
        lccn=found.lccn,
        notes=found.notes,
        holdings=holdings,
    )


# --- staff endpoints ----------------------------------------------------------

EXAMPLE_BARCODE = "31234000012345"
ITEM_ACCESS = services.Access(
    scopes=("items", "circulation"), permissions=("catalog.change", "circulation.loan")
)


@api.get(
    "/items/{anytext:barcode}",
    response={200: ItemDetailOut, 404: ProblemOut, **STAFF_ERRORS},
    auth=staff_token,
    summary="One item by barcode (staff token, scope items or circulation)",
    description=(
        "The item's record, branch, status, type and call number. Nothing about who "
        "borrowed it. Needs a token with scope `items` or `circulation`, held by a staff "
        "member who may change the catalogue or lend items."
    ),
    tags=["items"],
)
@decorate_view(never_cache)
def item(
    request: HttpRequest,
    barcode: str = Path(
        ...,
        description="The item's barcode: 1-64 letters, digits, '.', '_' or '-'.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        # One `example` (a list of `examples` is not valid on an OpenAPI parameter).
        example=EXAMPLE_BARCODE,
    ),
) -> ItemDetailOut | Status:
    auth = authenticated(request)
    services.check_scope(auth, ITEM_ACCESS)
    found = services.find_item(barcode)
    # A branch-scoped role answers for its own branch; an unknown barcode is
    # checked against the staff member's own branch, so it is a 404, not a 403.
    services.authorise(
        auth,
        ITEM_ACCESS,
        purpose="item look-up",
        branch=found.branch_id if found else auth.staff.branch_id,
    )
    if found is None:
        return Status(404, {"code": "not_found", "detail": "There is no item with this barcode."})
    return ItemDetailOut(
        barcode=found.barcode,
        control_number=found.record.control_number,
        title=found.record.title,
        branch_code=found.branch.code,
        status=found.status,
        item_type=found.item_type.code,
        call_number=found.call_number,
        location=found.location,
    )


# Checkout, checkin, renew and holds, with the answer to circulation refusals.
circulation_api.install(api)
