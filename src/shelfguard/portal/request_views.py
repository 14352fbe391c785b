"""The patron's requests (correct my details) and the public card application.

`/account/requests/` lets a signed-in patron change the contact details the
library lets them edit themselves (after entering the password again, and a
code when they use an authenticator app), and send correction requests for
the details staff verify (name, address, birth data), follow them, withdraw
them and answer a request for proof. Request ids travel in POST bodies only;
one that is not the patron's own is a plain 404.

`/account/register/` is the public card application, when the library has
switched it on (`[portal] self_registration`); otherwise it is a 404 page
that says so. The confirmation link (`/account/register/confirm/<token>/`)
asks for one click (so a mail scanner that follows links does not use it up)
and then shows the new card number, once.

The views only translate: `patrons.services` does the work and writes the
ledger. Everything a patron or staff member typed is escaped by the
templates (never marked safe).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from shelfguard.accounts import passwords, throttle
from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.patrons import privacy_notice
from shelfguard.patrons import register as reg
from shelfguard.patrons import services as patrons
from shelfguard.patrons import validation as v
from shelfguard.patrons.corrections import NOTE_MAX
from shelfguard.patrons.models import PrivacyNotice
from shelfguard.portal import credentials
from shelfguard.portal import services as portal
from shelfguard.portal.access import patron_required, public_page, source_of
from shelfguard.portal.forms import _code, _password
from shelfguard.staff.desk_forms import CONSENT_LABELS, field_label

#: Input lengths of the forms: the register's own limits, so nothing longer reaches a service.
FIELD_MAX = {
    "name": v.NAME_MAX,
    "guardian_name": v.NAME_MAX,
    "address": v.ADDRESS_MAX,
    "email": v.EMAIL_MAX,
    "phone": 40,
    "birth_year": 4,
    "birth_date": 10,
}

DONE = {
    "changed": gettext_lazy("Your details are changed."),
    "sent": gettext_lazy("Your request is sent. The library will look at it soon."),
    "withdrawn": gettext_lazy("Your request is withdrawn."),
    "noted": gettext_lazy("Your note is added; the library will look at the request again."),
}

STEP_LABELS = {
    "submitted": gettext_lazy("request sent"),
    "proof": gettext_lazy("proof asked for"),
    "note": gettext_lazy("answer added"),
    "approved": gettext_lazy("approved"),
    "rejected": gettext_lazy("rejected"),
    "withdrawn": gettext_lazy("withdrawn"),
}


def _steps(steps) -> list[dict[str, Any]]:
    return [
        {
            "at": s.at,
            "label": STEP_LABELS.get(s.action, s.action),
            "by_staff": s.by_staff,
            "reason": s.reason,
            "note": s.note,
        }
        for s in steps
    ]


def _value_field(key: str, *, required: bool = False) -> forms.Field:
    label = field_label(key)
    if key == "address":
        return forms.CharField(
            label=label,
            max_length=FIELD_MAX[key],
            required=required,
            widget=forms.Textarea(attrs={"rows": 3}),
        )
    if key == "email":
        return forms.CharField(
            label=label,
            max_length=FIELD_MAX[key],
            required=required,
            widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        )
    attrs = {"autocomplete": {"name": "name", "phone": "tel"}.get(key, "off")}
    if key == "birth_date":
        attrs["placeholder"] = "YYYY-MM-DD"
    return forms.CharField(
        label=label,
        max_length=FIELD_MAX.get(key, v.NAME_MAX),
        required=required,
        widget=forms.TextInput(attrs=attrs),
    )


def _first_error(form: forms.Form) -> str:
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        return f"{label}: {errors[0]}" if label else str(errors[0])
    return _("Check the form.")


# --- forms ------------------------------------------------------------------------------


class OwnDetailsForm(forms.Form):
    """The self-editable fields (e-mail, phone by default), then the password (and a code)."""

    def __init__(self, *args: Any, keys: tuple[str, ...], has_totp: bool, **kwargs: Any):
        super().__init__(*args, prefix="own", **kwargs)
        self.keys = keys
        for key in keys:
            self.fields[key] = _value_field(key)
        self.fields["remove"] = forms.MultipleChoiceField(
            label=_("Remove"),
            choices=[(k, field_label(k)) for k in keys],
            required=False,
            widget=forms.CheckboxSelectMultiple,
        )
        self.fields["current_password"] = _password(
            _("Your current password"), autocomplete="current-password"
        )
        if has_totp:
            self.fields["code"] = _code(_("The 6-digit code your authenticator app shows now"))

    def changes(self) -> dict[str, str | None]:
        data = self.cleaned_data
        out: dict[str, str | None] = {k: data[k] for k in self.keys if data.get(k)}
        for key in data.get("remove") or []:
            out[key] = None
        return out


class CorrectionForm(forms.Form):
    """New values for the reviewed fields (fill in only what is wrong), and a note."""

    def __init__(self, *args: Any, keys: tuple[str, ...], **kwargs: Any):
        super().__init__(*args, prefix="fix", **kwargs)
        self.keys = keys
        for key in keys:
            self.fields[key] = _value_field(key)
        self.fields["note"] = forms.CharField(
            label=_("Note for the library (optional)"),
            help_text=_("For example what the correct value is based on."),
            max_length=NOTE_MAX,
            required=False,
            widget=forms.Textarea(attrs={"rows": 3}),
        )

    def values(self) -> dict[str, str]:
        return {k: self.cleaned_data[k] for k in self.keys if self.cleaned_data.get(k)}


class RequestIdForm(forms.Form):
    request = forms.IntegerField(min_value=1, max_value=2**62)


class NoteForm(RequestIdForm):
    note = forms.CharField(
        label=_("Your answer"), max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )


# --- the requests page ----------------------------------------------------------------------


def _requests_page(request: HttpRequest, *, error: str = "", own=None, fix=None, status=200):
    patron = request.patron_session.patron
    actor = portal.patron_actor(patron)
    has_totp = portal.has_totp(patron)
    rows = patrons.requests_of(patron, actor=actor)
    labels = {k: field_label(k) for k in reg.SEALED_KEYS}
    context = {
        "error": error,
        "notice": DONE.get(request.GET.get("done", ""), ""),
        "has_totp": has_totp,
        "own_form": own or OwnDetailsForm(keys=reg.self_editable(), has_totp=has_totp),
        "fix_form": fix or CorrectionForm(keys=patrons.reviewed_fields_for(patron)),
        "requests": [
            {
                "id": r.id,
                "status": r.status,
                "status_label": r.status_label,
                "created_at": r.created_at,
                "decided_at": r.decided_at,
                "reason": r.reason,
                "note": r.note,
                "pending": r.pending,
                "needs_proof": r.needs_proof,
                "proposed": [(labels.get(k, k), val) for k, val in sorted(r.proposed.items())],
                "steps": _steps(r.steps),
            }
            for r in rows
        ],
    }
    return render(request, "portal/requests/requests.html", context, status=status)


def _done(what: str) -> HttpResponse:
    return redirect(f"{reverse('portal:requests')}?done={what}")


@patron_required
@csrf_protect
@require_http_methods(["GET", "POST"])
def requests_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _requests_page(request)
    patron = request.patron_session.patron
    actor = portal.patron_actor(patron)
    action = request.POST.get("action", "")
    try:
        if action == "own":
            return _own_details(request, patron, actor)
        if action == "submit":
            form = CorrectionForm(request.POST, keys=patrons.reviewed_fields_for(patron))
            if not form.is_valid():
                return _requests_page(request, error=_first_error(form), fix=form, status=400)
            patrons.submit(patron, form.values(), note=form.cleaned_data["note"], actor=actor)
            return _done("sent")
        if action == "withdraw":
            form = RequestIdForm(request.POST)
            if not form.is_valid():
                raise Http404
            patrons.withdraw(patron, form.cleaned_data["request"], actor=actor)
            return _done("withdrawn")
        if action == "note":
            form = NoteForm(request.POST)
            if not form.is_valid():
                if not RequestIdForm(request.POST).is_valid():
                    raise Http404
                return _requests_page(request, error=_first_error(form), status=400)
            patrons.add_note(
                patron, form.cleaned_data["request"], form.cleaned_data["note"], actor=actor
            )
            return _done("noted")
    except patrons.CorrectionNotFound:
        raise Http404 from None
    except patrons.PatronError as exc:
        return _requests_page(request, error=str(exc), status=400)
    return _requests_page(request, error=_("Choose what to do."), status=400)


def _own_details(request: HttpRequest, patron, actor: Actor) -> HttpResponse:
    has_totp = portal.has_totp(patron)
    form = OwnDetailsForm(request.POST, keys=reg.self_editable(), has_totp=has_totp)
    if not form.is_valid():
        blank = OwnDetailsForm(keys=reg.self_editable(), has_totp=has_totp)
        return _requests_page(request, error=_first_error(form), own=blank, status=400)
    changes = form.changes()
    if not changes:
        return _requests_page(
            request, error=_("Fill in a new value, or tick what to remove."), status=400
        )
    try:
        credentials.reauthenticate(
            patron,
            form.cleaned_data["current_password"],
            form.cleaned_data.get("code", ""),
            source=source_of(request),
        )
    except portal.SignInFailed as failed:
        response = _requests_page(request, error=str(failed), status=400)
        if failed.retry_after:
            response["Retry-After"] = str(failed.retry_after)
        return response
    patrons.change_own_details(patron, changes, actor=actor)
    return _done("changed")


# --- the public card application ---------------------------------------------------------------


def _throttle_account(request: HttpRequest) -> str:
    """The throttle's name for applications from one address: a keyed hash, never the address."""
    return "selfreg:" + keyed_hash("selfreg-source", source_of(request))[:32]


class ApplicationForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for key in patrons.self_registration_fields():
            self.fields[key] = _value_field(key, required=key in ("name", "email"))
        branches = list(Branch.objects.order_by("code").values_list("code", "name"))
        self.fields["home_branch"] = forms.ChoiceField(
            label=_("Your library branch"),
            choices=[(code, f"{name}") for code, name in branches],
        )
        self.fields["adult"] = forms.BooleanField(
            label=_("I am %(age)d or older") % {"age": reg.guardian_age()},
            help_text=_("Younger readers: please come to the library with a parent or guardian."),
        )
        self.fields["new_password"] = _password(
            _("Choose a password"),
            autocomplete="new-password",
            help_text=_(
                "At least 15 characters; a few words you will remember work well. "
                "Not your card number."
            ),
        )
        self.fields["new_password_again"] = _password(
            _("The same password again"), autocomplete="new-password"
        )
        self.fields["accept"] = forms.BooleanField(
            label=_("I have read the privacy notice above and agree to its terms of service.")
        )
        for purpose in reg.CONSENT_PURPOSES:
            if purpose == reg.REQUIRED_CONSENT:
                continue
            self.fields[f"consent_{purpose}"] = forms.BooleanField(
                label=CONSENT_LABELS.get(purpose, purpose), required=False
            )

    def values(self) -> dict[str, str]:
        return {
            k: self.cleaned_data[k]
            for k in patrons.self_registration_fields()
            if self.cleaned_data.get(k)
        }

    def consents(self) -> list[str]:
        return [
            p
            for p in reg.CONSENT_PURPOSES
            if p != reg.REQUIRED_CONSENT and self.cleaned_data.get(f"consent_{p}")
        ]


def _switched_off(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/requests/register_off.html", status=404)


def _notice() -> tuple[int | None, str]:
    try:
        notice = privacy_notice.current(translation.get_language() or "en")
    except (privacy_notice.NoticeError, PrivacyNotice.DoesNotExist):
        return None, ""
    return notice.version, notice.text


@public_page
@csrf_protect
@require_http_methods(["GET", "POST"])
def register_view(request: HttpRequest) -> HttpResponse:
    if not patrons.self_registration_available():
        return _switched_off(request)
    version, text = _notice()
    if version is None:
        return _switched_off(request)
    form = ApplicationForm(request.POST or None)
    error, status = "", 200
    if request.method == "POST":
        account = _throttle_account(request)
        verdict = throttle.check(account, "")
        if not verdict.allowed:
            response = render(
                request,
                "portal/requests/register.html",
                {
                    "form": ApplicationForm(),
                    "notice_version": version,
                    "notice_text": text,
                    "error": _(
                        "Too many applications were sent from here. Wait %(n)d seconds, "
                        "then try again."
                    )
                    % {"n": verdict.retry_after or 60},
                },
                status=429,
            )
            response["Retry-After"] = str(verdict.retry_after or 60)
            return response
        if form.is_valid():
            data = form.cleaned_data
            problems = passwords.problems(data["new_password"], second_factor=False)
            if data["new_password"] != data["new_password_again"]:
                problems.append(_("The two passwords differ."))
            if problems:
                error, status = " ".join(problems), 400
            else:
                try:
                    outcome = patrons.apply_for_card(
                        form.values(),
                        home_branch=data["home_branch"],
                        consents=form.consents(),
                        set_credentials=lambda patron: portal.set_password(
                            patron,
                            data["new_password"],
                            data["new_password_again"],
                            actor=portal.patron_actor(patron),
                            purpose="self-registration",
                        ),
                        link_for=lambda token: request.build_absolute_uri(
                            reverse("portal:register_confirm", args=[token])
                        ),
                        actor=Actor.public("web"),
                    )
                except patrons.SelfRegistrationError as exc:
                    # Switched on, but the installation cannot take it now (see the message).
                    error, status = str(exc), 503
                except (patrons.PatronError, portal.PortalError) as exc:
                    error, status = str(exc), 400
                else:
                    # Every application counts towards the limit for this address.
                    throttle.failure(account, "", channel="web")
                    return render(
                        request,
                        "portal/requests/register_sent.html",
                        {"mail_sent": outcome.mail_sent},
                    )
        else:
            error, status = _first_error(form), 400
    context = {"form": form, "notice_version": version, "notice_text": text, "error": error}
    return render(request, "portal/requests/register.html", context, status=status)


@public_page
@csrf_protect
@require_http_methods(["GET", "POST"])
def register_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    if not patrons.self_registration_available():
        return _switched_off(request)
    if request.method == "GET":
        if patrons.open_application_link(token) is None:
            return render(request, "portal/requests/register_link_invalid.html", status=404)
        return render(request, "portal/requests/register_confirm.html")
    try:
        confirmed = patrons.verify_email(token, actor_for=portal.patron_actor)
    except patrons.SelfRegistrationError:
        return render(request, "portal/requests/register_link_invalid.html", status=404)
    return render(
        request, "portal/requests/register_confirmed.html", {"card_number": confirmed.card_number}
    )
