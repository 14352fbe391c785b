"""Staff passkey pages: sign in, enrol as the first factor, add, rename and remove.

Each WebAuthn ceremony is two requests. A JSON endpoint (CSRF-protected
POST, same origin) returns the options and keeps the challenge in the
session; the browser's answer then comes back in an ordinary form post (a
hidden `credential` field filled by `static/shelfguard/passkeys.js`), which
is checked by `accounts.passkeys` and answered with a page, like the TOTP
forms. Without JavaScript the passkey buttons stay hidden and the TOTP
forms work as before.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from shelfguard.accounts import mfa, passkeys, signin
from shelfguard.accounts.models import Passkey
from shelfguard.staff.access import public_page, source_of, staff_required
from shelfguard.staff.forms import (
    PasskeyAddForm,
    PasskeyCredentialForm,
    PasskeyRemoveForm,
    PasskeyRenameForm,
)
from shelfguard.staff.views import (
    _ENROL,
    _ENROL_TTL,
    _PENDING,
    _PENDING_TTL,
    _next_url,
    _pending,
    _sign_in,
)


def _rp(request: HttpRequest) -> passkeys.RelyingParty:
    return passkeys.RelyingParty.for_request(request)


def _options(text: str) -> HttpResponse:
    return HttpResponse(text, content_type="application/json")


def _refused(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": str(message)}, status=status)


def _gone() -> JsonResponse:
    return _refused(_("This step has expired. Start again from the sign-in page."), 403)


# --- sign-in with a passkey (instead of a TOTP code) ----------------------------------------


@public_page
@csrf_protect
@require_POST
def signin_options(request: HttpRequest) -> HttpResponse:
    staff = _pending(request, _PENDING, _PENDING_TTL)
    if staff is None:
        return _gone()
    try:
        return _options(
            passkeys.begin_authentication(staff, rp=_rp(request), state=request.session)
        )
    except passkeys.PasskeyError as exc:
        return _refused(str(exc))


@public_page
@csrf_protect
@require_POST
def signin_view(request: HttpRequest) -> HttpResponse:
    staff = _pending(request, _PENDING, _PENDING_TTL)
    if staff is None:
        return redirect("staff:login")
    form = PasskeyCredentialForm(request.POST)
    error = str(signin.GENERIC_FAILURE)
    if form.is_valid():
        try:
            passkey = passkeys.finish_authentication(
                staff,
                form.cleaned_data["credential"],
                rp=_rp(request),
                state=request.session,
                source=source_of(request),
            )
        except passkeys.PasskeyError as exc:
            error = str(exc)
        else:
            _sign_in(request, staff, passkey)
            return redirect(_next_url(request))
    from shelfguard.staff.forms import CodeForm

    context = {"form": CodeForm(), "error": error, "has_passkeys": True}
    return render(request, "staff/verify.html", context, status=400)


# --- a passkey as the first factor, during enrolment ------------------------------------------


@public_page
@csrf_protect
@require_POST
def enrol_options(request: HttpRequest) -> HttpResponse:
    staff = _pending(request, _ENROL, _ENROL_TTL)
    if staff is None or mfa.has_second_factor(staff):
        return _gone()
    try:
        return _options(passkeys.begin_registration(staff, rp=_rp(request), state=request.session))
    except passkeys.PasskeyError as exc:
        return _refused(str(exc))


@public_page
@csrf_protect
@require_POST
def enrol_view(request: HttpRequest) -> HttpResponse:
    staff = _pending(request, _ENROL, _ENROL_TTL)
    if staff is None:
        return redirect("staff:enrol")
    form = PasskeyCredentialForm(request.POST)
    error = _("The passkey was not accepted. Try again, or add an authenticator app.")
    if form.is_valid():
        try:
            passkey, codes = signin.finish_passkey_enrolment(
                staff,
                form.cleaned_data["credential"],
                rp=_rp(request),
                state=request.session,
                name=form.cleaned_data["name"],
                source=source_of(request),
            )
        except signin.SignInFailed as exc:
            error = str(exc)
        else:
            _sign_in(request, staff, passkey)
            # Shown once, in this response only: nothing keeps them in clear.
            return render(request, "staff/passkeys_enrolled.html", {"codes": codes})
    # Back to the enrolment page, which offers both ways again.
    request.session["staff_enrol_error"] = error
    return redirect("staff:enrol_device")


# --- one's own passkeys ---------------------------------------------------------------------


def _page(request: HttpRequest, *, error: str = "", notice: str = "", status: int = 200):
    staff = request.user
    context = {
        "passkeys": passkeys.list_passkeys(staff),
        "add_form": PasskeyAddForm(),
        "error": error,
        "notice": notice,
        "has_totp": mfa.TOTPDevice.objects.filter(user=staff, confirmed=True).exists(),
        "max_passkeys": passkeys.MAX_PASSKEYS,
    }
    return render(request, "staff/passkeys.html", context, status=status)


@staff_required
@require_http_methods(["GET"])
def list_view(request: HttpRequest) -> HttpResponse:
    notice = request.session.pop("staff_passkey_notice", "")
    return _page(request, notice=notice)


@staff_required
@csrf_protect
@require_POST
def reauth_options(request: HttpRequest) -> HttpResponse:
    """Assertion options for re-authenticating with a passkey.

    For every security change that asks again: adding or removing a
    passkey, changing the password (`views.password_view`) and making new
    recovery codes (`views.recovery_codes_view`).
    """
    try:
        return _options(
            passkeys.begin_authentication(request.user, rp=_rp(request), state=request.session)
        )
    except passkeys.PasskeyError as exc:
        return _refused(str(exc))


@staff_required
@csrf_protect
@require_POST
def add_options(request: HttpRequest) -> HttpResponse:
    """Re-authenticate (password and a code or a passkey), then registration options."""
    form = PasskeyAddForm(request.POST)
    if not form.is_valid():
        return _refused(_("Enter your password, and a code or use a passkey."))
    data = form.cleaned_data
    rp = _rp(request)
    try:
        signin.reauthenticate(
            request.user,
            data["current_password"],
            data["code"],
            response=data["reauth_credential"],
            rp=rp,
            state=request.session,
            source=source_of(request),
        )
        return _options(passkeys.begin_registration(request.user, rp=rp, state=request.session))
    except (signin.SignInFailed, passkeys.PasskeyError) as exc:
        return _refused(str(exc))


@staff_required
@csrf_protect
@require_POST
def add_view(request: HttpRequest) -> HttpResponse:
    form = PasskeyCredentialForm(request.POST)
    if not form.is_valid() or not passkeys.has_challenge(request.session, passkeys.REGISTER):
        # No registration challenge means no re-authentication happened.
        return _page(request, error=_("Start again: re-authentication is needed."), status=400)
    try:
        passkey = passkeys.finish_registration(
            request.user,
            form.cleaned_data["credential"],
            rp=_rp(request),
            state=request.session,
            name=form.cleaned_data["name"],
            source=source_of(request),
        )
    except passkeys.PasskeyError as exc:
        return _page(request, error=str(exc), status=400)
    request.session["staff_passkey_notice"] = _("Passkey “%(name)s” added.") % {
        "name": passkey.name
    }
    return redirect("staff:passkeys")


@staff_required
@csrf_protect
@require_POST
def rename_view(request: HttpRequest, pk: int) -> HttpResponse:
    form = PasskeyRenameForm(request.POST)
    if not form.is_valid():
        return _page(request, error=_("Enter a name of at most 64 characters."), status=400)
    try:
        passkeys.rename(request.user, pk, form.cleaned_data["name"])
    except passkeys.PasskeyError as exc:
        return _page(request, error=str(exc), status=404)
    request.session["staff_passkey_notice"] = _("Passkey renamed.")
    return redirect("staff:passkeys")


@staff_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def remove_view(request: HttpRequest, pk: int) -> HttpResponse:
    passkey = next((p for p in passkeys.list_passkeys(request.user) if p.pk == pk), None)
    if passkey is None:
        return _page(request, error=_("No such passkey."), status=404)
    error = ""
    form = PasskeyRemoveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        verified_by = getattr(request.user, "otp_device", None)
        try:
            confirmed_by = passkeys.remove(
                request.user,
                pk,
                password=data["current_password"],
                code=data["code"],
                response=data["reauth_credential"],
                rp=_rp(request),
                state=request.session,
                source=source_of(request),
            )
        except (signin.SignInFailed, passkeys.PasskeyError) as exc:
            error = str(exc)
        else:
            if isinstance(verified_by, Passkey) and verified_by.pk == pk:
                # This session was verified with the passkey just removed: it
                # now stands on the factor that confirmed the removal.
                otp_login(request, confirmed_by)
            request.session["staff_passkey_notice"] = _("Passkey removed.")
            return redirect("staff:passkeys")
    elif request.method == "POST":
        error = _("Enter your password, and a code or use a passkey.")
    context = {
        "form": form,
        "error": error,
        "passkey": passkey,
        "only_factor": mfa.factor_count(request.user) <= 1,
    }
    return render(request, "staff/passkeys_remove.html", context, status=400 if error else 200)
