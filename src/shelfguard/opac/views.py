"""The public catalogue: home, search results and record pages.

Anyone may use these pages, signed in or not, so they keep nothing about who
looks: no session, no CSRF token (every form is a GET), no cookie of any
kind. Because every visitor sees the same page for the same address, shared
caches may keep them for a short while.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from shelfguard.catalog.models import ItemType
from shelfguard.catalog.search import SearchError, SearchResult
from shelfguard.catalog.services import get_record, holdings_by_branch, search_catalogue
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.opac.forms import FILTER_FIELDS, MAX_PAGE, SearchForm
from shelfguard.opac.languages import language_name

# Availability changes as items go out and come back; a minute of staleness
# in a shared cache is what we accept for not recomputing every page view.
RESULTS_MAX_AGE = 60
HOME_MAX_AGE = 300

# Page links shown either side of the current page before an ellipsis.
PAGE_WINDOW = 2

FACET_HEADINGS = {
    "language": gettext_lazy("Language"),
    "year": gettext_lazy("Decade"),
    "branch": gettext_lazy("Available at"),
    "item_type": gettext_lazy("Item type"),
}


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    count: int | None = None
    current: bool = False


@dataclass(frozen=True)
class Facet:
    name: str
    heading: str
    links: list[Link]


@require_safe
@cache_control(public=True, max_age=HOME_MAX_AGE)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "opac/home.html")


@require_safe
@cache_control(public=True, max_age=RESULTS_MAX_AGE)
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    context: dict[str, object] = {"form": form}
    if not form.is_valid():
        return render(request, "opac/results.html", context, status=400)
    query = form.cleaned_data["q"]
    if not query:
        context["needs_words"] = True
        return render(request, "opac/results.html", context)

    page_size = settings.SEARCH_PAGE_SIZE
    page = form.page_number()
    try:
        result = search_catalogue(form.search_request(page_size), actor=Actor.public("web"))
    except SearchError as exc:
        context["search_error"] = str(exc)
        return render(request, "opac/results.html", context, status=400)

    filters = form.filters()
    labels = Labels(result, filters)
    last_page = min(max(1, math.ceil(result.total / page_size)), MAX_PAGE)
    first_shown = (page - 1) * page_size + 1
    context.update(
        query=query,
        result=result,
        page=page,
        last_page=last_page,
        first_shown=first_shown,
        last_shown=first_shown + len(result.hits) - 1,
        facets=_facets(result, query, filters, labels),
        active_filters=_active_filters(query, filters, labels),
        pages=_page_links(query, filters, page, last_page),
        previous_url=_search_url(query, filters, page - 1) if page > 1 else None,
        next_url=_search_url(query, filters, page + 1) if page < last_page else None,
        last_page_url=_search_url(query, filters, last_page),
    )
    return render(request, "opac/results.html", context)


@require_safe
@cache_control(public=True, max_age=RESULTS_MAX_AGE)
def record(request: HttpRequest, control_number: str) -> HttpResponse:
    found = get_record(control_number)
    if found is None:
        raise Http404(_("There is no record with this number."))
    return render(
        request,
        "opac/record.html",
        {"record": found, "holdings": holdings_by_branch(found)},
    )


def _search_url(query: str, filters: dict[str, str | int], page: int = 1) -> str:
    params: list[tuple[str, str | int]] = [("q", query)]
    params += [(name, filters[name]) for name in FILTER_FIELDS if name in filters]
    if page > 1:
        params.append(("page", page))
    return f"{reverse('opac:search')}?{urlencode(params)}"


def _decade(value: str) -> int | None:
    """The first year of a decade facet value ("1990"), or None if it is not one."""
    try:
        year = int(value)
    except ValueError:
        return None
    return year - year % 10 if year > 0 else None


def _decade_label(start: int) -> str:
    # Translators: a decade named by its first year, e.g. "1990s".
    return _("%(decade)ss") % {"decade": start}


def _facets(
    result: SearchResult, query: str, filters: dict[str, str | int], labels: Labels
) -> list[Facet]:
    """Each facet value as a link that adds its filter (replacing one of the same kind)."""
    facets = []
    for name, heading in FACET_HEADINGS.items():
        links = []
        for facet_value in result.facets.get(name, []):
            if name == "year":
                start = _decade(facet_value.value)
                if start is None:
                    continue
                label = _decade_label(start)
                chosen: dict[str, str | int] = {"year_from": start, "year_to": start + 9}
            else:
                label = labels.label(name, facet_value.value)
                chosen = {name: facet_value.value}
            links.append(
                Link(
                    label=label,
                    url=_search_url(query, {**filters, **chosen}),
                    count=facet_value.count,
                    current=all(filters.get(key) == want for key, want in chosen.items()),
                )
            )
        if links:
            facets.append(Facet(name=name, heading=str(heading), links=links))
    return facets


def _active_filters(query: str, filters: dict[str, str | int], labels: Labels) -> list[Link]:
    """Each filter in use, described in words, with a link that removes it."""

    def without(*names: str) -> str:
        return _search_url(query, {k: v for k, v in filters.items() if k not in names})

    active = []
    if "language" in filters:
        name = labels.label("language", str(filters["language"]))
        active.append(Link(_("Language: %(language)s") % {"language": name}, without("language")))
    if "year_from" in filters or "year_to" in filters:
        active.append(Link(_year_label(filters), without("year_from", "year_to")))
    if "branch" in filters:
        name = labels.label("branch", str(filters["branch"]))
        active.append(Link(_("Available at: %(branch)s") % {"branch": name}, without("branch")))
    if "item_type" in filters:
        name = labels.label("item_type", str(filters["item_type"]))
        active.append(Link(_("Item type: %(type)s") % {"type": name}, without("item_type")))
    return active


def _year_label(filters: dict[str, str | int]) -> str:
    year_from, year_to = filters.get("year_from"), filters.get("year_to")
    if year_from and year_to:
        if isinstance(year_from, int) and year_from % 10 == 0 and year_to == year_from + 9:
            return _("Published in the %(decade)s") % {"decade": _decade_label(year_from)}
        return _("Published %(first)s–%(last)s") % {"first": year_from, "last": year_to}
    if year_from:
        return _("Published in or after %(year)s") % {"year": year_from}
    return _("Published in or before %(year)s") % {"year": year_to}


def _page_links(
    query: str, filters: dict[str, str | int], page: int, last_page: int
) -> list[Link | None]:
    """Links to the first, last and nearby pages; None stands for a gap."""
    if last_page <= 1:
        return []
    wanted = {1, last_page, *range(page - PAGE_WINDOW, page + PAGE_WINDOW + 1)}
    numbers = sorted(n for n in wanted if 1 <= n <= last_page)
    links: list[Link | None] = []
    for previous, number in zip([0, *numbers], numbers):
        if number - previous > 1:
            links.append(None)
        links.append(
            Link(label=str(number), url=_search_url(query, filters, number), current=number == page)
        )
    return links


class Labels:
    """Display names for the codes in facets and filters, looked up once per page.

    Branch and item-type names are public reference data, not personal, so
    the page reads them directly rather than through a service door.
    """

    def __init__(self, result: SearchResult, filters: dict[str, str | int]) -> None:
        self._names = {
            name: _names(model, [v.value for v in result.facets.get(name, [])], filters.get(name))
            for name, model in (("branch", Branch), ("item_type", ItemType))
        }

    def label(self, facet: str, code: str) -> str:
        if facet == "language":
            return language_name(code)
        return self._names.get(facet, {}).get(code, code)


def _names(
    model: type[Branch | ItemType], codes: list[str], chosen: str | int | None
) -> dict[str, str]:
    wanted = set(codes) | ({str(chosen)} if chosen else set())
    if not wanted:
        return {}
    return dict(model.objects.filter(code__in=wanted).values_list("code", "name"))
