"""The read-only public JSON API over the catalogue.

Handlers translate query parameters into catalogue service calls and shape
the answer; they never reach past the catalogue services. Nothing here sets
a cookie or needs one, and ninja's interactive docs page is switched off
because it loads its scripts from a CDN.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from ninja import NinjaAPI, Query
from ninja.decorators import decorate_view
from ninja.errors import HttpError, ValidationError

from shelfguard.api.schemas import (
    BranchHoldingsOut,
    ErrorOut,
    ItemOut,
    RecordOut,
    SearchOut,
    SearchParams,
)
from shelfguard.catalog.search import SearchError, SearchRequest
from shelfguard.catalog.services import get_record, holdings_by_branch, search_catalogue
from shelfguard.core.actors import Actor

# Same freshness as the catalogue pages: availability may lag by a minute.
MAX_AGE = 60

api = NinjaAPI(
    title="Shelfguard API",
    version="1",
    description="Read-only access to the public catalogue: search and record details.",
    urls_namespace="api-v1",
    docs_url=None,
)


@api.exception_handler(ValidationError)
def invalid_parameters(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """A 400 naming each bad parameter, instead of ninja's 422 with pydantic internals."""
    problems = []
    for error in exc.errors:
        name = ".".join(str(part) for part in error.get("loc", ())[1:]) or _("request")
        problems.append(f"{name}: {error.get('msg', _('invalid value'))}")
    return api.create_response(request, {"detail": "; ".join(problems)}, status=400)


@api.get(
    "/search",
    response={200: SearchOut, 400: ErrorOut},
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
    "/records/{path:control_number}",
    response={200: RecordOut, 404: ErrorOut},
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
