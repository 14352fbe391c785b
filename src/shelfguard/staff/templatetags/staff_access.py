"""`{% may "code" as name %}`: whether to offer a link or button for a permission.

Only for showing or hiding links. It records nothing (a break-glass grant is
not "used" by drawing a menu), and the page behind the link still decides
with `has_permission` on the server.
"""

from __future__ import annotations

from django import template

from shelfguard.accounts import services

register = template.Library()


@register.simple_tag(takes_context=True)
def may(context, code: str, branch="any") -> bool:
    request = context.get("request")
    if request is None or getattr(request, "staff_session", None) is None:
        return False
    return services.may(request.user, code, branch=branch)
