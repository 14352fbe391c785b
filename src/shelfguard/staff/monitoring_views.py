"""Staff pages of access monitoring: alerts, their review, decoys, thresholds in force.

All of them are for the privacy officer (`ledger.read`, library-wide:
alerts say who looked at whom). Reading the alert list or one alert is
recorded in the ledger by the service; a review writes the note there too.
Alerts are never edited or deleted here: the only change is a review.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from shelfguard.accounts import services as accounts
from shelfguard.monitoring import services
from shelfguard.monitoring.forms import DecoyForm, RemoveDecoyForm, ReviewForm
from shelfguard.staff.access import permission_required

PERMISSION = "ledger.read"
PURPOSE = "security: access monitoring"

_DONE = {
    "reviewed": lambda: _("The alert is marked reviewed; your note is in the access ledger."),
    "decoy_added": lambda: _("The patron is now a decoy: any access to it raises an alert."),
    "decoy_removed": lambda: _("The patron is no longer a decoy."),
}


def _actor(request: HttpRequest):
    return accounts.staff_actor(request.user)


def _notice(request: HttpRequest) -> str:
    maker = _DONE.get(request.GET.get("done", ""))
    return maker() if maker else ""


def _labelled(alert) -> dict:
    return {"alert": alert, "label": services.rule_label(alert.rule)}


@permission_required(PERMISSION)
@require_http_methods(["GET"])
def alert_list(request: HttpRequest) -> HttpResponse:
    open_only = request.GET.get("status", "open") != "all"
    found = services.alerts(actor=_actor(request), purpose=PURPOSE, open_only=open_only)
    state = services.summary()
    return render(
        request,
        "staff/monitoring/list.html",
        {
            "rows": [_labelled(a) for a in found],
            "open_only": open_only,
            "open_count": state["open_count"],
            "last_scan_at": state["last_scan_at"],
            "notice": _notice(request),
        },
    )


def _alert_page(request: HttpRequest, alert_id: int, *, form=None, error="", status=200):
    try:
        alert = services.alert_detail(alert_id, actor=_actor(request), purpose=PURPOSE)
    except services.AlertNotFound:
        raise Http404 from None
    context = {
        **_labelled(alert),
        "form": form or ReviewForm(),
        "error": error,
        "notice": _notice(request),
    }
    return render(request, "staff/monitoring/detail.html", context, status=status)


@permission_required(PERMISSION)
@require_http_methods(["GET"])
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    return _alert_page(request, alert_id)


@permission_required(PERMISSION)
@csrf_protect
@require_POST
def alert_review(request: HttpRequest, alert_id: int) -> HttpResponse:
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _alert_page(request, alert_id, form=form, status=400)
    try:
        services.review_alert(
            alert_id, note=form.cleaned_data["note"], actor=_actor(request), purpose=PURPOSE
        )
    except services.AlertNotFound:
        raise Http404 from None
    except services.MonitoringError as exc:
        return _alert_page(request, alert_id, form=form, error=exc.message, status=400)
    url = reverse("staff:monitoring_alert", kwargs={"alert_id": alert_id})
    return redirect(f"{url}?{urlencode({'done': 'reviewed'})}")


@permission_required(PERMISSION)
@require_http_methods(["GET"])
def thresholds(request: HttpRequest) -> HttpResponse:
    try:
        state = services.thresholds_in_force()
    except ImproperlyConfigured as exc:
        return render(
            request,
            "staff/monitoring/thresholds.html",
            {"config_error": str(exc)},
            status=500,
        )
    return render(
        request,
        "staff/monitoring/thresholds.html",
        {**state, "households": services.household_state()},
    )


def _decoy_page(request, *, form=None, error="", status=200) -> HttpResponse:
    rows = [
        {"decoy": d, "form": RemoveDecoyForm(initial={"patron_id": d.patron_id})}
        for d in services.decoys()
    ]
    context = {
        "rows": rows,
        "form": form or DecoyForm(),
        "error": error,
        "notice": _notice(request),
    }
    return render(request, "staff/monitoring/decoys.html", context, status=status)


@permission_required(PERMISSION)
@csrf_protect
@require_http_methods(["GET", "POST"])
def decoys(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _decoy_page(request)
    form = DecoyForm(request.POST)
    if not form.is_valid():
        return _decoy_page(request, form=form, status=400)
    try:
        services.add_decoy(form.cleaned_data["card"], actor=_actor(request), purpose=PURPOSE)
    except services.MonitoringError as exc:
        return _decoy_page(request, form=form, error=exc.message, status=400)
    return redirect(f"{reverse('staff:monitoring_decoys')}?{urlencode({'done': 'decoy_added'})}")


@permission_required(PERMISSION)
@csrf_protect
@require_POST
def decoy_remove(request: HttpRequest) -> HttpResponse:
    form = RemoveDecoyForm(request.POST)
    if not form.is_valid():
        return _decoy_page(request, error=_("Tick the confirmation box first."), status=400)
    try:
        services.remove_decoy(
            form.cleaned_data["patron_id"], actor=_actor(request), purpose=PURPOSE
        )
    except services.MonitoringError as exc:
        return _decoy_page(request, error=exc.message, status=400)
    url = reverse("staff:monitoring_decoys")
    return redirect(f"{url}?{urlencode({'done': 'decoy_removed'})}")
