"""Template filters that turn catalogue codes into what a reader expects to see."""

from __future__ import annotations

from django import template
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
def hyphenated_isbn(number: str) -> str:
    """An ISBN with its group, publisher and title parts separated, as printed on books.

    Records hold only valid ISBNs, but `format` would mangle anything else, so
    a value that fails the check digit is shown exactly as stored.
    """
    try:
        return isbn.format(isbn.validate(number))
    except ValidationError:
        return number
