"""Staff sign-in and account pages. They translate requests into accounts services.

Sign-in is two steps. The password step only records, in a fresh session,
who is part-way through; the staff member is signed in (new session id
again, session registered) only after the second factor. Someone without an
enrolled factor can reach nothing but the enrolment pages, and enrolment
needs the one-time code an administrator issued.
"""

from __future__ import annotations

import datetime as dt
import re

from django.contrib.auth import login, logout, update_session_auth_hash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from shelfguard.accounts import mfa, passkeys, services, sessions, signin
from shelfguard.accounts.models import StaffSession, StaffUser
from shelfguard.core import clock
from shelfguard.staff.access import (
    ENDED_MESSAGES,
    client_of,
    public_page,
    source_of,
    staff_required,
)
from shelfguard.staff.forms import (
    CodeForm,
    DeviceCodeForm,
    EndSessionForm,
    EnrolForm,
    LoginForm,
    PasswordChangeForm,
    RecoveryCodesForm,
)

_PENDING = "staff_pending_signin"
_ENROL = "staff_pending_enrolment"
_PENDING_TTL = dt.timedelta(minutes=5)
_ENROL_TTL = dt.timedelta(minutes=15)
_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _pending(request: HttpRequest, key: str, ttl: dt.timedelta) -> StaffUser | None:
    data = request.session.get(key)
    if not isinstance(data, dict):
        return None
    try:
        started = dt.datetime.fromisoformat(data["at"])
        staff_id = int(data["staff"])
    except (KeyError, TypeError, ValueError):
        return None
    if clock.now() - started > ttl:
        request.session.pop(key, None)
        return None
    return StaffUser.objects.filter(pk=staff_id, is_active=True).first()


def _remember(request: HttpRequest, key: str, staff: StaffUser) -> None:
    # A new session id whenever the session starts to stand for someone.
    request.session.cycle_key()
    request.session[key] = {"staff": staff.pk, "at": clock.now().isoformat()}


def _sign_in(request: HttpRequest, staff: StaffUser, device) -> None:
    request.session.pop(_PENDING, None)
    request.session.pop(_ENROL, None)
    login(request, staff, backend=_BACKEND)  # cycles the session id again
    otp_login(request, device)
    request.session.save()
    sessions.start(staff, request.session.session_key, client=client_of(request))


_SAFE_NEXT = re.compile(r"/staff/[a-z0-9/_-]*\Z")


def _next_url(request: HttpRequest) -> str:
    target = request.GET.get("next", "")
    # Only our own staff pages: never an open redirect.
    return target if _SAFE_NEXT.match(target) else reverse("staff:home")


@public_page
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.user.is_verified():
        return redirect("staff:home")
    notice = ENDED_MESSAGES.get(request.GET.get("ended", ""), "")
    error = ""
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            staff = signin.check_password(
                form.cleaned_data["username"],
                form.cleaned_data["password"],
                source=source_of(request),
            )
        except signin.SignInFailed as exc:
            error = str(exc)
        else:
            if not mfa.has_second_factor(staff):
                return redirect(f"{reverse('staff:enrol')}?{urlencode({'first': '1'})}")
            _remember(request, _PENDING, staff)
            return redirect(f"{reverse('staff:verify')}?{urlencode({'next': _next_url(request)})}")
    elif request.method == "POST":
        error = str(signin.GENERIC_FAILURE)
    return render(request, "staff/login.html", {"form": form, "error": error, "notice": notice})


@public_page
@csrf_protect
@require_http_methods(["GET", "POST"])
def verify_view(request: HttpRequest) -> HttpResponse:
    staff = _pending(request, _PENDING, _PENDING_TTL)
    if staff is None:
        return redirect("staff:login")
    error = ""
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = signin.check_second_factor(
                staff, form.cleaned_data["code"], source=source_of(request)
            )
        except signin.SignInFailed as exc:
            error = str(exc)
        else:
            _sign_in(request, staff, device)
            return redirect(_next_url(request))
    elif request.method == "POST":
        error = str(signin.GENERIC_FAILURE)
    context = {"form": form, "error": error, "has_passkeys": passkeys.has_passkeys(staff)}
    return render(request, "staff/verify.html", context)


@public_page
@csrf_protect
@require_http_methods(["GET", "POST"])
def enrol_view(request: HttpRequest) -> HttpResponse:
    error = ""
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            staff = signin.start_enrolment(
                data["username"],
                data["code"],
                data["password"],
                data["password_again"],
                source=source_of(request),
            )
        except (signin.SignInFailed, services.AccountError) as exc:
            error = str(exc)
        else:
            mfa.start_totp_enrolment(staff)
            _remember(request, _ENROL, staff)
            return redirect("staff:enrol_device")
    elif request.method == "POST":
        error = _("Fill in every field marked as required.")
    first = request.GET.get("first") == "1"
    return render(request, "staff/enrol.html", {"form": form, "error": error, "first": first})


@public_page
@csrf_protect
@require_http_methods(["GET", "POST"])
def enrol_device_view(request: HttpRequest) -> HttpResponse:
    staff = _pending(request, _ENROL, _ENROL_TTL)
    device = None
    if staff is not None:
        device = mfa.TOTPDevice.objects.filter(user=staff, confirmed=False).order_by("-pk").first()
    if staff is None or device is None:
        return redirect("staff:enrol")
    # A refused passkey (passkey_views.enrol_view) comes back here with its reason.
    error = request.session.pop("staff_enrol_error", "")
    form = DeviceCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            confirmed, codes = signin.finish_enrolment(
                staff, form.cleaned_data["code"], source=source_of(request)
            )
        except signin.SignInFailed as exc:
            error = str(exc)
        else:
            _sign_in(request, staff, confirmed)
            # Shown once, in this response only: nothing keeps them in clear.
            return render(request, "staff/recovery_codes.html", {"codes": codes})
    elif request.method == "POST":
        error = _("Enter the code your app shows.")
    context = {
        "form": form,
        "error": error,
        "secret": mfa.secret_text(device),
        "uri": mfa.otpauth_uri(device),
    }
    return render(request, "staff/enrol_device.html", context)


@staff_required
@require_http_methods(["GET"])
def home(request: HttpRequest) -> HttpResponse:
    staff = request.user
    context = {
        "staff": staff,
        "roles": list(staff.roles.all()),
        "permissions": services.permissions_of(staff),
        "certification": services.current_certification(staff),
        "recovery_left": mfa.recovery_codes_left(staff),
    }
    return render(request, "staff/home.html", context)


@staff_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def sessions_view(request: HttpRequest) -> HttpResponse:
    staff = request.user
    if request.method == "POST":
        form = EndSessionForm(request.POST)
        if form.is_valid():
            # Only one's own sessions: another staff member's id matches nothing.
            target = StaffSession.objects.filter(
                pk=form.cleaned_data["session"], staff=staff, ended_at__isnull=True
            ).first()
            if target is not None:
                sessions.end(target, sessions.ENDED)
                if target.pk == request.staff_session.pk:
                    logout(request)
                    return redirect(f"{reverse('staff:login')}?ended={sessions.ENDED}")
        return redirect("staff:sessions")
    rows = [
        {"session": s, "current": s.pk == request.staff_session.pk} for s in sessions.active(staff)
    ]
    return render(request, "staff/sessions.html", {"rows": rows})


def _passkey_answer(request: HttpRequest, data: dict) -> dict:
    """The re-authentication arguments for a passkey's answer (empty answer: a code is used).

    The challenge was issued by `passkey_views.reauth_options` into this
    session, for this host.
    """
    return {
        "response": data.get("reauth_credential") or "",
        "rp": passkeys.RelyingParty.for_request(request),
        "state": request.session,
    }


def _missing(has_passkeys: bool) -> str:
    if has_passkeys:
        return _("Enter your password, and a code or use a passkey.")
    return _("Fill in every field.")


@staff_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def password_view(request: HttpRequest) -> HttpResponse:
    error = notice = ""
    has_passkeys = passkeys.has_passkeys(request.user)
    form = PasswordChangeForm(request.POST or None, passkey=has_passkeys)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ended = signin.change_password(
                request.user,
                current=data["current_password"],
                new=data["new_password"],
                new_again=data["new_password_again"],
                code=data["code"],
                keep_session=request.session.session_key,
                source=source_of(request),
                **_passkey_answer(request, data),
            )
        except (signin.SignInFailed, services.AccountError) as exc:
            error = str(exc)
        else:
            # This session stays signed in; Django would otherwise end it too.
            # That gives it a new id, which the register must follow.
            update_session_auth_hash(request, request.user)
            sessions.rekey(request.staff_session, request.session.session_key)
            notice = _("Your password is changed. Sessions ended elsewhere: %(n)d.") % {"n": ended}
            form = PasswordChangeForm(passkey=has_passkeys)
    elif request.method == "POST":
        error = _missing(has_passkeys)
    context = {"form": form, "error": error, "notice": notice, "has_passkeys": has_passkeys}
    return render(request, "staff/password.html", context)


@staff_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    error = ""
    has_passkeys = passkeys.has_passkeys(request.user)
    form = RecoveryCodesForm(request.POST or None, passkey=has_passkeys)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            codes = signin.replace_recovery_codes(
                request.user,
                password=data["current_password"],
                code=data["code"],
                source=source_of(request),
                **_passkey_answer(request, data),
            )
        except signin.SignInFailed as exc:
            error = str(exc)
        else:
            return render(request, "staff/recovery_codes.html", {"codes": codes, "replaced": True})
    elif request.method == "POST":
        error = _missing(has_passkeys)
    context = {
        "form": form,
        "error": error,
        "left": mfa.recovery_codes_left(request.user),
        "has_passkeys": has_passkeys,
    }
    return render(request, "staff/recovery_codes_new.html", context)


@public_page
@csrf_protect
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        sessions.end_by_key(request.user, request.session.session_key, sessions.SIGNED_OUT)
    logout(request)
    return redirect(f"{reverse('staff:login')}?ended={sessions.SIGNED_OUT}")
