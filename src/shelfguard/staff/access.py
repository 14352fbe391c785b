"""Who may open a staff page: signed in with a second factor, and holding a permission.

Every staff view is wrapped in `staff_required` (any signed-in staff member,
for their own account pages) or `permission_required(code)` (the permission
decided by `accounts.services.has_permission`, certification and break-glass
included). Both record what they demand on the view as `staff_access`, so
the every-URL x every-role test can read each page's rule from the page
itself and no page can be added without one.
"""

from __future__ import annotations

import functools

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy

from shelfguard.accounts import sessions

ENDED_MESSAGES = {
    sessions.IDLE: gettext_lazy("You were signed out after a period without activity."),
    sessions.ABSOLUTE: gettext_lazy(
        "You were signed out because your session reached its time limit."
    ),
    sessions.ENDED: gettext_lazy("That session was ended."),
    sessions.DISABLED: gettext_lazy("This account has been disabled."),
    sessions.SIGNED_OUT: gettext_lazy("You have signed out."),
}


def source_of(request: HttpRequest) -> str:
    # The direct peer. Behind a proxy the deployment must set REMOTE_ADDR from
    # the trusted proxy's header; a client-supplied header is never believed.
    return request.META.get("REMOTE_ADDR", "")


_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("Mac OS", "macOS"),
    ("Linux", "Linux"),
)


def client_of(request: HttpRequest) -> str:
    """A coarse description of the browser, enough to recognise one's own sessions."""
    agent = request.META.get("HTTP_USER_AGENT", "")[:512]
    browser = next((name for mark, name in _BROWSERS if mark in agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in agent), "")
    return " / ".join(part for part in (browser, system) if part)


def _to_login(request: HttpRequest) -> HttpResponseRedirect:
    query = {"next": request.path} if request.method == "GET" else {}
    if request.staff_session_ended in ENDED_MESSAGES:
        query["ended"] = request.staff_session_ended
    url = reverse("staff:login")
    return redirect(f"{url}?{urlencode(query)}" if query else url)


def staff_required(view):
    """Signed in with a password and a second factor, in a live registered session."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if (
            not user.is_authenticated
            or not user.is_verified()
            or getattr(request, "staff_session", None) is None
        ):
            return _to_login(request)
        return view(request, *args, **kwargs)

    wrapped.staff_access = "signed-in"
    return wrapped




def public_page(view):
    """Mark a page any visitor may open (sign-in steps); it guards itself."""
    view.staff_access = "public"
    return view


def permission_required(code: str, *, branch_of=None):
    """Signed in as `staff_required`, and holding `code` now.

    `branch_of(request, **kwargs)` may name the branch the page acts on, for
    branch-scoped roles; without it the permission must hold library-wide.
    A refusal is a 403 page that says why (expired certification, missing
    permission), never a redirect that hides it.
    """
    from shelfguard.accounts import services

    def decorate(view):
        @functools.wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            branch = branch_of(request, **kwargs) if branch_of is not None else None
            decision = services.has_permission(request.user, code, branch=branch)
            if not decision:
                return refused(request, decision.reason)
            return view(request, *args, **kwargs)

        guarded = staff_required(checked)
        guarded.staff_access = code
        guarded.staff_branch_of = branch_of
        return guarded

    return decorate


def refused(request: HttpRequest, reason: str) -> HttpResponse:
    """The 403 page for a signed-in staff member who may not do this."""
    from django.shortcuts import render

    return render(request, "staff/refused.html", {"reason": reason}, status=403)
