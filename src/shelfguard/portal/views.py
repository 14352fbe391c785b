"""The patron's account pages. They translate requests into portal services.

Sign-in is one step (card number and password) or two when the patron uses
an authenticator app: the password step then only opens a short-lived
pending session, and the signed-in session gets a new token after the code.
Pages never receive patron model instances: only the plain facts they show.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from shelfguard.accounts.webauthn_core import RelyingParty
from shelfguard.patrons import services as patron_services
from shelfguard.portal import account_views, services
from shelfguard.portal import passkeys as patron_passkeys
from shelfguard.portal import sessions as register
from shelfguard.portal.access import (
    ENDED_MESSAGES,
    clear_cookie,
    local_next,
    patron_required,
    public_page,
    set_cookie,
    source_of,
    token_of,
)
from shelfguard.portal.forms import (
    CodeForm,
    EndSessionForm,
    LoginForm,
    PasskeyAddForm,
    PasskeyCredentialForm,
    PasskeyManageForm,
    PasswordChangeForm,
    SetPasswordForm,
    TotpDisableForm,
    TotpStartForm,
)
from shelfguard.portal.models import PatronSession
from shelfguard.staff.access import client_of


def _rp(request: HttpRequest) -> RelyingParty:
    return RelyingParty.for_request(request)


def _options(text: str) -> HttpResponse:
    return HttpResponse(text, content_type="application/json")


def _json_refused(message: str, *, status: int = 400, retry_after: int = 0) -> JsonResponse:
    response = JsonResponse({"error": str(message)}, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _refused(request: HttpRequest, template: str, context: dict, exc) -> HttpResponse:
    response = render(request, template, context)
    retry = getattr(exc, "retry_after", 0)
    if retry:
        response["Retry-After"] = str(retry)
    return response


@public_page
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    token = token_of(request)
    # Where to go after signing in (a portal path only, e.g. the place-hold page).
    back = local_next(request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET" and token and services.check_session(token)[0] is not None:
        return redirect(back or "portal:home")
    notice = ENDED_MESSAGES.get(request.GET.get("ended", ""), "")
    if request.GET.get("password") == "set":
        notice = _("Your password is set. Sign in with your card number and the new password.")
    if request.method == "POST":
        form = LoginForm(request.POST)
        error = str(services.GENERIC_FAILURE)
        exc = None
        if form.is_valid():
            data = form.cleaned_data
            try:
                patron = services.check_password(
                    data["card"], data["password"], source=source_of(request)
                )
            except services.SignInFailed as failed:
                error, exc = str(failed), failed
            else:
                if token:
                    # Whatever the browser held before is not carried over.
                    services.end_by_token(token, register.REPLACED)
                session, new_token = services.begin_sign_in(
                    patron, public=data["public"], client=client_of(request)
                )
                pending = session.stage == PatronSession.Stage.PENDING
                if pending:
                    verify = reverse("portal:verify")
                    target = f"{verify}?{urlencode({'next': back})}" if back else verify
                else:
                    target = back or reverse("portal:home")
                response = redirect(target)
                set_cookie(response, new_token, public=pending or session.public)
                return response
        # A fresh form: the card number is not written back into the page.
        context = {"form": LoginForm(), "error": error, "notice": "", "next": back}
        context["can_apply"] = patron_services.self_registration_available()
        return _refused(request, "portal/login.html", context, exc)
    context = {"form": LoginForm(), "notice": notice, "next": back}
    context["can_apply"] = patron_services.self_registration_available()
    return render(request, "portal/login.html", context)


@public_page
@csrf_protect
@require_http_methods(["GET", "POST"])
def verify_view(request: HttpRequest) -> HttpResponse:
    session = services.pending_session(token_of(request))
    if session is None:
        return redirect("portal:login")
    patron = session.patron
    back = local_next(request.POST.get("next") or request.GET.get("next"))
    context = {
        "form": CodeForm(),
        "has_totp": services.has_totp(patron),
        "has_passkeys": patron_passkeys.has_passkeys(patron),
        "next": back,
    }
    if request.method == "POST":
        error, exc = str(services.GENERIC_FAILURE), None
        try:
            if "credential" in request.POST:
                # The passkey form: the browser's answer to the session's challenge.
                form = PasskeyCredentialForm(request.POST)
                if not form.is_valid():
                    patron_passkeys.discard_challenge(session)
                    raise services.SignInFailed(error)
                new_token = patron_passkeys.finish_sign_in(
                    session,
                    form.cleaned_data["credential"],
                    rp=_rp(request),
                    source=source_of(request),
                )
            else:
                form = CodeForm(request.POST)
                if not form.is_valid():
                    raise services.SignInFailed(error)
                new_token = services.finish_sign_in(
                    session, form.cleaned_data["code"], source=source_of(request)
                )
        except services.SignInFailed as failed:
            error, exc = str(failed), failed
        else:
            response = redirect(back or reverse("portal:home"))
            set_cookie(response, new_token, public=session.public)
            return response
        return _refused(request, "portal/verify.html", {**context, "error": error}, exc)
    return render(request, "portal/verify.html", context)


@public_page
@csrf_protect
@require_POST
def verify_passkey_options(request: HttpRequest) -> HttpResponse:
    """Assertion options for the second step (JSON); the challenge goes on the pending session."""
    session = services.pending_session(token_of(request))
    if session is None:
        return _json_refused(
            _("This step has expired. Start again from the sign-in page."), status=403
        )
    try:
        return _options(
            patron_passkeys.begin_authentication(session.patron, session, rp=_rp(request))
        )
    except services.PortalError as failed:
        return _json_refused(str(failed))


@patron_required
@require_http_methods(["GET"])
def home(request: HttpRequest) -> HttpResponse:
    """My account: card, loans, holds, charges, blocks (see `account_views.render_home`)."""
    return account_views.render_home(request)


@patron_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def sessions_view(request: HttpRequest) -> HttpResponse:
    current = request.patron_session
    patron = current.patron
    if request.method == "POST":
        if "end_others" in request.POST:
            services.end_all_but(patron, current, register.ENDED)
            return redirect("portal:sessions")
        form = EndSessionForm(request.POST)
        if not form.is_valid():
            raise Http404
        # Only one's own sessions: another patron's session id matches nothing.
        ended = services.end_one(patron, form.cleaned_data["session"])
        if ended is None:
            raise Http404
        if ended.pk == current.pk:
            response = redirect(f"{reverse('portal:login')}?{urlencode({'ended': 'ended'})}")
            clear_cookie(response)
            return response
        return redirect("portal:sessions")
    rows = [
        {
            "id": s.pk,
            "client": s.client,
            "created_at": s.created_at,
            "last_seen": s.last_seen,
            "public": s.public,
            "current": s.pk == current.pk,
        }
        for s in services.active_sessions(patron)
    ]
    return render(request, "portal/sessions.html", {"rows": rows, "others": len(rows) > 1})


@patron_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def password_view(request: HttpRequest) -> HttpResponse:
    patron = request.patron_session.patron
    error = notice = ""
    form = PasswordChangeForm(request.POST or None)
    exc = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ended = services.change_password(
                patron,
                current=data["current_password"],
                new=data["new_password"],
                again=data["new_password_again"],
                code=data["code"],
                keep=request.patron_session,
                source=source_of(request),
            )
        except services.PortalError as failed:
            error, exc = str(failed), failed
        else:
            notice = _("Your password is changed. Sessions ended elsewhere: %(n)d.") % {"n": ended}
        form = PasswordChangeForm()
    elif request.method == "POST":
        error = _("Fill in every field.")
        form = PasswordChangeForm()
    context = {
        "form": form,
        "error": error,
        "notice": notice,
        "has_totp": services.has_totp(patron),
    }
    return _refused(request, "portal/password.html", context, exc)


@patron_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def security_view(request: HttpRequest) -> HttpResponse:
    patron = request.patron_session.patron
    source = source_of(request)
    error = notice = ""
    secret = None
    exc = None
    action = request.POST.get("action", "")
    if request.method == "POST":
        try:
            if action.startswith("passkey_"):
                notice = _passkey_action(request, action)
            elif action == "start":
                form = TotpStartForm(request.POST)
                if not form.is_valid():
                    raise services.PortalError(_("Enter your current password."))
                secret = services.start_totp(
                    patron, password=form.cleaned_data["current_password"], source=source
                )
            elif action == "confirm":
                form = CodeForm(request.POST)
                secret = services.pending_totp(patron)
                if secret is None:
                    raise services.PortalError(_("Setting up took too long. Start again."))
                if not form.is_valid():
                    raise services.PortalError(_("Enter the code your app shows."))
                services.confirm_totp(
                    patron, form.cleaned_data["code"], keep=request.patron_session, source=source
                )
                secret = None
                notice = _("Your authenticator app is now needed to sign in.")
            elif action == "disable":
                form = TotpDisableForm(request.POST)
                if not form.is_valid():
                    raise services.PortalError(_("Fill in every field."))
                services.disable_totp(
                    patron,
                    password=form.cleaned_data["current_password"],
                    code=form.cleaned_data["code"],
                    keep=request.patron_session,
                    source=source,
                )
                notice = _("Your authenticator app is no longer needed to sign in.")
            else:
                raise services.PortalError(_("Choose what to change."))
        except services.PortalError as failed:
            error, exc = str(failed), failed
    context = {
        "error": error,
        "notice": notice,
        "has_totp": services.has_totp(patron),
        "secret": services.grouped(secret) if secret else "",
        "uri": services.otpauth_uri(secret) if secret else "",
        "start_form": TotpStartForm(),
        "confirm_form": CodeForm(),
        "disable_form": TotpDisableForm(),
        "passkeys": [
            {
                "id": p.pk,
                "name": p.name,
                "created_at": p.created_at,
                "last_used_at": p.last_used_at,
                "form": PasskeyManageForm(
                    initial={"passkey": p.pk, "name": p.name}, auto_id=f"passkey-{p.pk}-%s"
                ),
            }
            for p in patron_passkeys.list_passkeys(patron)
        ],
        "add_form": PasskeyAddForm(auto_id="passkey-add-%s"),
    }
    return _refused(request, "portal/security.html", context, exc)


def _passkey_action(request: HttpRequest, action: str) -> str:
    """Add (the browser's answer), rename or remove a passkey; returns the notice."""
    patron = request.patron_session.patron
    source = source_of(request)
    if action == "passkey_add":
        form = PasskeyCredentialForm(request.POST)
        if not form.is_valid():
            raise services.PortalError(_("The passkey was not accepted. Try again."))
        passkey, _ended = patron_passkeys.finish_registration(
            patron,
            request.patron_session,
            form.cleaned_data["credential"],
            name=form.cleaned_data["name"],
            rp=_rp(request),
            source=source,
        )
        return _("Passkey “%(name)s” added. You can use it to sign in instead of a code.") % {
            "name": passkey.name
        }
    form = PasskeyManageForm(request.POST)
    if not form.is_valid():
        raise services.PortalError(_("Fill in every field."))
    data = form.cleaned_data
    if action == "passkey_rename":
        patron_passkeys.rename(
            patron,
            data["passkey"],
            data["name"],
            password=data["current_password"],
            code=data["code"],
            source=source,
        )
        return _("Passkey renamed.")
    if action == "passkey_remove":
        patron_passkeys.remove(
            patron,
            data["passkey"],
            password=data["current_password"],
            code=data["code"],
            session=request.patron_session,
            source=source,
        )
        return _("Passkey removed.")
    raise services.PortalError(_("Choose what to change."))


@patron_required
@csrf_protect
@require_POST
def passkey_add_options(request: HttpRequest) -> HttpResponse:
    """Registration options (JSON) after the password (and code, when the app is on)."""
    form = PasskeyAddForm(request.POST)
    if not form.is_valid():
        return _json_refused(_("Enter your current password."))
    try:
        return _options(
            patron_passkeys.begin_registration(
                request.patron_session.patron,
                request.patron_session,
                password=form.cleaned_data["current_password"],
                code=form.cleaned_data["code"],
                rp=_rp(request),
                source=source_of(request),
            )
        )
    except services.PortalError as failed:
        return _json_refused(str(failed), retry_after=getattr(failed, "retry_after", 0))


@public_page
@csrf_protect
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    services.end_by_token(token_of(request), register.SIGNED_OUT)
    response = redirect(f"{reverse('portal:login')}?{urlencode({'ended': register.SIGNED_OUT})}")
    clear_cookie(response)
    return response


@public_page
@csrf_protect
@require_http_methods(["GET", "POST"])
def set_password_view(request: HttpRequest, token: str) -> HttpResponse:
    if services.open_link(token) is None:
        return render(request, "portal/link_invalid.html", status=404)
    error = ""
    form = SetPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.use_link(
                token, form.cleaned_data["new_password"], form.cleaned_data["new_password_again"]
            )
        except services.PortalError as failed:
            error = str(failed)
        else:
            response = redirect(f"{reverse('portal:login')}?{urlencode({'password': 'set'})}")
            if token_of(request):
                clear_cookie(response)
            return response
        form = SetPasswordForm()
    elif request.method == "POST":
        error = _("Fill in every field.")
        form = SetPasswordForm()
    return render(request, "portal/set_password.html", {"form": form, "error": error})
