"""The patron desk pages: find, view (masked, reveal on purpose), register, edit, card, block.

The views only translate: every read of a personal value and every change
goes through `shelfguard.patrons.services` with the staff member as the
actor and a stated purpose, so each one is in the access ledger.

What a page shows (see docs/operators/desk.md):

- Templates never receive a `Patron`; they get a plain summary of the clear
  fields (status, category, branch, expiry, identity-check kind).
- The patron page shows the name, revealed with the purpose `circulation`
  (the desk must see whom it serves), to staff holding `patron.view_name`.
  Every other personal field shows "•••" until a staff member reveals it for
  a stated purpose; the values are in that one response only, never in the
  session, a URL or a log. The card number needs `patron.view_name`; contact
  and birth details need `patron.view_contact`.
- Search results show the names (revealed with the purpose `patron search`)
  only to staff holding `patron.view_name`; to others "•••".
- The search box is a POST form, so a typed name or e-mail address never
  ends up in a URL, the browser history or a server log.
- A branch-scoped role (branch manager) sees and acts only on patrons whose
  home branch is its own; patrons of other branches are left out of its
  search results and their pages are refused.
- Blocks are the circulation core's manual blocks (`circulation.services.
  block_patron` / `lift_block`, permission `circulation.loan`); the patron's
  status `blocked` set elsewhere is shown too.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from shelfguard.accounts import services as accounts
from shelfguard.accounts.services import AccessDenied
from shelfguard.circulation import services as circulation
from shelfguard.circulation.errors import CirculationError
from shelfguard.circulation.models import PatronBlock
from shelfguard.core.models import Branch
from shelfguard.patrons import privacy_notice
from shelfguard.patrons import register as reg
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import IdentityDocument, PatronStatus, PrivacyNotice
from shelfguard.staff import desk_forms as f
from shelfguard.staff.access import permission_required, refused

MASK = "•••"

#: Purposes the pages name themselves (the reveal form adds the staff member's own).
VIEW_PURPOSE = "circulation"
SEARCH_PURPOSE = "patron search"
REGISTER_PURPOSE = "registration at the desk"
RENEW_PURPOSE = "card renewal"
BLOCK_PURPOSE = "block at the desk"

#: Blocks are the circulation core's (`circulation.services.block_patron`), which
#: lends under `circulation.loan`; the block pages ask for the same permission.
BLOCK_CODE = "circulation.loan"

SEARCH_LIMIT = 20

# Which permission shows which personal field: the card number and name with
# `patron.view_name`, everything else (contact, birth data, guardian) with the
# stricter `patron.view_contact`.
NAME_CODE = "patron.view_name"
CONTACT_CODE = "patron.view_contact"


def _permission_for(key: str) -> str:
    return NAME_CODE if reg.get(key).field_class is reg.FieldClass.IDENTIFIER else CONTACT_CODE


DONE_MESSAGES = {
    "registered": gettext_lazy("The patron is registered."),
    "changed": gettext_lazy("The record is changed."),
    "renewed": gettext_lazy("The card is renewed."),
    "replaced": gettext_lazy("The new card is in use; the old card no longer works."),
    "blocked": gettext_lazy("Borrowing is blocked."),
    "unblocked": gettext_lazy("The block is lifted."),
    "identity": gettext_lazy("Identity checked: the card is no longer provisional."),
}


# --- helpers ---------------------------------------------------------------------


def _actor(request: HttpRequest):
    return accounts.staff_actor(request.user)


def _may(request: HttpRequest, code: str, branch_id: int | None):
    """`has_permission` for a patron of `branch_id`, asked once per request."""
    cache = request.__dict__.setdefault("_desk_decisions", {})
    key = (code, branch_id)
    if key not in cache:
        cache[key] = accounts.has_permission(request.user, code, branch=branch_id)
    return cache[key]


def _own_branch(request: HttpRequest, **kwargs) -> int | None:
    """Pages that act on no patron yet (find, register) are asked about one's own branch."""
    return getattr(request.user, "branch_id", None)


def _patron_branch(request: HttpRequest, patron_id: int, **kwargs) -> int | None:
    """The home branch of the patron the page acts on (None: unknown or erased)."""
    patron = patrons.get_patron(patron_id)
    return patron.home_branch_id if patron is not None else None


def _load(patron_id: int):
    patron = patrons.get_patron(patron_id)
    if patron is None:
        raise Http404(_("There is no such patron."))
    return patron


def _summary(patron) -> dict[str, object]:
    """The clear fields of a patron for a template (never the instance itself)."""
    branch = patron.home_branch
    return {
        "id": patron.pk,
        "status": patron.status,
        "status_label": patron.get_status_display(),
        "erased": patron.is_erased,
        "blocked": patron.status == PatronStatus.BLOCKED,
        "category": patron.category.name if patron.category_id else "",
        "category_code": patron.category.code if patron.category_id else "",
        "home_branch": f"{branch.code} – {branch.name}" if branch else "",
        "home_branch_code": branch.code if branch else "",
        "expires_on": patron.expires_on,
        "guardian_required": patron.guardian_required,
        "identity_document": patron.get_identity_document_display()
        if patron.identity_document
        else "",
        "identity_document_code": patron.identity_document,
        "identity_verified_at": patron.identity_verified_at,
    }


def _error_text(exc: Exception) -> str:
    # PatronError messages say what to do and hold no personal value (see patrons.errors).
    return str(exc)


def _patron_url(patron_id: int, done: str = "") -> str:
    url = reverse("staff:desk_patron", args=[patron_id])
    return f"{url}?done={done}" if done else url


# --- find ------------------------------------------------------------------------


@permission_required("patron.view_status", branch_of=_own_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def find(request: HttpRequest) -> HttpResponse:
    """One box. A card number goes straight to its patron; other text searches by name or e-mail."""
    if request.method == "GET":
        return render(request, "staff/desk/find.html", {"form": f.FindForm()})
    form = f.FindForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "staff/desk/find.html",
            {"form": f.FindForm(), "error": _("Scan a card or type what to look for.")},
        )
    text = form.cleaned_data["q"].strip()
    holder = patrons.find_by_card(text)
    if holder is not None:
        # The patron page checks the branch scope itself.
        return redirect(_patron_url(holder.pk))
    if "@" in text:
        found = patrons.find_by_email(text)
    else:
        found = patrons.search_by_name(text, limit=SEARCH_LIMIT)
    rows, left_out = [], 0
    actor = _actor(request)
    for patron in found[:SEARCH_LIMIT]:
        if not _may(request, "patron.view_status", patron.home_branch_id):
            left_out += 1
            continue
        row = _summary(patron)
        if _may(request, NAME_CODE, patron.home_branch_id):
            try:
                shown = patrons.reveal(patron, ["name"], actor=actor, purpose=SEARCH_PURPOSE)
            except patrons.PatronError:
                shown = {"name": MASK}
            row["name"] = shown["name"]
        else:
            row["name"] = MASK
        rows.append(row)
    context = {
        # A fresh, empty box: the next scan starts clean.
        "form": f.FindForm(),
        "searched": True,
        "rows": rows,
        "left_out": left_out,
    }
    return render(request, "staff/desk/find.html", context)


# --- the patron page and reveals ---------------------------------------------------


def _field_rows(request: HttpRequest, patron, revealed: dict[str, str | None]):
    """One row per collected sealed field: masked, revealed, not kept, or not open to this staff.

    Whether a field holds a value is read from the presence of its ciphertext,
    without opening it, so that nobody reveals (and records) an empty field.
    The guardian's name appears only for patrons who need a guardian.
    """
    rows = []
    for key in reg.collected_sealed_keys():
        kept = getattr(patron, reg.get(key).column) is not None
        if key == "guardian_name" and not (patron.guardian_required or kept):
            continue
        code = _permission_for(key)
        allowed = kept and bool(_may(request, code, patron.home_branch_id))
        if key in revealed:
            value, state = revealed[key], "revealed"
        elif kept:
            value, state = MASK, "masked"
        else:
            value, state = "", "absent"
        rows.append(
            {
                "key": key,
                "label": f.field_label(key),
                "value": value,
                "state": state,
                "allowed": allowed,
                "permitted": bool(_may(request, code, patron.home_branch_id)),
            }
        )
    return rows


def _render_patron(
    request: HttpRequest,
    patron,
    *,
    revealed: dict[str, str | None] | None = None,
    reveal_form: f.RevealForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    revealed = dict(revealed or {})
    summary = _summary(patron)
    context: dict[str, object] = {
        "patron": summary,
        "scan_form": f.FindForm(),
        "error": error,
        "notice": DONE_MESSAGES.get(request.GET.get("done", ""), ""),
    }
    if patron.is_erased:
        context["erased"] = True
        return render(request, "staff/desk/patron.html", context, status=status)
    actor = _actor(request)
    branch = patron.home_branch_id
    name = MASK
    if _may(request, NAME_CODE, branch):
        # The desk must see whom it serves: the name, with the purpose `circulation`.
        if "name" in revealed:
            name = revealed["name"]
        else:
            name = patrons.reveal(patron, ["name"], actor=actor, purpose=VIEW_PURPOSE)["name"]
    revealed.pop("name", None)
    rows = [r for r in _field_rows(request, patron, revealed) if r["key"] != "name"]
    allowed = [r["key"] for r in rows if r["allowed"]]
    context.update(
        {
            "name": name,
            "rows": rows,
            "revealed_any": any(r["state"] == "revealed" for r in rows),
            "reveal_form": reveal_form or f.RevealForm(allowed=allowed),
            "can_reveal": bool(allowed),
            "consents": [
                {
                    "purpose": c.purpose,
                    "label": f.CONSENT_LABELS.get(c.purpose, c.purpose),
                    "given": c.given,
                    "by_guardian": c.by_guardian,
                    "at": c.at,
                    "needs_renewal": c.needs_renewal,
                }
                for c in patrons.consents(patron, actor=actor, purpose=VIEW_PURPOSE)
            ],
            "blocks": _blocks_in_force(patron.pk),
            "can_change": bool(_may(request, "patron.change", branch)),
            "can_block": bool(_may(request, BLOCK_CODE, branch)),
            # A card applied for online: limited until a desk checks who holds it.
            "provisional": patrons.is_provisional(patron),
            "records_documents": reg.is_collected("identity_verification"),
            "document_choices": [(k, lbl) for k, lbl in IdentityDocument.choices if k],
        }
    )
    return render(request, "staff/desk/patron.html", context, status=status)


@permission_required("patron.view_status", branch_of=_patron_branch)
@require_http_methods(["GET"])
def patron_view(request: HttpRequest, patron_id: int) -> HttpResponse:
    patron = _load(patron_id)
    return _render_patron(request, patron, status=410 if patron.is_erased else 200)


@permission_required("patron.view_status", branch_of=_patron_branch)
@csrf_protect
@require_POST
def reveal(request: HttpRequest, patron_id: int) -> HttpResponse:
    """Reveal the ticked details for the stated purpose; shown in this response only."""
    patron = _load(patron_id)
    if patron.is_erased:
        return _render_patron(request, patron, status=410)
    allowed = [
        key
        for key in reg.collected_sealed_keys()
        if key != "name" and _may(request, _permission_for(key), patron.home_branch_id)
    ]  # a field not kept may be asked for: it reveals as "not kept" (and is recorded)
    asked = request.POST.getlist("details")
    # The name has no box (it is shown already); asking for it is just an invalid choice.
    not_allowed = [k for k in asked if k in reg.SEALED_KEYS and k != "name" and k not in allowed]
    if not_allowed:
        codes = sorted({_permission_for(k) for k in not_allowed})
        return refused(
            request,
            _("Revealing these details needs the permission “%(perm)s”.")
            % {"perm": ", ".join(codes)},
        )
    form = f.RevealForm(request.POST, allowed=allowed)
    if not form.is_valid():
        return _render_patron(
            request,
            patron,
            reveal_form=form,
            error=_("Say why, and tick the details you need."),
            status=400,
        )
    try:
        values = patrons.reveal(
            patron,
            form.cleaned_data["details"],
            actor=_actor(request),
            purpose=form.stated_purpose(),
        )
    except patrons.PatronError as exc:
        return _render_patron(request, patron, error=_error_text(exc), status=400)
    return _render_patron(
        request, patron, revealed=values, reveal_form=f.RevealForm(allowed=allowed)
    )


# --- register ----------------------------------------------------------------------


# The notice's Markdown is rendered by the patrons app, for every page that shows it.
notice_html = privacy_notice.as_html


def _notice(language: str):
    try:
        return privacy_notice.current(language)
    except (privacy_notice.NoticeError, PrivacyNotice.DoesNotExist):
        return None


@permission_required("patron.register", branch_of=_own_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    """Register a patron: fields from the register, the current notice, consents, identity check."""
    own = request.user.branch.code if getattr(request.user, "branch_id", None) else ""
    form = f.RegisterForm(request.POST or None, home_branch=own)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        branch = Branch.objects.filter(code=data["home_branch"]).first()
        decision = _may(request, "patron.register", branch.pk if branch else None)
        if not decision:
            return refused(request, decision.reason)
        try:
            patron = patrons.register(
                **form.sealed_values(),
                category=data["category"],
                home_branch=data["home_branch"],
                pin=data.get("pin") or None,
                identity_document=data.get("identity_document", "") or "",
                consents=form.consents(),
                by_guardian=bool(data.get("by_guardian")),
                actor=_actor(request),
                purpose=REGISTER_PURPOSE,
            )
        except patrons.PatronError as exc:
            error = _error_text(exc)
        else:
            return redirect(_patron_url(patron.pk, "registered"))
    elif request.method == "POST":
        error = _("Check the marked fields.")
    notice = _notice(translation.get_language() or "en")
    context = {
        "form": form,
        "error": error,
        "notice_version": notice.version if notice else None,
        "notice_html": notice_html(notice.text) if notice else "",
    }
    return render(request, "staff/desk/register.html", context, status=400 if error else 200)


# --- changes -------------------------------------------------------------------------


def _changeable(request: HttpRequest, patron_id: int):
    """The patron to change, or a response refusing it (erased)."""
    patron = _load(patron_id)
    if patron.is_erased:
        return patron, _render_patron(request, patron, status=410)
    return patron, None


def _change_page(
    request: HttpRequest,
    template: str,
    patron,
    form,
    error: str = "",
    extra: dict | None = None,
) -> HttpResponse:
    context = {"patron": _summary(patron), "form": form, "error": error, **(extra or {})}
    return render(request, template, context, status=400 if error else 200)


@permission_required("patron.change", branch_of=_patron_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, patron_id: int) -> HttpResponse:
    patron, stop = _changeable(request, patron_id)
    if stop:
        return stop
    summary = _summary(patron)
    current = {
        "category": summary["category_code"],
        "home_branch": summary["home_branch_code"],
        "identity_document": summary["identity_document_code"],
    }
    form = f.EditForm(request.POST or None, current=current)
    error = ""
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        if "home_branch" in changes:
            target = Branch.objects.filter(code=changes["home_branch"]).first()
            decision = _may(request, "patron.change", target.pk if target else None)
            if not decision:
                return refused(request, decision.reason)
        if not changes:
            error = _("Nothing to change: fill in a new value or tick a removal.")
        else:
            try:
                patrons.update(
                    patron,
                    changes,
                    actor=_actor(request),
                    purpose=f.with_note("record change", form.cleaned_data["reason"]),
                )
            except patrons.PatronError as exc:
                error = _error_text(exc)
            else:
                return redirect(_patron_url(patron.pk, "changed"))
    elif request.method == "POST":
        error = _("Check the marked fields.")
    masks = {key: MASK for key in form.sealed_keys}
    return _change_page(request, "staff/desk/edit.html", patron, form, error, {"masks": masks})


@permission_required("patron.change", branch_of=_patron_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def renew(request: HttpRequest, patron_id: int) -> HttpResponse:
    patron, stop = _changeable(request, patron_id)
    if stop:
        return stop
    form = f.RenewForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            patrons.renew_card(
                patron,
                expires_on=form.cleaned_data.get("expires_on"),
                actor=_actor(request),
                purpose=RENEW_PURPOSE,
            )
        except patrons.PatronError as exc:
            error = _error_text(exc)
        else:
            return redirect(_patron_url(patron.pk, "renewed"))
    elif request.method == "POST":
        error = _("Give a date such as 2030-12-31, or leave it empty.")
    return _change_page(request, "staff/desk/renew.html", patron, form, error)


@permission_required("patron.change", branch_of=_patron_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def replace_card(request: HttpRequest, patron_id: int) -> HttpResponse:
    """A new card number for a lost, stolen or damaged card; the old number stops at once.

    `patrons.services.update` seals the new number and replaces the card's
    blind index in one transaction, so a look-up of the old number finds
    nobody from the moment it commits.
    """
    patron, stop = _changeable(request, patron_id)
    if stop:
        return stop
    form = f.ReplaceCardForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        new = form.cleaned_data["new_card_number"]
        holder = patrons.find_by_card(new)
        if holder is not None and holder.pk == patron.pk:
            error = _("That is the card being replaced. Scan the new card.")
        else:
            try:
                patrons.update(
                    patron,
                    {"card_number": new},
                    actor=_actor(request),
                    purpose=f"card replaced: {form.cleaned_data['reason']}",
                )
            except patrons.PatronError as exc:
                error = _error_text(exc)
            else:
                return redirect(_patron_url(patron.pk, "replaced"))
    elif request.method == "POST":
        error = _("Scan the new card.")
    if error:
        # Start again with an empty box for the next scan.
        form = f.ReplaceCardForm(initial={"reason": request.POST.get("reason", "lost")})
    return _change_page(request, "staff/desk/replace_card.html", patron, form, error)


def _blocks_in_force(patron_id: int) -> list[dict[str, object]]:
    """The patron's manual borrowing blocks not yet lifted (reason, when, by whom), oldest first."""
    rows = PatronBlock.objects.filter(patron_id=patron_id, lifted_at__isnull=True)
    return [
        {"id": b.pk, "reason": b.reason, "at": b.created_at, "by": b.created_by}
        for b in rows.order_by("created_at", "id")
    ]


@permission_required(BLOCK_CODE, branch_of=_patron_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def block(request: HttpRequest, patron_id: int) -> HttpResponse:
    """Block borrowing with a reason: a block of the circulation core (`block_patron`)."""
    patron, stop = _changeable(request, patron_id)
    if stop:
        return stop
    form = f.BlockForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            circulation.block_patron(
                patron, form.stated_reason(), actor=_actor(request), purpose=BLOCK_PURPOSE
            )
        except AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except CirculationError as exc:
            error = exc.message
        else:
            return redirect(_patron_url(patron.pk, "blocked"))
    elif request.method == "POST":
        error = _("Say why.")
    extra = {"blocking": True, "blocks": _blocks_in_force(patron.pk)}
    return _change_page(request, "staff/desk/block.html", patron, form, error, extra)


@permission_required(BLOCK_CODE, branch_of=_patron_branch)
@csrf_protect
@require_http_methods(["GET", "POST"])
def unblock(request: HttpRequest, patron_id: int) -> HttpResponse:
    """Lift one of the patron's blocks (`lift_block`); the reason goes with the purpose."""
    patron, stop = _changeable(request, patron_id)
    if stop:
        return stop
    blocks = _blocks_in_force(patron.pk)
    form = f.UnblockForm(request.POST or None, blocks=blocks)
    error = ""
    if request.method == "POST" and form.is_valid():
        purpose = f.with_note("unblock", form.cleaned_data["note"])
        try:
            circulation.lift_block(
                form.cleaned_data["block"], actor=_actor(request), purpose=purpose
            )
        except AccessDenied as exc:
            return refused(request, exc.decision.reason)
        except CirculationError as exc:
            error = exc.message
        else:
            return redirect(_patron_url(patron.pk, "unblocked"))
    elif request.method == "POST":
        error = _("Choose the block and say why it is lifted.")
    extra = {"blocking": False, "blocks": blocks}
    return _change_page(request, "staff/desk/block.html", patron, form, error, extra)


@permission_required("patron.change", branch_of=_patron_branch)
@csrf_protect
@require_POST
def verify_identity(request: HttpRequest, patron_id: int) -> HttpResponse:
    """The holder of a card applied for online showed a document: lift the provisional status."""
    patron, stop = _changeable(request, patron_id)
    if stop:
        return stop
    if request.POST.get("confirm") != "yes":
        error = _("Tick the box to confirm that you saw the holder's identity document.")
        return _render_patron(request, patron, error=error, status=400)
    try:
        patrons.verify_identity(
            patron, document=request.POST.get("document", ""), actor=_actor(request)
        )
    except patrons.PatronError as exc:
        return _render_patron(request, patron, error=_error_text(exc), status=400)
    return redirect(_patron_url(patron.pk, "identity"))
