"""The privacy officer's dashboard: one page that shows the promises are kept.

It needs `ledger.read`: the page shows who revealed patron data how often
(staff usernames, counts per day) and alerts naming patron ids, which is
the ledger's kind of information, and no patron values at all. The figures
come from `lifecycle.report.gather`, the same function as the printed
report, which records the look in the ledger.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from shelfguard.accounts import services
from shelfguard.lifecycle import report
from shelfguard.staff.access import permission_required

PURPOSE = "privacy oversight dashboard"


@permission_required("ledger.read")
@require_http_methods(["GET"])
def dashboard(request: HttpRequest) -> HttpResponse:
    figures = report.gather(
        actor=services.staff_actor(request.user),
        by=request.user,
        purpose=PURPOSE,
        output="page",
    )
    context = {"r": figures, "charts": report.charts(figures)}
    return render(request, "staff/dashboard/privacy.html", context)
