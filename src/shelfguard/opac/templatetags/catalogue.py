"""Template filters that turn catalogue codes into what a reader expects to see."""

from __future__ import annotations

from django import template
from django.conf import settings
from stdnum import isbn
from stdnum.exceptions import ValidationError

from shelfguard.opac import languages

register = template.Library()


@register.filter
def language_name(code: str) -> str:
    return languages.language_name(code)


@register.filter
def language_tag(code: str) -> str:
    return languages.language_tag(code)


@register.filter
def as_phrase(heading: str) -> str:
    """A heading as a quoted phrase query, so its link finds that heading, not its words anywhere.

    Search treats only double quotes specially; one inside the heading would
    end the phrase early, so it becomes a space.
    """
    return '"' + heading.replace('"', " ") + '"'


@register.filter
def hyphenated_isbn(number: str) -> str:
    """An ISBN with its group, publisher and title parts separated, as printed on books.

    Records hold only valid ISBNs, but `format` would mangle anything else, so
    a value that fails the check digit is shown exactly as stored.
    """
    try:
        return isbn.format(isbn.validate(number))
    except ValidationError:
        return number


@register.simple_tag
def query_max_length() -> int:
    """The longest query the search backends accept, so the box stops typing there."""
    return settings.SEARCH_MAX_QUERY_LENGTH
