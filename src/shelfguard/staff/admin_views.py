"""Staff administration, roles, certifications and break-glass pages.

Every view is guarded by `permission_required(code, branch_of=...)`: the
branch of the object a page acts on is looked up before the view runs, so a
branch manager opening a staff member of another branch gets the 403 page.
The services check again (and add the rule against privilege escalation);
views only translate requests into service calls and show what they return.
Secrets are never shown, except a new one-time enrolment code, once, in the
response that made it.
"""

from __future__ import annotations

import datetime as dt

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from shelfguard.accounts import services
from shelfguard.accounts.models import BreakGlassGrant, Role, StaffUser
from shelfguard.accounts.permissions import PERMISSIONS
from shelfguard.core import clock
from shelfguard.core.models import Branch
from shelfguard.staff.access import permission_required, refused
from shelfguard.staff.admin_forms import (
    AssignRolesForm,
    BranchFilterForm,
    CertificationForm,
    ConfirmForm,
    CreateStaffForm,
    GrantForm,
    MoveStaffForm,
    ReviewForm,
    RoleForm,
)

ADMIN_PURPOSE = "staff administration"
ROLE_PURPOSE = "role administration"
CERT_PURPOSE = "privacy certification"
BREAKGLASS_PURPOSE = "break-glass review"


# --- guards -------------------------------------------------------------------------


def _branch_id_of_code(code) -> int | None:
    if not isinstance(code, str) or not code.strip():
        return None
    return Branch.objects.filter(code=code.strip().upper()).values_list("pk", flat=True).first()


def branch_of_target(request: HttpRequest, staff_id: int, **_kwargs) -> int | None:
    """The home branch of the staff member in the URL (None if there is none)."""
    return StaffUser.objects.filter(pk=staff_id).values_list("branch_id", flat=True).first()


def branch_of_filter(request: HttpRequest, **_kwargs) -> int | None:
    """The branch asked for (`?branch=CODE`), else the signed-in staff member's own."""
    wanted = request.GET.get("branch", "")
    if wanted:
        return _branch_id_of_code(wanted)
    return getattr(request.user, "branch_id", None)


def branch_of_new_staff(request: HttpRequest, **_kwargs) -> int | None:
    """The branch the new staff member would belong to (posted), else one's own."""
    if request.method == "POST" and request.POST.get("branch"):
        return _branch_id_of_code(request.POST["branch"])
    return getattr(request.user, "branch_id", None)


def _actor(request: HttpRequest):
    return services.staff_actor(request.user)


def _target(staff_id: int) -> StaffUser:
    return get_object_or_404(StaffUser.objects.select_related("branch"), pk=staff_id)


_DONE = {
    "roles": lambda: _("The roles were changed."),
    "disabled": lambda: _("The account is disabled and all its sessions have ended."),
    "enabled": lambda: _("The account is enabled again."),
    "moved": lambda: _("The staff member now belongs to the new branch."),
    "role": lambda: _("The role was saved; it applies to its holders at once."),
    "certified": lambda: _("The certification was recorded."),
    "granted": lambda: _("The grant was recorded and flagged for review."),
    "revoked": lambda: _("The grant was revoked."),
    "reviewed": lambda: _("The review was recorded."),
    "unchanged": lambda: _("Nothing was changed."),
}


def _notice(request: HttpRequest) -> str:
    maker = _DONE.get(request.GET.get("done", ""))
    return maker() if maker else ""


def _back(name: str, done: str, **kwargs) -> HttpResponse:
    return redirect(f"{reverse(name, kwargs=kwargs or None)}?{urlencode({'done': done})}")


# --- staff ----------------------------------------------------------------------------


@permission_required("staff.manage", branch_of=branch_of_filter)
@require_http_methods(["GET"])
def staff_list(request: HttpRequest) -> HttpResponse:
    form = BranchFilterForm(request.GET or None)
    # No branch asked for: everyone one may manage (a branch manager: their branch).
    branch = request.GET.get("branch") or None
    try:
        people = services.list_staff(by=request.user, branch=branch, purpose=ADMIN_PURPOSE)
    except services.AccessDenied as exc:
        return refused(request, exc.decision.reason)
    except services.AccountError as exc:
        return render(
            request,
            "staff/admin/staff_list.html",
            {"form": form, "people": [], "error": str(exc)},
        )
    context = {"form": form, "people": people, "notice": _notice(request)}
    return render(request, "staff/admin/staff_list.html", context)


@permission_required("staff.manage", branch_of=branch_of_new_staff)
@csrf_protect
@require_http_methods(["GET", "POST"])
def staff_create(request: HttpRequest) -> HttpResponse:
    form = CreateStaffForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            staff, code = services.create_staff(
                data["username"],
                roles=data["roles"],
                branch=data["branch"],
                actor=_actor(request),
                by=request.user,
                purpose=ADMIN_PURPOSE,
            )
        except services.AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except services.AccountError as exc:
            error = str(exc)
        else:
            # The code is shown in this response only; only its hash is kept.
            return render(
                request,
                "staff/admin/enrolment_code.html",
                {"target": staff, "code": code, "created": True},
            )
    elif request.method == "POST":
        error = _("Fill in every field marked as required.")
    return render(request, "staff/admin/staff_create.html", {"form": form, "error": error})


@permission_required("staff.manage", branch_of=branch_of_target)
@require_http_methods(["GET"])
def staff_detail(request: HttpRequest, staff_id: int) -> HttpResponse:
    target = _target(staff_id)
    try:
        details = services.staff_details(target, by=request.user, purpose=ADMIN_PURPOSE)
    except services.AccessDenied as exc:
        return refused(request, exc.decision.reason)
    context = {"target": target, "d": details, "notice": _notice(request)}
    return render(request, "staff/admin/staff_detail.html", context)


@permission_required("staff.manage", branch_of=branch_of_target)
@csrf_protect
@require_http_methods(["GET", "POST"])
def staff_roles(request: HttpRequest, staff_id: int) -> HttpResponse:
    target = _target(staff_id)
    initial = {"roles": [r.code for r in target.roles.all()]}
    form = AssignRolesForm(request.POST or None, initial=initial)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            added, removed = services.assign_roles(
                target,
                form.cleaned_data["roles"],
                actor=_actor(request),
                by=request.user,
                purpose=ADMIN_PURPOSE,
            )
        except services.AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except services.AccountError as exc:
            error = str(exc)
        else:
            done = "roles" if added or removed else "unchanged"
            return _back("staff:admin_staff_detail", done, staff_id=target.pk)
    elif request.method == "POST":
        error = _("Choose at least one role.")
    roles = list(Role.objects.order_by("code"))
    context = {"target": target, "form": form, "error": error, "roles": roles}
    return render(request, "staff/admin/staff_roles.html", context)


def _confirm_page(request, target, *, title, explanation, button, action):
    """A confirmation page (GET), or the action when confirmed (POST)."""
    form = ConfirmForm(request.POST or None)
    error = ""
    if request.method == "POST":
        if form.is_valid():
            try:
                return action()
            except services.AccessDenied as exc:
                return refused(request, exc.decision.reason)
            except services.AccountError as exc:
                error = str(exc)
        else:
            error = _("Tick the box to confirm.")
    context = {
        "target": target,
        "form": form,
        "error": error,
        "title": title,
        "explanation": explanation,
        "button": button,
    }
    return render(request, "staff/admin/confirm.html", context)


@permission_required("staff.manage", branch_of=branch_of_target)
@csrf_protect
@require_http_methods(["GET", "POST"])
def staff_disable(request: HttpRequest, staff_id: int) -> HttpResponse:
    target = _target(staff_id)

    def act():
        services.disable_staff(
            target, actor=_actor(request), by=request.user, purpose=ADMIN_PURPOSE
        )
        return _back("staff:admin_staff_detail", "disabled", staff_id=target.pk)

    return _confirm_page(
        request,
        target,
        title=_("Disable %(name)s") % {"name": target.username},
        explanation=_(
            "They are signed out everywhere at once and cannot sign in until an "
            "administrator enables the account again. Unused enrolment codes stop working."
        ),
        button=_("Disable the account"),
        action=act,
    )


@permission_required("staff.manage", branch_of=branch_of_target)
@csrf_protect
@require_http_methods(["GET", "POST"])
def staff_enable(request: HttpRequest, staff_id: int) -> HttpResponse:
    target = _target(staff_id)

    def act():
        services.enable_staff(target, actor=_actor(request), by=request.user, purpose=ADMIN_PURPOSE)
        return _back("staff:admin_staff_detail", "enabled", staff_id=target.pk)

    return _confirm_page(
        request,
        target,
        title=_("Enable %(name)s again") % {"name": target.username},
        explanation=_("They can sign in again with their password and second factor."),
        button=_("Enable the account"),
        action=act,
    )


@permission_required("staff.manage", branch_of=branch_of_target)
@csrf_protect
@require_http_methods(["GET", "POST"])
def staff_move(request: HttpRequest, staff_id: int) -> HttpResponse:
    target = _target(staff_id)
    form = MoveStaffForm(request.POST or None, initial={"branch": target.branch.code})
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            services.move_staff(
                target,
                form.cleaned_data["branch"],
                actor=_actor(request),
                by=request.user,
                purpose=ADMIN_PURPOSE,
            )
        except services.AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except services.AccountError as exc:
            error = str(exc)
        else:
            return _back("staff:admin_staff_detail", "moved", staff_id=target.pk)
    elif request.method == "POST":
        error = _("Choose the branch and tick the box to confirm.")
    return render(
        request, "staff/admin/staff_move.html", {"target": target, "form": form, "error": error}
    )


@permission_required("staff.manage", branch_of=branch_of_target)
@csrf_protect
@require_http_methods(["GET", "POST"])
def staff_enrolment_code(request: HttpRequest, staff_id: int) -> HttpResponse:
    target = _target(staff_id)

    def act():
        code = services.reissue_enrolment_code(
            target, actor=_actor(request), by=request.user, purpose=ADMIN_PURPOSE
        )
        return render(request, "staff/admin/enrolment_code.html", {"target": target, "code": code})

    return _confirm_page(
        request,
        target,
        title=_("New enrolment code for %(name)s") % {"name": target.username},
        explanation=_(
            "For someone who has not set up their second factor yet. Any earlier code stops "
            "working. The new code is shown once: give it to them in person."
        ),
        button=_("Issue a new code"),
        action=act,
    )


@permission_required("staff.manage", branch_of=branch_of_target)
@csrf_protect
@require_http_methods(["GET", "POST"])
def staff_reset_factor(request: HttpRequest, staff_id: int) -> HttpResponse:
    target = _target(staff_id)

    def act():
        code = services.reset_second_factor(
            target, actor=_actor(request), by=request.user, purpose=ADMIN_PURPOSE
        )
        return render(
            request,
            "staff/admin/enrolment_code.html",
            {"target": target, "code": code, "reset": True},
        )

    return _confirm_page(
        request,
        target,
        title=_("Reset the second factor of %(name)s") % {"name": target.username},
        explanation=_(
            "Their authenticator app and recovery codes stop working and all their sessions "
            "end. Their password stays, but they cannot sign in until they enrol again with "
            "the one-time code shown next: give it to them in person, after checking who "
            "they are."
        ),
        button=_("Reset and issue a code"),
        action=act,
    )


# --- roles ----------------------------------------------------------------------------


@permission_required("role.manage")
@require_http_methods(["GET"])
def role_list(request: HttpRequest) -> HttpResponse:
    try:
        roles = services.list_roles(by=request.user, purpose=ROLE_PURPOSE)
    except services.AccessDenied as exc:
        return refused(request, exc.decision.reason)
    rows = [{"role": r, "holders": r.staff.filter(is_active=True).count()} for r in roles]
    context = {"rows": rows, "notice": _notice(request), "permissions": PERMISSIONS}
    return render(request, "staff/admin/role_list.html", context)


@permission_required("role.manage")
@csrf_protect
@require_http_methods(["GET", "POST"])
def role_create(request: HttpRequest) -> HttpResponse:
    form = RoleForm(request.POST or None, initial={"scope": Role.Scope.LIBRARY})
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            role = services.create_role(
                data["code"],
                name=data["name"],
                description=data["description"],
                permissions=data["permissions"],
                scope=data["scope"],
                actor=_actor(request),
                by=request.user,
                purpose=ROLE_PURPOSE,
            )
        except services.AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except services.AccountError as exc:
            error = str(exc)
        else:
            return _back("staff:admin_role_edit", "role", role_id=role.pk)
    elif request.method == "POST":
        error = _("Fill in every field marked as required.")
    return render(request, "staff/admin/role_edit.html", {"form": form, "error": error})


@permission_required("role.manage")
@csrf_protect
@require_http_methods(["GET", "POST"])
def role_edit(request: HttpRequest, role_id: int) -> HttpResponse:
    role = get_object_or_404(Role, pk=role_id)
    initial = {
        "name": role.name,
        "description": role.description,
        "scope": role.scope,
        "permissions": list(role.permissions),
    }
    form = RoleForm(request.POST or None, initial=initial, editing=True)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_role(
                role,
                name=data["name"],
                description=data["description"],
                permissions=data["permissions"],
                scope=data["scope"],
                actor=_actor(request),
                by=request.user,
                purpose=ROLE_PURPOSE,
            )
        except services.AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except services.AccountError as exc:
            error = str(exc)
        else:
            return _back("staff:admin_role_edit", "role", role_id=role.pk)
    elif request.method == "POST":
        error = _("Fill in every field marked as required.")
    context = {"role": role, "form": form, "error": error, "notice": _notice(request)}
    return render(request, "staff/admin/role_edit.html", context)


# --- certifications -------------------------------------------------------------------


def _staff_choices(exclude: StaffUser | None = None):
    people = StaffUser.objects.filter(is_active=True).select_related("branch").order_by("username")
    return [
        (str(s.pk), f"{s.username} ({s.branch.code})")
        for s in people
        if exclude is None or s.pk != exclude.pk
    ]


@permission_required("certification.record")
@require_http_methods(["GET"])
def certification_list(request: HttpRequest) -> HttpResponse:
    try:
        rows = services.list_certifications(by=request.user, purpose=CERT_PURPOSE)
    except services.AccessDenied as exc:
        return refused(request, exc.decision.reason)
    soon = clock.today() + dt.timedelta(days=30)
    context = {"rows": rows, "soon": soon, "notice": _notice(request)}
    return render(request, "staff/admin/certification_list.html", context)


@permission_required("certification.record")
@csrf_protect
@require_http_methods(["GET", "POST"])
def certification_record(request: HttpRequest) -> HttpResponse:
    today = clock.today()
    initial = {
        "staff": request.GET.get("staff", ""),
        "passed_on": today,
        "expires_on": today.replace(year=today.year + 1)
        if not (today.month == 2 and today.day == 29)
        else today + dt.timedelta(days=365),
    }
    form = CertificationForm(
        request.POST or None, initial=initial, staff_choices=_staff_choices(request.user)
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        target = StaffUser.objects.filter(pk=int(data["staff"])).first()
        if target is None:
            raise Http404
        try:
            services.certify(
                target,
                course=data["course"],
                until=data["expires_on"],
                passed_on=data["passed_on"],
                actor=_actor(request),
                by=request.user,
                purpose=CERT_PURPOSE,
            )
        except services.AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except services.AccountError as exc:
            error = str(exc)
        else:
            return _back("staff:admin_certifications", "certified")
    elif request.method == "POST":
        error = _("Fill in every field marked as required.")
    return render(request, "staff/admin/certification_record.html", {"form": form, "error": error})


# --- break-glass ----------------------------------------------------------------------


@permission_required("breakglass.grant")
@require_http_methods(["GET"])
def breakglass_list(request: HttpRequest) -> HttpResponse:
    try:
        rows = services.list_break_glass(by=request.user, purpose=BREAKGLASS_PURPOSE)
    except services.AccessDenied as exc:
        return refused(request, exc.decision.reason)
    return render(
        request, "staff/admin/breakglass_list.html", {"rows": rows, "notice": _notice(request)}
    )


@permission_required("breakglass.grant")
@csrf_protect
@require_http_methods(["GET", "POST"])
def breakglass_grant(request: HttpRequest) -> HttpResponse:
    form = GrantForm(
        request.POST or None,
        initial={"staff": request.GET.get("staff", "")},
        staff_choices=_staff_choices(request.user),
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        target = StaffUser.objects.filter(pk=int(data["staff"]), is_active=True).first()
        if target is None:
            raise Http404
        now = clock.now()
        try:
            grant = services.grant_break_glass(
                target,
                data["permissions"],
                justification=data["justification"],
                by=request.user,
                starts=now,
                ends=now + dt.timedelta(hours=data["hours"]),
            )
        except services.AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except services.AccountError as exc:
            error = str(exc)
        else:
            return _back("staff:admin_breakglass_detail", "granted", grant_id=grant.pk)
    elif request.method == "POST":
        error = _("Fill in every field; the justification needs at least %(n)d characters.") % {
            "n": services.MIN_JUSTIFICATION
        }
    return render(request, "staff/admin/breakglass_grant.html", {"form": form, "error": error})


def _grant_page(request: HttpRequest, grant_id: int, *, error: str = "", status: int = 200):
    get_object_or_404(BreakGlassGrant, pk=grant_id)
    try:
        row = services.get_break_glass(grant_id, by=request.user, purpose=BREAKGLASS_PURPOSE)
    except services.AccessDenied as exc:
        return refused(request, exc.decision.reason)
    context = {
        "row": row,
        "grant": row.grant,
        "own": row.grant.staff_id == request.user.pk,
        "notice": _notice(request),
        "error": error,
    }
    return render(request, "staff/admin/breakglass_detail.html", context, status=status)


@permission_required("breakglass.grant")
@require_http_methods(["GET"])
def breakglass_detail(request: HttpRequest, grant_id: int) -> HttpResponse:
    return _grant_page(request, grant_id)


@permission_required("breakglass.grant")
@csrf_protect
@require_POST
def breakglass_revoke(request: HttpRequest, grant_id: int) -> HttpResponse:
    grant = get_object_or_404(BreakGlassGrant, pk=grant_id)
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        return _back("staff:admin_breakglass_detail", "unchanged", grant_id=grant.pk)
    try:
        services.revoke_break_glass(grant, by=request.user, purpose="break-glass revocation")
    except services.AccessDenied as exc:
        return refused(request, exc.decision.reason)
    except services.AccountError as exc:
        return _grant_page(request, grant.pk, error=str(exc), status=400)
    return _back("staff:admin_breakglass_detail", "revoked", grant_id=grant.pk)


@permission_required("breakglass.grant")
@csrf_protect
@require_POST
def breakglass_review(request: HttpRequest, grant_id: int) -> HttpResponse:
    grant = get_object_or_404(BreakGlassGrant, pk=grant_id)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _back("staff:admin_breakglass_detail", "unchanged", grant_id=grant.pk)
    try:
        services.review_break_glass_use(
            grant,
            form.cleaned_data["use"],
            outcome=form.cleaned_data["outcome"],
            by=request.user,
            purpose=BREAKGLASS_PURPOSE,
        )
    except services.AccessDenied as exc:
        return refused(request, exc.decision.reason)
    except services.AccountError as exc:
        return _grant_page(request, grant.pk, error=str(exc), status=400)
    return _back("staff:admin_breakglass_detail", "reviewed", grant_id=grant.pk)
