"""The patron's account pages: loans and holds, my data, who looked, consent, reading history.

Each page only translates: it reads the session's patron, calls one door in
`portal.services` (implemented in `portal/account.py`) with the patron as
the actor, and renders plain data. No URL names a patron, a loan or a hold
of someone else: objects are named in POST bodies and every door checks
they belong to the signed-in patron, so another patron's id finds nothing.
"""

from __future__ import annotations

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from shelfguard.portal import config, services
from shelfguard.portal import passkeys as patron_passkeys
from shelfguard.portal.access import patron_required, return_here_after_sign_in


class LoanForm(forms.Form):
    loan = forms.IntegerField(min_value=1, required=False)
    all = forms.BooleanField(required=False)


class HoldForm(forms.Form):
    hold = forms.IntegerField(min_value=1)


class PickupForm(forms.Form):
    hold = forms.IntegerField(min_value=1)
    branch = forms.CharField(max_length=16, label=gettext_lazy("Pickup branch"))


class PlaceHoldForm(forms.Form):
    branch = forms.ChoiceField(label=gettext_lazy("Collect it at"))

    def __init__(self, *args, branches: list[dict[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["branch"].choices = [(b["code"], b["name"]) for b in branches]


class ConsentForm(forms.Form):
    consent = forms.CharField(max_length=32)
    on = forms.TypedChoiceField(choices=[("1", "on"), ("0", "off")], coerce=lambda v: v == "1")
    delete_history = forms.BooleanField(required=False)


class NoticeForm(forms.Form):
    version = forms.IntegerField(min_value=1)


class HistoryDeleteForm(forms.Form):
    loan = forms.IntegerField(min_value=1, required=False)
    all = forms.BooleanField(required=False)


def _actor(request: HttpRequest):
    return services.actor_of(request.patron)


def render_home(
    request: HttpRequest,
    *,
    error: str = "",
    notice: str = "",
    renewals: list | None = None,
    status: int = 200,
) -> HttpResponse:
    """My account: the card, loans, holds, charges and blocks (and what was just done)."""
    session = request.patron_session
    patron = request.patron
    actor = _actor(request)
    facts = services.overview(patron, actor=actor)
    states = services.consent_states(patron, actor=actor)
    context = {
        "facts": facts,
        "branches": services.branches(),
        "notice_due": services.notice_due(states, get_language()),
        "keeps_history": any(s.purpose == "reading_history" and s.given for s in states),
        "renewals": renewals or [],
        "error": error,
        "notice": notice,
        "has_totp": services.has_totp(patron),
        "passkey_count": len(patron_passkeys.list_passkeys(patron)),
        "public": session.public,
        "idle_minutes": int(config.idle_timeout(public=session.public).total_seconds() // 60),
    }
    return render(request, "portal/home.html", context, status=status)


@patron_required
@csrf_protect
@require_POST
def renew_view(request: HttpRequest) -> HttpResponse:
    form = LoanForm(request.POST)
    if not form.is_valid() or not (form.cleaned_data["all"] or form.cleaned_data["loan"]):
        return render_home(request, error=_("Choose a loan to renew."), status=400)
    loans = None if form.cleaned_data["all"] else [form.cleaned_data["loan"]]
    try:
        outcomes = services.renew(request.patron, loans, actor=_actor(request))
    except services.AccountError as refused:
        return render_home(request, error=refused.message, status=400)
    renewed = sum(1 for o in outcomes if o.renewed)
    notice = _("Renewed: %(renewed)d of %(asked)d.") % {"renewed": renewed, "asked": len(outcomes)}
    return render_home(request, notice=notice, renewals=outcomes)


@patron_required
@csrf_protect
@require_POST
def cancel_hold_view(request: HttpRequest) -> HttpResponse:
    form = HoldForm(request.POST)
    if not form.is_valid():
        return render_home(request, error=_("Choose a hold to cancel."), status=400)
    try:
        services.cancel_hold(request.patron, form.cleaned_data["hold"], actor=_actor(request))
    except services.AccountError as refused:
        return render_home(request, error=refused.message, status=400)
    return render_home(request, notice=_("The hold is cancelled."))


@patron_required
@csrf_protect
@require_POST
def change_pickup_view(request: HttpRequest) -> HttpResponse:
    form = PickupForm(request.POST)
    if not form.is_valid():
        return render_home(request, error=_("Choose a hold and a branch."), status=400)
    data = form.cleaned_data
    try:
        services.change_pickup(request.patron, data["hold"], data["branch"], actor=_actor(request))
    except services.AccountError as refused:
        return render_home(request, error=refused.message, status=400)
    return render_home(request, notice=_("The pickup branch is changed."))


@patron_required
@return_here_after_sign_in
@csrf_protect
@require_http_methods(["GET", "POST"])
def place_hold_view(request: HttpRequest, record_id: int) -> HttpResponse:
    target = services.hold_target(record_id)
    if target is None:
        raise Http404(_("There is no such title in the catalogue."))
    branches = services.branches()
    home = request.patron.home_branch.code if request.patron.home_branch_id else None
    form = PlaceHoldForm(request.POST or None, branches=branches, initial={"branch": home})
    error = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.place_hold(
                    request.patron, record_id, form.cleaned_data["branch"], actor=_actor(request)
                )
            except services.AccountError as refused:
                error, status = refused.message, 400
            else:
                return render_home(request, notice=_("Your hold is placed."))
        else:
            error, status = _("Choose the branch where you will collect it."), 400
    return render(
        request,
        "portal/account/place_hold.html",
        {"target": target, "form": form, "error": error},
        status=status,
    )


# The record id is the public catalogue's, not the patron's: any patron may hold any title.
place_hold_view.portal_public_arguments = ("record_id",)


@patron_required
@require_http_methods(["GET"])
def my_data_view(request: HttpRequest) -> HttpResponse:
    rows, states = services.my_data(request.patron, actor=_actor(request))
    purposes = services.optional_purposes()
    consents = [
        {"state": s, "label": purposes.get(s.purpose) or _("Hold a library card and borrow")}
        for s in states
    ]
    return render(request, "portal/account/my_data.html", {"rows": rows, "consents": consents})


@patron_required
@require_http_methods(["GET"])
def who_looked_view(request: HttpRequest) -> HttpResponse:
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    looks, pages = services.who_looked(request.patron, page=page, actor=_actor(request))
    if page > pages or page < 1:
        return redirect(f"{reverse('portal:who_looked')}?{urlencode({'page': pages})}")
    return render(
        request,
        "portal/account/who_looked.html",
        {
            "looks": looks,
            "page": page,
            "pages": pages,
            "previous": page - 1 if page > 1 else None,
            "next": page + 1 if page < pages else None,
        },
    )


def _consent_page(request: HttpRequest, *, error: str = "", notice: str = "", status: int = 200):
    patron = request.patron
    states = services.consent_states(patron, actor=_actor(request))
    purposes = services.optional_purposes()
    rows = [
        {
            "key": s.purpose,
            "label": purposes[s.purpose],
            "given": s.given,
            "at": s.at,
            "notice_version": s.notice_version,
            "history": s.purpose == "reading_history",
        }
        for s in states
        if s.purpose in purposes
    ]
    context = {
        "rows": rows,
        "notice_due": services.notice_due(states, get_language()),
        "guardian": patron.guardian_required,
        "error": error,
        "notice": notice,
    }
    return render(request, "portal/account/consent.html", context, status=status)


@patron_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def consent_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _consent_page(request)
    if "version" in request.POST:
        form = NoticeForm(request.POST)
        if not form.is_valid():
            return _consent_page(request, error=_("Read the notice, then accept it."), status=400)
        try:
            services.accept_notice(
                request.patron, form.cleaned_data["version"], actor=_actor(request)
            )
        except services.AccountError as refused:
            return _consent_page(request, error=refused.message, status=400)
        return _consent_page(request, notice=_("Thank you: you accepted the current notice."))
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return _consent_page(request, error=_("Choose what to turn on or off."), status=400)
    data = form.cleaned_data
    try:
        services.set_consent(
            request.patron,
            data["consent"],
            on=data["on"],
            delete_history=data["delete_history"],
            actor=_actor(request),
        )
    except services.AccountError as refused:
        return _consent_page(request, error=refused.message, status=400)
    label = services.optional_purposes()[data["consent"]]
    if data["on"]:
        notice = _("Turned on: %(choice)s.") % {"choice": label}
    elif data["consent"] == "reading_history":
        notice = _("Turned off: %(choice)s. The history kept so far is deleted.") % {
            "choice": label
        }
    else:
        notice = _("Turned off: %(choice)s.") % {"choice": label}
    return _consent_page(request, notice=notice)


@patron_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def history_view(request: HttpRequest) -> HttpResponse:
    patron = request.patron
    actor = _actor(request)
    error = notice = ""
    status = 200
    if request.method == "POST":
        form = HistoryDeleteForm(request.POST)
        data = form.cleaned_data if form.is_valid() else {}
        try:
            if data.get("all"):
                count = services.delete_history(patron, actor=actor)
                notice = _("Deleted %(n)d entries from your reading history.") % {"n": count}
            elif data.get("loan"):
                services.delete_history_entry(patron, data["loan"], actor=actor)
                notice = _("The entry is deleted from your reading history.")
            else:
                raise services.AccountError(_("Choose an entry to delete."))
        except services.AccountError as refused:
            error, status = refused.message, 400
    search = request.GET.get("q", "")[:200]
    rows = services.history(patron, search=search, actor=actor)
    context = {
        "rows": rows,
        "search": search,
        "keeps": services.keeps_history(patron),
        "error": error,
        "notice": notice,
    }
    return render(request, "portal/account/history.html", context, status=status)
