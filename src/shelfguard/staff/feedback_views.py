"""Staff pages for anonymous feedback and for privacy requests and complaints.

Feedback (`feedback.manage`: branch managers and the privacy officer) names
no one, so a branch manager's branch-scoped role is enough: the pages are
guarded for the staff member's own branch. Privacy requests
(`privacy.requests`) name people: library-wide, certification required.
The sealed texts of a request are opened only by an explicit "reveal"
(a POST), which the service records in the ledger with the patron id when
the request is linked to a patron.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from shelfguard.accounts import services as accounts
from shelfguard.feedback import services
from shelfguard.feedback.forms import (
    AnswerForm,
    CloseRequestForm,
    ConfirmForm,
    FeedbackFilterForm,
    StepForm,
)
from shelfguard.staff.access import permission_required

FEEDBACK_PURPOSE = "answering anonymous feedback"
REQUEST_PURPOSE = "handling a privacy request"


def own_branch(request: HttpRequest, **_kwargs) -> int | None:
    """Feedback is nobody's branch: a branch-scoped role applies at one's own branch."""
    return getattr(request.user, "branch_id", None)


def _actor(request: HttpRequest):
    return accounts.staff_actor(request.user)


_DONE = {
    "answered": lambda: _("The answer is published on the public answers page."),
    "withdrawn": lambda: _("The answer was taken off the public answers page."),
    "closed": lambda: _("Closed."),
    "step": lambda: _("The step was added."),
}


def _notice(request: HttpRequest) -> str:
    maker = _DONE.get(request.GET.get("done", ""))
    return maker() if maker else ""


def _back(name: str, done: str, **kwargs) -> HttpResponse:
    return redirect(f"{reverse(name, kwargs=kwargs or None)}?{urlencode({'done': done})}")


# --- anonymous feedback -----------------------------------------------------------------------


@permission_required("feedback.manage", branch_of=own_branch)
@require_http_methods(["GET"])
def feedback_list(request: HttpRequest) -> HttpResponse:
    form = FeedbackFilterForm(request.GET or None)
    wanted = form.cleaned_data if form.is_valid() else {}
    items = services.listing(
        status=wanted.get("status", ""),
        category=wanted.get("category", ""),
        newest_first=wanted.get("order") == "newest",
        actor=_actor(request),
        purpose=FEEDBACK_PURPOSE,
    )
    return render(
        request,
        "staff/feedback/list.html",
        {"form": form, "items": items[:500], "notice": _notice(request)},
    )


def _feedback_page(
    request, feedback_id, *, answer_form=None, confirm_form=None, error="", status=200
):
    try:
        item = services.read(feedback_id, actor=_actor(request), purpose=FEEDBACK_PURPOSE)
    except services.NotFound:
        raise Http404 from None
    answer_form = answer_form or AnswerForm(
        initial={"public_text": item.public_text or item.text, "answer": item.answer}
    )
    context = {
        "item": item,
        "answer_form": answer_form,
        "confirm_form": confirm_form or ConfirmForm(),
        "error": error,
        "notice": _notice(request),
    }
    return render(request, "staff/feedback/detail.html", context, status=status)


@permission_required("feedback.manage", branch_of=own_branch)
@require_http_methods(["GET"])
def feedback_detail(request: HttpRequest, feedback_id: int) -> HttpResponse:
    return _feedback_page(request, feedback_id)


@permission_required("feedback.manage", branch_of=own_branch)
@csrf_protect
@require_POST
def feedback_answer(request: HttpRequest, feedback_id: int) -> HttpResponse:
    form = AnswerForm(request.POST)
    if not form.is_valid():
        return _feedback_page(request, feedback_id, answer_form=form, status=400)
    try:
        services.answer(
            feedback_id,
            public_text=form.cleaned_data["public_text"],
            answer=form.cleaned_data["answer"],
            actor=_actor(request),
            purpose=FEEDBACK_PURPOSE,
        )
    except services.NotFound:
        raise Http404 from None
    except services.FeedbackError as exc:
        return _feedback_page(request, feedback_id, answer_form=form, error=exc.message, status=400)
    return _back("staff:feedback_detail", "answered", feedback_id=feedback_id)


def _confirmed_action(request, feedback_id, action, done: str) -> HttpResponse:
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        return _feedback_page(
            request,
            feedback_id,
            confirm_form=form,
            error=_("Tick the confirmation box first."),
            status=400,
        )
    try:
        action(feedback_id, actor=_actor(request), purpose=FEEDBACK_PURPOSE)
    except services.NotFound:
        raise Http404 from None
    except services.FeedbackError as exc:
        return _feedback_page(request, feedback_id, error=exc.message, status=400)
    return _back("staff:feedback_detail", done, feedback_id=feedback_id)


@permission_required("feedback.manage", branch_of=own_branch)
@csrf_protect
@require_POST
def feedback_withdraw(request: HttpRequest, feedback_id: int) -> HttpResponse:
    return _confirmed_action(request, feedback_id, services.withdraw_answer, "withdrawn")


@permission_required("feedback.manage", branch_of=own_branch)
@csrf_protect
@require_POST
def feedback_close(request: HttpRequest, feedback_id: int) -> HttpResponse:
    return _confirmed_action(request, feedback_id, services.close, "closed")


# --- privacy requests ---------------------------------------------------------------------------


@permission_required("privacy.requests")
@require_http_methods(["GET"])
def request_dashboard(request: HttpRequest) -> HttpResponse:
    closed = request.GET.get("show") == "closed"
    rows = services.dashboard(closed=closed, actor=_actor(request), purpose=REQUEST_PURPOSE)
    return render(
        request,
        "staff/feedback/requests.html",
        {"rows": rows, "closed": closed, "notice": _notice(request)},
    )


def _request_page(
    request, request_id, *, reveal=False, step_form=None, close_form=None, error="", status=200
):
    try:
        found = services.detail(
            request_id, reveal=reveal, actor=_actor(request), purpose=REQUEST_PURPOSE
        )
    except services.NotFound:
        raise Http404 from None
    context = {
        "found": found,
        "revealed": reveal and not found.erased,
        "step_form": step_form or StepForm(),
        "close_form": close_form or CloseRequestForm(),
        "error": error,
        "notice": _notice(request),
    }
    return render(request, "staff/feedback/request_detail.html", context, status=status)


@permission_required("privacy.requests")
@csrf_protect
@require_http_methods(["GET", "POST"])
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    # Revealing is a POST (a deliberate act, recorded), never a link a crawler could follow.
    reveal = request.method == "POST" and request.POST.get("reveal") == "1"
    return _request_page(request, request_id, reveal=reveal)


def _request_form_action(request, request_id, form, form_name: str, action, done: str):
    """Check `form`, run `action(cleaned_data)` on the request, and go back to its page.

    An invalid form or a refusal shows the request page again with the form
    (as `form_name`: "step_form" or "close_form") and the reason, status 400.
    """
    if not form.is_valid():
        return _request_page(request, request_id, **{form_name: form}, status=400)
    try:
        action(form.cleaned_data)
    except services.NotFound:
        raise Http404 from None
    except services.FeedbackError as exc:
        return _request_page(
            request, request_id, **{form_name: form}, error=exc.message, status=400
        )
    return _back("staff:feedback_request", done, request_id=request_id)


@permission_required("privacy.requests")
@csrf_protect
@require_POST
def request_step(request: HttpRequest, request_id: int) -> HttpResponse:
    return _request_form_action(
        request,
        request_id,
        StepForm(request.POST),
        "step_form",
        lambda data: services.add_step(
            request_id,
            text=data["text"],
            answer=data["answer"],
            actor=_actor(request),
            purpose=REQUEST_PURPOSE,
        ),
        "step",
    )


@permission_required("privacy.requests")
@csrf_protect
@require_POST
def request_close(request: HttpRequest, request_id: int) -> HttpResponse:
    return _request_form_action(
        request,
        request_id,
        CloseRequestForm(request.POST),
        "close_form",
        lambda data: services.close_request(
            request_id,
            outcome=data["outcome"],
            text=data["text"],
            actor=_actor(request),
            purpose=REQUEST_PURPOSE,
        ),
        "closed",
    )
