"""The staff review queue of correction requests (`/staff/corrections/`).

Permission `patron.review_corrections` (branch managers for their own
branch's patrons, the privacy officer for everyone). The queue shows ids,
field names and ages only, oldest first, so listing it reveals nothing. The
detail page shows the current and the proposed values side by side: opening
it is a reveal, recorded in the ledger with the purpose "review correction
request". Approving applies the values through `patrons.services.update`
with the reviewer as the actor; rejecting and asking for proof need a
reason, which the patron reads (escaped, like every value and note here).

A request id that does not exist, or whose patron was erased, is a 404 for
a reviewer who may see every branch; a branch-scoped reviewer gets the same
403 for it as for another branch's request, so neither answer tells whether
it exists.
"""

from __future__ import annotations

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from shelfguard.accounts import services as accounts
from shelfguard.core.models import Branch
from shelfguard.patrons import services as patrons
from shelfguard.patrons.corrections import NOTE_MAX
from shelfguard.staff.access import permission_required
from shelfguard.staff.desk_forms import field_label

CODE = "patron.review_corrections"

DONE = {
    "approve": gettext_lazy("The request is approved and the record is changed."),
    "reject": gettext_lazy("The request is rejected; the patron sees your reason."),
    "proof": gettext_lazy("The patron is asked for proof."),
}


def _own_branch(request: HttpRequest, **_kwargs) -> int | None:
    return getattr(request.user, "branch_id", None)


def _request_branch(request: HttpRequest, correction_id: int, **_kwargs) -> int | None:
    """The home branch of the patron the request is about (None: no such request)."""
    return patrons.branch_of_request(correction_id)


class DecisionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            ("approve", gettext_lazy("Approve")),
            ("reject", gettext_lazy("Reject")),
            ("proof", gettext_lazy("Ask for proof")),
        ]
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason (the patron reads it; needed to reject or ask for proof)"),
        max_length=NOTE_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean(self):
        data = super().clean()
        if data.get("action") in ("reject", "proof") and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Say why: the patron reads it."))
        return data


@permission_required(CODE, branch_of=_own_branch)
@require_http_methods(["GET"])
def queue(request: HttpRequest) -> HttpResponse:
    """Waiting requests, oldest first: every branch, or one's own for a branch-scoped role."""
    everywhere = accounts.has_permission(request.user, CODE, branch=None)
    branch_ids = None if everywhere else [request.user.branch_id]
    branches = dict(Branch.objects.values_list("pk", "code"))
    rows = [
        {
            "id": r.id,
            "patron_id": r.patron_id,
            "branch": branches.get(r.home_branch_id, ""),
            "status": r.status,
            "status_label": r.status_label,
            "fields": ", ".join(str(field_label(k)) for k in r.fields),
            "created_at": r.created_at,
        }
        for r in patrons.correction_queue(branch_ids=branch_ids)
    ]
    return render(
        request,
        "staff/corrections/queue.html",
        {"rows": rows, "everywhere": bool(everywhere)},
    )


def _detail(
    request: HttpRequest, correction_id: int, *, form=None, error: str = "", status: int = 200
) -> HttpResponse:
    try:
        view = patrons.review(correction_id, actor=accounts.staff_actor(request.user))
    except patrons.CorrectionNotFound:
        raise Http404(_("There is no such request.")) from None
    rows = [
        {
            "key": key,
            "label": field_label(key),
            "current": view.current.get(key),
            "proposed": view.proposed.get(key),
        }
        for key in view.fields
    ]
    context = {
        "req": view,
        "rows": rows,
        "steps": view.steps,
        "form": form or DecisionForm(),
        "error": error,
        "notice": DONE.get(request.GET.get("done", ""), ""),
    }
    return render(request, "staff/corrections/detail.html", context, status=status)


@permission_required(CODE, branch_of=_request_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def detail(request: HttpRequest, correction_id: int) -> HttpResponse:
    if request.method == "GET":
        return _detail(request, correction_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _detail(request, correction_id, form=form, error=_("Choose a decision."), status=400)
    actor = accounts.staff_actor(request.user)
    action = form.cleaned_data["action"]
    reason = form.cleaned_data["reason"]
    try:
        if action == "approve":
            patrons.approve(correction_id, actor=actor)
        elif action == "reject":
            patrons.reject(correction_id, reason, actor=actor)
        else:
            patrons.ask_for_proof(correction_id, reason, actor=actor)
    except patrons.CorrectionNotFound:
        raise Http404(_("There is no such request.")) from None
    except patrons.PatronError as exc:
        return _detail(request, correction_id, form=form, error=str(exc), status=400)
    url = reverse("staff:corrections_detail", args=[correction_id])
    return redirect(f"{url}?done={action}")
