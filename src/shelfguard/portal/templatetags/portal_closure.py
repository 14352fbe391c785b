"""`{% closure_notice %}`: the patron's pending account closure, shown prominently.

A tag rather than a context variable so that any portal page (the account
home above all) shows it with one line, whichever view renders the page.
"""

from __future__ import annotations

from django import template

from shelfguard.portal.closure import closure_of

register = template.Library()


@register.inclusion_tag("portal/data/closure_notice.html", takes_context=True)
def closure_notice(context) -> dict:
    request = context.get("request")
    patron = getattr(request, "patron", None)
    return {
        "closure": closure_of(patron) if patron is not None else None,
        "csrf_token": context.get("csrf_token"),
    }
