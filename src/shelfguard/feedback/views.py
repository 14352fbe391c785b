"""Public pages: anonymous feedback, the answers page, privacy requests and their status.

These pages set no cookie of any kind, like the public catalogue. Django's
CSRF protection is switched off for the two forms on purpose: it works by
tying a form to a cookie of the visitor's session, and these forms have no
session, no cookie and no signed-in state to protect (the portal cookie is
SameSite=Strict, so a cross-site post never carries it). What cross-site
posting could still do, flood the forms from another site's pages, is
refused by checking the browser's `Sec-Fetch-Site` and `Origin` headers,
and bounded by the per-address rate limit.

A privacy request "while signed in" reads the portal cookie when there is
one, without requiring it (`portal.services.check_session`); the same view
can therefore also be mounted under the portal's own path, where the
browser sends that cookie.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from shelfguard.core.actors import Actor
from shelfguard.feedback import config, services
from shelfguard.feedback.forms import SIGNED_IN, FeedbackForm, PrivacyRequestForm
from shelfguard.portal import access as portal_access
from shelfguard.portal import services as portal

ANSWERS_MAX_AGE = 300
FEEDBACK_PURPOSE = "anonymous feedback"
REQUEST_PURPOSE = "privacy request"


def too_large() -> str:
    return _("What you sent is too large for this form. Shorten the text and send it again.")


def from_elsewhere() -> str:
    return _(
        "This form can only be sent from this library's own pages. Open the form here and "
        "send it again."
    )


def source_of(request: HttpRequest) -> str:
    # The direct peer, as for sign-in: a client-supplied header is never believed.
    return request.META.get("REMOTE_ADDR", "")


def cross_site(request: HttpRequest) -> bool:
    """Did the browser say this POST comes from another site?

    `Sec-Fetch-Site` is sent by current browsers and cannot be set by a page;
    `Origin` by nearly all browsers on a POST. A request with neither (an
    old browser, a script) is let through: there is no session to ride on,
    and the rate limit still applies.
    """
    site = request.META.get("HTTP_SEC_FETCH_SITE")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.META.get("HTTP_ORIGIN")
    return origin is not None and origin != f"{request.scheme}://{request.get_host()}"


def _posted(request: HttpRequest):
    """The POST data, or None when it is over Django's size or field-count limits."""
    try:
        return request.POST
    except (RequestDataTooBig, TooManyFieldsSent):
        return None


def _no_store(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    return response


def _refuse(request, template: str, form, message: str, status: int) -> HttpResponse:
    context = {"form": form, "error": message, "deadline_days": _deadline_days()}
    return _no_store(render(request, template, context, status=status))


def _deadline_days() -> int:
    return config.value("request_deadline_days")


# --- anonymous feedback -----------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def feedback_form(request: HttpRequest) -> HttpResponse:
    template = "feedback/form.html"
    if request.method == "GET":
        return _no_store(render(request, template, {"form": FeedbackForm()}))
    if cross_site(request):
        return _refuse(request, template, FeedbackForm(), from_elsewhere(), 403)
    data = _posted(request)
    if data is None:
        return _refuse(request, template, FeedbackForm(), too_large(), 413)
    form = FeedbackForm(data)
    if not form.is_valid():
        return _no_store(render(request, template, {"form": form}, status=400))
    verdict = services.rate_hit("feedback", source_of(request))
    if not verdict.allowed:
        message = _(
            "Thank you, but we have received several messages from this connection in the last "
            "hour. Please try again in %(minutes)d minutes."
        ) % {"minutes": max(1, verdict.retry_after // 60)}
        response = _refuse(request, template, form, message, 429)
        response["Retry-After"] = str(verdict.retry_after)
        return response
    try:
        services.submit(
            category=form.cleaned_data["category"],
            text=form.cleaned_data["text"],
            actor=Actor.public("web"),
            purpose=FEEDBACK_PURPOSE,
        )
    except services.FeedbackError as exc:
        return _refuse(request, template, form, exc.message, 400)
    return _no_store(render(request, "feedback/thanks.html"))


@require_safe
@cache_control(public=True, max_age=ANSWERS_MAX_AGE)
def answered(request: HttpRequest) -> HttpResponse:
    return render(request, "feedback/answered.html", {"items": services.answered()[:200]})


# --- privacy requests ---------------------------------------------------------------------------


def _signed_in_patron(request: HttpRequest) -> int | None:
    """The patron of a live portal session, if the browser sent its cookie; never required."""
    session, _reason = portal.check_session(portal_access.token_of(request))
    return session.patron_id if session is not None else None


@portal_access.public_page
@csrf_exempt
@require_http_methods(["GET", "POST"])
def privacy_request(request: HttpRequest) -> HttpResponse:
    template = "feedback/privacy_request.html"
    if request.method == "GET":
        return render(
            request, template, {"form": PrivacyRequestForm(), "deadline_days": _deadline_days()}
        )
    if cross_site(request):
        return _refuse(request, template, PrivacyRequestForm(), from_elsewhere(), 403)
    data = _posted(request)
    if data is None:
        return _refuse(request, template, PrivacyRequestForm(), too_large(), 413)
    form = PrivacyRequestForm(data)
    if not form.is_valid():
        context = {"form": form, "deadline_days": _deadline_days()}
        return render(request, template, context, status=400)
    patron_id = None
    if form.cleaned_data["answer_by"] == SIGNED_IN:
        patron_id = _signed_in_patron(request)
        if patron_id is None:
            form.add_error(
                "answer_by",
                _(
                    "We cannot see that you are signed in. Sign in to your library account "
                    "and file the request from your account pages, or give an e-mail address "
                    "instead."
                ),
            )
            return render(
                request, template, {"form": form, "deadline_days": _deadline_days()}, status=400
            )
    verdict = services.rate_hit("request", source_of(request))
    if not verdict.allowed:
        message = _(
            "We have received several requests from this connection in the last hour. Please "
            "try again in %(minutes)d minutes, or contact the library directly."
        ) % {"minutes": max(1, verdict.retry_after // 60)}
        response = _refuse(request, template, form, message, 429)
        response["Retry-After"] = str(verdict.retry_after)
        return response
    actor = portal.patron_actor(patron_id) if patron_id is not None else Actor.public("web")
    contact = "" if patron_id is not None else form.cleaned_data["contact"]
    try:
        filed, token = services.file_request(
            kind=form.cleaned_data["kind"],
            description=form.cleaned_data["description"],
            contact=contact,
            patron_id=patron_id,
            status_link=lambda t: request.build_absolute_uri(
                reverse("feedback:privacy_status", args=[t])
            ),
            actor=actor,
            purpose=REQUEST_PURPOSE,
        )
    except services.FeedbackError as exc:
        return _refuse(request, template, form, exc.message, 400)
    context = {
        "reference": filed.reference,
        "due_on": filed.due_on,
        "link": request.build_absolute_uri(reverse("feedback:privacy_status", args=[token])),
        "mailed": bool(contact),
        "linked": patron_id is not None,
    }
    return render(request, "feedback/privacy_request_filed.html", context)


@portal_access.public_page
@require_safe
def privacy_status(request: HttpRequest, token: str) -> HttpResponse:
    """The requester's status page. Every token that is not one gets the same 404."""
    address = source_of(request)
    verdict = services.rate_check("token", address)
    if not verdict.allowed:
        response = render(request, "feedback/slow_down.html", status=429)
        response["Retry-After"] = str(verdict.retry_after)
        return response
    try:
        view = services.status_by_token(
            token, actor=Actor.public("web"), purpose="privacy request status"
        )
    except services.NotFound:
        services.rate_hit("token", address)
        raise Http404 from None
    return render(request, "feedback/privacy_status.html", {"request_status": view})
