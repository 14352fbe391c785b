"""Pages for "download my data" and "close my account". They translate requests into services.

Both ask for the password again (and a code when the patron uses an
authenticator app): the export holds everything the library keeps about
the patron, and a closure ends in an erasure that nothing can undo.
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from shelfguard.portal import services
from shelfguard.portal.access import patron_required, source_of


class ConfirmForm(forms.Form):
    current_password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        max_length=1024,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app (if you use one)"),
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class DownloadForm(forms.Form):
    token = forms.CharField(max_length=100, widget=forms.HiddenInput)


def _refused(request: HttpRequest, template: str, context: dict, exc) -> HttpResponse:
    response = render(request, template, context, status=400 if exc else 200)
    retry = getattr(exc, "retry_after", 0)
    if retry:
        response["Retry-After"] = str(retry)
    return response


@patron_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def export_view(request: HttpRequest) -> HttpResponse:
    patron, session = request.patron, request.patron_session
    context: dict = {
        "form": ConfirmForm(),
        "has_totp": services.has_totp(patron),
        "lifetime_hours": int(services.EXPORT_LIFETIME.total_seconds() // 3600),
    }
    exc = None
    if request.method == "POST":
        form = ConfirmForm(request.POST)
        if not form.is_valid():
            context["error"] = _("Enter your password.")
            return _refused(request, "portal/data/export.html", context, True)
        try:
            prepared = services.request_export(
                patron,
                session=session,
                password=form.cleaned_data["current_password"],
                code=form.cleaned_data["code"],
                source=source_of(request),
            )
        except services.PortalError as failed:
            context["error"], exc = str(failed), failed
        else:
            context["download"] = DownloadForm(initial={"token": prepared.token})
            context["expires_at"] = prepared.expires_at
    return _refused(request, "portal/data/export.html", context, exc)


@patron_required
@csrf_protect
@require_POST
def export_download(request: HttpRequest) -> HttpResponse:
    form = DownloadForm(request.POST)
    try:
        if not form.is_valid():
            raise services.ExportRefused(_("Ask for your data again."))
        name, content = services.take_export(
            request.patron, session=request.patron_session, token=form.cleaned_data["token"]
        )
    except services.PortalError as failed:
        context = {
            "form": ConfirmForm(),
            "has_totp": services.has_totp(request.patron),
            "lifetime_hours": int(services.EXPORT_LIFETIME.total_seconds() // 3600),
            "error": str(failed),
        }
        return render(request, "portal/data/export.html", context, status=410)
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Content-Length"] = str(len(content))
    return response


@patron_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def close_view(request: HttpRequest) -> HttpResponse:
    patron = request.patron
    context: dict = {
        "form": ConfirmForm(),
        "has_totp": services.has_totp(patron),
        "cooling_off_days": services.cooling_off_days(),
        "closure": services.closure_of(patron),
        "outstanding": [],
    }
    exc = None
    if request.method == "POST" and context["closure"] is None:
        form = ConfirmForm(request.POST)
        if not form.is_valid():
            context["error"] = _("Enter your password.")
            return _refused(request, "portal/data/close.html", context, True)
        try:
            services.request_closure(
                patron,
                password=form.cleaned_data["current_password"],
                code=form.cleaned_data["code"],
                source=source_of(request),
            )
        except services.ClosureRefused as refused:
            context["error"] = _("Your account cannot be closed yet.")
            context["outstanding"], exc = refused.outstanding.lines(), refused
        except services.PortalError as failed:
            context["error"], exc = str(failed), failed
        else:
            return redirect("portal:data_close")
    return _refused(request, "portal/data/close.html", context, exc)


@patron_required
@csrf_protect
@require_POST
def close_cancel(request: HttpRequest) -> HttpResponse:
    if "confirm" not in request.POST:
        return redirect("portal:data_close")
    services.cancel_closure(request.patron)
    return redirect("portal:home")
