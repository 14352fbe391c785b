"""Who may open a portal page: a patron in a live portal session. And no page is cached.

The portal keeps its own cookie, apart from the staff session: a random
token, HttpOnly, SameSite=Strict, limited to /account/, Secure (and
`__Secure-` prefixed) when the site runs over TLS. On a "public computer"
the cookie has no expiry, so it ends with the browser; otherwise it lasts
until the absolute timeout. Idle and absolute timeouts are enforced on the
server at every request (`sessions.check`), whatever the browser keeps.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy

from shelfguard.portal import config, sessions

ENDED_MESSAGES = {
    sessions.IDLE: gettext_lazy("You were signed out after a period without activity."),
    sessions.ABSOLUTE: gettext_lazy(
        "You were signed out because your session reached its time limit."
    ),
    sessions.ENDED: gettext_lazy("That session was ended."),
    sessions.SIGNED_OUT: gettext_lazy("You have signed out."),
    sessions.PASSWORD_CHANGED: gettext_lazy(
        "You were signed out because the password of this account was changed."
    ),
    sessions.FACTOR_CHANGED: gettext_lazy(
        "You were signed out because the sign-in settings of this account were changed."
    ),
    sessions.CLOSED: gettext_lazy("This card cannot use the library account pages now."),
}


def cookie_name() -> str:
    return "__Secure-shelfguard_portal" if settings.SESSION_COOKIE_SECURE else "shelfguard_portal"


def cookie_path() -> str:
    return reverse("portal:home")


def token_of(request: HttpRequest) -> str | None:
    return request.COOKIES.get(cookie_name())


def set_cookie(response: HttpResponse, token: str, *, public: bool) -> None:
    response.set_cookie(
        cookie_name(),
        token,
        # No Max-Age/Expires on a public computer: the cookie ends with the browser.
        max_age=None if public else int(config.absolute_timeout().total_seconds()),
        path=cookie_path(),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )


def clear_cookie(response: HttpResponse) -> None:
    response.delete_cookie(cookie_name(), path=cookie_path(), samesite="Strict")


def source_of(request: HttpRequest) -> str:
    # The direct peer, as for staff sign-in: a client-supplied header is never believed.
    return request.META.get("REMOTE_ADDR", "")


def no_store(view):
    """`Cache-Control: no-store` (and private, no-cache) on the response, whatever it is."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return wrapped


def local_next(value: object) -> str | None:
    """`value` if it is a path of the portal on this site (where to go after sign-in), else None.

    Only paths under the portal's own root are accepted: never a scheme, a
    host, a protocol-relative `//`, a backslash or a control character, so a
    link cannot send a patron who just signed in to another site.
    """
    if not isinstance(value, str) or not value or len(value) > 300:
        return None
    if "\\" in value or "//" in value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return None
    if not value.startswith(reverse("portal:home")):
        return None
    if not url_has_allowed_host_and_scheme(value, allowed_hosts=set()):
        return None
    return value


def return_here_after_sign_in(view):
    """Mark a page (under `patron_required`) the patron comes back to after signing in."""
    view.portal_return_here = True
    return view


def _to_login(request: HttpRequest, reason: str, next_path: str | None = None) -> HttpResponse:
    url = reverse("portal:login")
    query = {}
    if reason in ENDED_MESSAGES:
        query["ended"] = reason
    if next_path:
        query["next"] = next_path
    if query:
        url = f"{url}?{urlencode(query)}"
    response = redirect(url)
    if token_of(request) is not None:
        clear_cookie(response)
    return response


def patron_required(view):
    """A signed-in patron in a live session: sets `request.patron_session` and `request.patron`.

    Everything else (no cookie, a forged or ended token, a timeout, a card no
    longer active) goes to the sign-in page and the stale cookie is removed.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        session, reason = sessions.check(token_of(request))
        if session is None:
            back = None
            if request.method == "GET" and getattr(view, "portal_return_here", False):
                back = local_next(request.get_full_path())
            return _to_login(request, reason, back)
        request.patron_session = session
        request.patron = session.patron
        return view(request, *args, **kwargs)

    wrapped.portal_access = "patron"
    return no_store(wrapped)


def public_page(view):
    """A portal page anyone may open (sign-in steps, set-password link); it guards itself."""
    guarded = no_store(view)
    guarded.portal_access = "public"
    return guarded
