"""The catalogue search form: the words plus the filters that facets add.

It is only ever submitted by GET, so it is never bound to a CSRF token and
the search pages can stay free of cookies.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from shelfguard.catalog.search import SearchRequest
from shelfguard.core.models import branch_code_validator

# Deep pages cost the database more than they help anyone: past this, the
# searcher is asked to narrow the search instead.
MAX_PAGE = 500

# The filters a results page can carry, in the order they appear in links.
FILTER_FIELDS = ("language", "year_from", "year_to", "branch", "item_type")


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search the catalogue"),
        required=False,
        max_length=settings.SEARCH_MAX_QUERY_LENGTH,
    )
    language = forms.RegexField(
        label=_("Language"),
        regex=r"^[A-Za-z]{3}$",
        required=False,
        error_messages={"invalid": _("A language is given as a three-letter code, e.g. eng.")},
    )
    year_from = forms.IntegerField(
        label=_("Published from"), required=False, min_value=1, max_value=9999
    )
    year_to = forms.IntegerField(
        label=_("Published to"), required=False, min_value=1, max_value=9999
    )
    branch = forms.CharField(
        label=_("Available at"),
        required=False,
        max_length=16,
        validators=[branch_code_validator],
    )
    item_type = forms.SlugField(label=_("Item type"), required=False, max_length=32)
    page = forms.IntegerField(
        label=_("Page"),
        required=False,
        min_value=1,
        max_value=MAX_PAGE,
        error_messages={
            "max_value": _(
                "Only the first %(limit_value)s pages can be shown; add words or filters "
                "to narrow the search."
            )
        },
    )

    def clean_language(self) -> str:
        return self.cleaned_data["language"].lower()

    def clean_branch(self) -> str:
        return self.cleaned_data["branch"].upper()

    def filters(self) -> dict[str, str | int]:
        """The filters in use, by field name; only valid after `is_valid()`."""
        return {
            name: self.cleaned_data[name]
            for name in FILTER_FIELDS
            if self.cleaned_data.get(name) not in (None, "")
        }

    def page_number(self) -> int:
        return self.cleaned_data.get("page") or 1

    def search_request(self, page_size: int) -> SearchRequest:
        """The request for this page; raises SearchError for a combination search refuses."""
        data = self.cleaned_data
        return SearchRequest(
            text=data["q"],
            language=data["language"] or None,
            year_from=data["year_from"],
            year_to=data["year_to"],
            branch=data["branch"] or None,
            item_type=data["item_type"] or None,
            offset=(self.page_number() - 1) * page_size,
            limit=page_size,
        )
