"""Staff pages for the recycle bin and for four-eyes approvals (issue 7).

Any signed-in staff member may open the lists; each shows only what its
reader may act on: bin entries of the kinds whose permission they hold
(`catalog.change` for records and items, `circulation.rules` for loan
policies, `staff.manage` for branches and staff, `patron.erase` for
patrons), and approval requests whose action's permission they hold. The
services decide again on every restore and decision, and write the ledger.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from shelfguard.accounts import services as accounts
from shelfguard.core import clock
from shelfguard.lifecycle import services as lifecycle
from shelfguard.staff.access import refused, staff_required

BIN_PURPOSE = "restoring from the recycle bin"
APPROVAL_PURPOSE = "four-eyes approval"
AGES = (
    ("", gettext_lazy("any age")),
    ("7", gettext_lazy("up to a week")),
    ("30", gettext_lazy("up to 30 days")),
    ("old", gettext_lazy("older than 30 days")),
)


def _restorable_kinds(request: HttpRequest) -> list[str]:
    recycle = lifecycle.recycle
    return [
        k
        for k in recycle.SPECS
        if accounts.may(request.user, recycle.permission_for(k), branch="any")
    ]


def _bin_page(request: HttpRequest, problem: str = "", status: int = 200) -> HttpResponse:
    recycle = lifecycle.recycle
    kinds = _restorable_kinds(request)
    kind = request.GET.get("kind", "")
    age = request.GET.get("age", "")
    now = clock.now()
    rows = [
        recycle.entry_dict(e, now)
        for e in recycle.entries(kind=kind if kind in kinds else None)
        if e.kind in kinds
    ]
    if age in ("7", "30"):
        rows = [r for r in rows if r["age_days"] <= int(age)]
    elif age == "old":
        rows = [r for r in rows if r["age_days"] > 30]
    labels = dict(lifecycle.recycle.BinEntry.Kind.choices)
    return render(
        request,
        "staff/bin/list.html",
        {
            "rows": rows,
            "kinds": [(k, labels[k]) for k in kinds],
            "kind": kind,
            "ages": AGES,
            "age": age,
            "days": recycle.bin_days(),
            "problem": problem,
            "done": request.GET.get("done") == "restored",
        },
        status=status,
    )


@staff_required
@require_http_methods(["GET"])
def bin_list(request: HttpRequest) -> HttpResponse:
    return _bin_page(request)


@staff_required
@require_POST
def bin_restore(request: HttpRequest, entry_id: int) -> HttpResponse:
    try:
        lifecycle.recycle.restore(
            entry_id, actor=accounts.staff_actor(request.user), purpose=BIN_PURPOSE
        )
    except accounts.AccessDenied as exc:
        return refused(request, str(exc))
    except lifecycle.BinError as exc:
        if exc.code == "not_found":
            raise Http404(exc.message) from None
        return _bin_page(request, exc.message, status=400)
    return redirect(f"{reverse('staff:bin')}?{urlencode({'done': 'restored'})}")


def _approval_page(request: HttpRequest, problem: str = "", status: int = 200) -> HttpResponse:
    approvals = lifecycle.approvals
    rows = []
    for row in approvals.listing():
        try:
            code = approvals.permission_for(row.action, row.params)
        except lifecycle.ApprovalError:
            continue
        if accounts.may(request.user, code):
            data = approvals.request_dict(row)
            data["own"] = approvals.same_person(row.requested_by, f"staff:{request.user.username}")
            rows.append(data)
    return render(
        request,
        "staff/bin/approvals.html",
        {
            "pending": [r for r in rows if r["status"] == "pending"],
            "decided": [r for r in rows if r["status"] != "pending"][:50],
            "problem": problem,
            "done": request.GET.get("done", "") in ("approved", "rejected"),
        },
        status=status,
    )


@staff_required
@require_http_methods(["GET"])
def approval_list(request: HttpRequest) -> HttpResponse:
    return _approval_page(request)


def _decide(request: HttpRequest, request_id: int, approve: bool) -> HttpResponse:
    approvals = lifecycle.approvals
    decide = approvals.approve if approve else approvals.reject
    try:
        decide(request_id, actor=accounts.staff_actor(request.user), purpose=APPROVAL_PURPOSE)
    except accounts.AccessDenied as exc:
        return refused(request, str(exc))
    except lifecycle.ApprovalError as exc:
        if exc.code == "not_found":
            raise Http404(exc.message) from None
        return _approval_page(request, exc.message, status=400)
    done = "approved" if approve else "rejected"
    return redirect(f"{reverse('staff:approvals')}?{urlencode({'done': done})}")


@staff_required
@require_POST
def approval_approve(request: HttpRequest, request_id: int) -> HttpResponse:
    return _decide(request, request_id, True)


@staff_required
@require_POST
def approval_reject(request: HttpRequest, request_id: int) -> HttpResponse:
    return _decide(request, request_id, False)
