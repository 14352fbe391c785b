"""Loan-rule and branch-calendar pages (permission `circulation.rules`).

Every view is guarded by `permission_required("circulation.rules", branch_of=...)`:
a rule with a branch and the calendar of one branch are that branch's (a
branch manager may open their own); a rule for every branch needs the
permission library-wide. The pages only translate: every change goes through
`circulation.services` with the staff member as actor and a purpose, and a
refusal is shown with the service's own message.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from shelfguard.accounts.services import AccessDenied, staff_actor
from shelfguard.circulation import services as circ
from shelfguard.circulation.models import BranchCalendar, LoanPolicy, OpeningHours
from shelfguard.circulation.policy import POLICY_VALUES
from shelfguard.core import clock
from shelfguard.core.models import Branch
from shelfguard.staff.access import permission_required, refused
from shelfguard.staff.admin_forms import ConfirmForm
from shelfguard.staff.rules_forms import (
    WEEKDAYS,
    ClosedDayForm,
    HoursForm,
    PolicyForm,
    RemoveClosedDayForm,
    TimeZoneForm,
)

RULES_PURPOSE = "loan rules"
CALENDAR_PURPOSE = "branch calendar"


# --- guards -------------------------------------------------------------------------


def _branch_id_of_code(code) -> int | None:
    if not isinstance(code, str) or not code.strip():
        return None
    return Branch.objects.filter(code=code.strip().upper()).values_list("pk", flat=True).first()


def branch_of_rules_list(request: HttpRequest, **_kwargs) -> int | None:
    """The branch asked for (`?branch=CODE`), else the signed-in staff member's own."""
    wanted = request.GET.get("branch", "")
    if wanted:
        return _branch_id_of_code(wanted)
    return getattr(request.user, "branch_id", None)


def branch_of_new_rule(request: HttpRequest, **_kwargs) -> int | None:
    """The branch of the rule posted (none: every branch, library-wide); the form: one's own."""
    if request.method == "POST":
        return _branch_id_of_code(request.POST.get("branch", ""))
    return getattr(request.user, "branch_id", None)


def branch_of_rule(request: HttpRequest, policy_id: int, **_kwargs) -> int | None:
    """The branch of the rule in the URL; None (library-wide) for a rule of every branch."""
    return LoanPolicy.objects.filter(pk=policy_id).values_list("branch_id", flat=True).first()


def branch_of_calendar(request: HttpRequest, branch_code: str, **_kwargs) -> int | None:
    """The branch whose calendar the URL names (None if there is none: library-wide)."""
    return _branch_id_of_code(branch_code)


# --- helpers ------------------------------------------------------------------------


def _actor(request: HttpRequest):
    return staff_actor(request.user)


_DONE = {
    "saved": lambda: _("The rule was saved; it applies to new loans at once."),
    "deleted": lambda: _("The rule was deleted."),
    "zone": lambda: _("The time zone was saved."),
    "hours": lambda: _("The opening hours were saved."),
    "closed": lambda: _("The day was added to the closed days."),
    "reopened": lambda: _("The day is no longer closed."),
}


def _notice(request: HttpRequest) -> str:
    maker = _DONE.get(request.GET.get("done", ""))
    return maker() if maker else ""


def _back(name: str, done: str, **kwargs) -> HttpResponse:
    return redirect(f"{reverse(name, kwargs=kwargs or None)}?{urlencode({'done': done})}")


def _rule(policy_id: int) -> dict:
    row = next((r for r in circ.list_policies() if r["id"] == policy_id), None)
    if row is None:
        raise Http404
    return row


def _cell_label(row: dict) -> str:
    return " × ".join(
        [
            row["patron_category"] or _("any category"),
            row["item_type"] or _("any item type"),
            row["branch"] or _("every branch"),
        ]
    )


# --- loan rules ---------------------------------------------------------------------


@permission_required("circulation.rules", branch_of=branch_of_rules_list)
@require_http_methods(["GET"])
def rules_list(request: HttpRequest) -> HttpResponse:
    rows = circ.list_policies()
    wanted = request.GET.get("branch", "").strip().upper()
    if wanted:
        # A branch's view of the matrix: its own rules and those of every branch.
        rows = [r for r in rows if r["branch"] in (None, wanted)]
    for row in rows:
        row["default"] = not (row["patron_category"] or row["item_type"] or row["branch"])
    branches = list(Branch.objects.order_by("code"))
    context = {"rows": rows, "branches": branches, "wanted": wanted, "notice": _notice(request)}
    return render(request, "staff/admin/rules_list.html", context)


def _values(data: dict) -> dict:
    return {name: data[name] for name in POLICY_VALUES}


@permission_required("circulation.rules", branch_of=branch_of_new_rule)
@csrf_protect
@require_http_methods(["GET", "POST"])
def rule_create(request: HttpRequest) -> HttpResponse:
    defaults = {f.name: f.default for f in LoanPolicy._meta.fields if f.name in POLICY_VALUES}
    form = PolicyForm(request.POST or None, initial=defaults)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            circ.set_policy(
                category=data["category"] or None,
                item_type=data["item_type"] or None,
                branch=data["branch"] or None,
                actor=_actor(request),
                purpose=RULES_PURPOSE,
                **_values(data),
            )
        except AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except circ.CirculationError as exc:
            error = exc.message
        else:
            return _back("staff:rules_list", "saved")
    elif request.method == "POST":
        error = _("Fill in every value as a whole number.")
    return render(request, "staff/admin/rules_edit.html", {"form": form, "error": error})


@permission_required("circulation.rules", branch_of=branch_of_rule)
@csrf_protect
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, policy_id: int) -> HttpResponse:
    row = _rule(policy_id)
    form = PolicyForm(request.POST or None, initial=row, editing=True)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            circ.set_policy(
                category=row["patron_category"],
                item_type=row["item_type"],
                branch=row["branch"],
                actor=_actor(request),
                purpose=RULES_PURPOSE,
                **_values(form.cleaned_data),
            )
        except AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except circ.CirculationError as exc:
            error = exc.message
        else:
            return _back("staff:rules_list", "saved")
    elif request.method == "POST":
        error = _("Fill in every value as a whole number.")
    context = {"form": form, "error": error, "rule": row, "cell": _cell_label(row)}
    return render(request, "staff/admin/rules_edit.html", context)


@permission_required("circulation.rules", branch_of=branch_of_rule)
@csrf_protect
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, policy_id: int) -> HttpResponse:
    row = _rule(policy_id)
    form = ConfirmForm(request.POST or None)
    error = ""
    if request.method == "POST":
        if form.is_valid():
            try:
                circ.delete_policy(policy_id, actor=_actor(request), purpose=RULES_PURPOSE)
            except AccessDenied as exc:
                return refused(request, exc.decision.reason)
            except circ.CirculationError as exc:
                error = exc.message
            else:
                return _back("staff:rules_list", "deleted")
        else:
            error = _("Tick the box to confirm.")
    context = {"form": form, "error": error, "rule": row, "cell": _cell_label(row)}
    return render(request, "staff/admin/rules_delete.html", context)


# --- branch calendars ---------------------------------------------------------------


@permission_required("circulation.rules", branch_of=branch_of_rules_list)
@require_http_methods(["GET"])
def calendar_list(request: HttpRequest) -> HttpResponse:
    branches = list(Branch.objects.order_by("code"))
    return render(request, "staff/admin/rules_calendars.html", {"branches": branches})


def _branch(branch_code: str) -> Branch:
    found = Branch.objects.filter(code=branch_code.strip().upper()).first()
    if found is None:
        raise Http404
    return found


def _calendar_page(request, branch: Branch, *, error: str = "", forms=None, status: int = 200):
    forms = forms or {}
    zone = (
        BranchCalendar.objects.filter(branch=branch).values_list("time_zone", flat=True).first()
        or ""
    )
    hours = {h.weekday: h for h in OpeningHours.objects.filter(branch=branch)}
    days = []
    for weekday, label in WEEKDAYS:
        kept = hours.get(weekday)
        initial = {"weekday": weekday}
        if kept:
            initial.update(opens=kept.opens, closes=kept.closes)
        form = forms.get(("hours", weekday)) or HoursForm(initial=initial, prefix=f"d{weekday}")
        days.append({"weekday": weekday, "label": label, "hours": kept, "form": form})
    today = clock.today()
    closed = circ.list_closed_days(branch=branch.code, since=today)
    everywhere = [d for d in circ.list_closed_days(since=today) if d["branch"] is None]
    context = {
        "branch": branch,
        "zone": zone,
        "zone_form": forms.get("zone") or TimeZoneForm(initial={"time_zone": zone}),
        "days": days,
        "any_hours": bool(hours),
        "closed": closed,
        "everywhere": everywhere,
        "closed_form": forms.get("closed") or ClosedDayForm(),
        "error": error,
        "notice": _notice(request),
    }
    return render(request, "staff/admin/rules_calendar.html", context, status=status)


@permission_required("circulation.rules", branch_of=branch_of_calendar)
@require_http_methods(["GET"])
def calendar_detail(request: HttpRequest, branch_code: str) -> HttpResponse:
    return _calendar_page(request, _branch(branch_code))


def _calendar_change(request, branch, form, key, done, call):
    """Run `call()` when `form` is valid; back to the calendar, or the page with the refusal."""
    if not form.is_valid():
        error = _("Check the values entered.")
        return _calendar_page(request, branch, error=error, forms={key: form}, status=400)
    try:
        call(form.cleaned_data)
    except AccessDenied as exc:
        return refused(request, exc.decision.reason)
    except circ.CirculationError as exc:
        return _calendar_page(request, branch, error=exc.message, forms={key: form}, status=400)
    return _back("staff:calendar_detail", done, branch_code=branch.code)


@permission_required("circulation.rules", branch_of=branch_of_calendar)
@csrf_protect
@require_POST
def calendar_time_zone(request: HttpRequest, branch_code: str) -> HttpResponse:
    branch = _branch(branch_code)
    form = TimeZoneForm(request.POST)
    if "time_zone" not in request.POST:
        # An empty POST changes nothing (an empty field means "the library's zone").
        form.add_error("time_zone", _("Give a time zone, or an empty one for the library's."))
    return _calendar_change(
        request,
        branch,
        form,
        "zone",
        "zone",
        lambda data: circ.set_time_zone(
            branch.code, data["time_zone"].strip(), actor=_actor(request), purpose=CALENDAR_PURPOSE
        ),
    )


@permission_required("circulation.rules", branch_of=branch_of_calendar)
@csrf_protect
@require_POST
def calendar_hours(request: HttpRequest, branch_code: str) -> HttpResponse:
    branch = _branch(branch_code)
    prefix = next((f"d{w}" for w, _label in WEEKDAYS if f"d{w}-weekday" in request.POST), "d0")
    form = HoursForm(request.POST, prefix=prefix)
    weekday = int(prefix[1:])
    return _calendar_change(
        request,
        branch,
        form,
        ("hours", weekday),
        "hours",
        lambda data: circ.set_hours(
            branch.code,
            data["weekday"],
            data["opens"],
            data["closes"],
            actor=_actor(request),
            purpose=CALENDAR_PURPOSE,
        ),
    )


@permission_required("circulation.rules", branch_of=branch_of_calendar)
@csrf_protect
@require_POST
def calendar_close_day(request: HttpRequest, branch_code: str) -> HttpResponse:
    branch = _branch(branch_code)
    return _calendar_change(
        request,
        branch,
        ClosedDayForm(request.POST),
        "closed",
        "closed",
        lambda data: circ.add_closed_day(
            data["date"],
            branch=branch.code,
            reason=data["reason"],
            actor=_actor(request),
            purpose=CALENDAR_PURPOSE,
        ),
    )


@permission_required("circulation.rules", branch_of=branch_of_calendar)
@csrf_protect
@require_POST
def calendar_reopen_day(request: HttpRequest, branch_code: str) -> HttpResponse:
    branch = _branch(branch_code)
    return _calendar_change(
        request,
        branch,
        RemoveClosedDayForm(request.POST),
        "remove",
        "reopened",
        lambda data: circ.remove_closed_day(
            data["date"], branch=branch.code, actor=_actor(request), purpose=CALENDAR_PURPOSE
        ),
    )
