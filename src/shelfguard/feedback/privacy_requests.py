"""Privacy requests and complaints: filed by anyone, handled by the privacy officer.

A request names a person, so its description, its contact address and the
text of every step are sealed (AES-256-GCM, `vault`) with a data key made
for that request alone. At the end of the retention period
(`[privacy] request_retention_days` after closing) `expire` destroys the
key: the texts become unreadable everywhere at once, backups included, and
the row keeps only its reference, kind, dates and outcome.

The requester follows the request on a status page reached by a random
token (32 bytes, URL-safe), shown once and e-mailed to the contact address
when one was given. Only its keyed hash is stored. A wrong token, another
request's token and a forged one all get the same "not found".

Every step is written to the ledger, with the patron id when the request
was filed from a signed-in portal session; reminders of due and overdue
requests go to `[privacy] officer_email`.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.feedback import config
from shelfguard.feedback.errors import FeedbackError, NotFound
from shelfguard.feedback.models import (
    DESCRIPTION_MAX,
    STEP_MAX,
    Outcome,
    PrivacyRequest,
    RequestKind,
    RequestStatus,
    RequestStep,
    StepKind,
)
from shelfguard.ledger import services as ledger
from shelfguard.vault import KeyDestroyed, VaultError, keystore, sealing

logger = logging.getLogger(__name__)

#: Status-page tokens are `secrets.token_urlsafe(32)`: 43 characters.
TOKEN_BYTES = 32
TOKEN_MAX = 64
CONTACT_MAX = 254


def _token_hash(token: str) -> str:
    return keyed_hash("privacy-request-token", token)


def _clean(text: str, limit: int, empty_message: str) -> str:
    text = (text or "").strip()
    if not text:
        raise FeedbackError("empty", empty_message)
    if len(text) > limit:
        raise FeedbackError(
            "too-long",
            _("The text is %(n)d characters long; shorten it to %(max)d or fewer.")
            % {"n": len(text), "max": limit},
        )
    return text


def _clean_contact(contact: str) -> str:
    contact = (contact or "").strip()
    if not contact:
        return ""
    if len(contact) > CONTACT_MAX:
        raise FeedbackError("contact", _("That e-mail address is too long."))
    try:
        validate_email(contact)
    except ValidationError:
        raise FeedbackError(
            "contact", _("Enter an e-mail address such as name@example.org.")
        ) from None
    return contact


def _ledger_patron(request: PrivacyRequest) -> int | None:
    return request.patron_id


# --- filing ---------------------------------------------------------------------------------


def file_request(
    *,
    kind: str,
    description: str,
    contact: str = "",
    patron_id: int | None = None,
    status_link: Callable[[str], str] | None = None,
    actor: Actor,
    purpose: str,
) -> tuple[PrivacyRequest, str]:
    """File a request; returns it and its status-page token (shown once, never stored).

    Either `patron_id` (a signed-in portal session's patron) or `contact`
    (an e-mail address for the answer) must be given. When both are absent
    the request could never be answered, so it is refused. `status_link`
    turns the token into the page's full address for the e-mail sent to
    `contact` after the request is committed.
    """
    if kind not in RequestKind.values:
        raise FeedbackError("kind", _("Choose what your request is about."))
    description = _clean(
        description, DESCRIPTION_MAX, _("Describe your request, so that we can act on it.")
    )
    contact = _clean_contact(contact)
    if patron_id is None and not contact:
        raise FeedbackError(
            "no-way-back",
            _("Give an e-mail address for the answer, or sign in to your library account."),
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = clock.now()
    # The key is committed in the keystore before the request: if this
    # transaction rolls back, an unused key is left, never a request whose
    # key is missing.
    key_id = keystore.new_data_key()
    with transaction.atomic():
        request = PrivacyRequest.objects.create(
            kind=kind,
            patron_id=patron_id,
            key_id=key_id,
            description_sealed=b"",
            token_hash=_token_hash(token),
            filed_at=now,
            due_on=timezone.localdate(now)
            + dt.timedelta(days=config.value("request_deadline_days")),
        )
        key = sealing.open_key(key_id)
        request.reference = f"PR-{timezone.localdate(now).year}-{request.pk:06d}"
        request.description_sealed = key.seal(request.owner, "description", description)
        if contact:
            request.contact_sealed = key.seal(request.owner, "contact", contact)
        request.save()
        fields = ["description"] + (["contact"] if contact else [])
        ledger.append(
            actor=actor,
            action="feedback.privacy_request_file",
            purpose=purpose,
            patron_id=patron_id,
            fields=fields,
            detail={"request": request.pk, "kind": kind, "linked": patron_id is not None},
        )
        if contact and status_link is not None:
            link = status_link(token)
            reference = request.reference
            transaction.on_commit(lambda: _mail_link(contact, reference, link))
    return request, token


def _mail_link(contact: str, reference: str, link: str) -> None:
    body = render_to_string(
        "feedback/mail_status_link.txt",
        {"reference": reference, "link": link, "library": settings.LIBRARY_NAME},
    )
    message = EmailMessage(
        subject=_("Your privacy request %(reference)s") % {"reference": reference},
        body=body,
        to=[contact],
    )
    try:
        message.send()
    except Exception:  # noqa: BLE001  (any transport failure: the link was shown on screen)
        logger.warning("The status link of privacy request %s could not be e-mailed.", reference)


# --- the requester's status page ---------------------------------------------------------------


@dataclass(frozen=True)
class VisibleStep:
    at: dt.datetime
    kind: str
    label: str
    text: str


@dataclass(frozen=True)
class RequestStatusView:
    reference: str
    kind_label: str
    status: str
    status_label: str
    filed_on: dt.date
    due_on: dt.date
    outcome_label: str
    erased: bool
    steps: list[VisibleStep] = field(default_factory=list)


def _by_token(token: str) -> PrivacyRequest:
    if not isinstance(token, str) or not token or len(token) > TOKEN_MAX:
        raise NotFound
    wanted = _token_hash(token)
    found = PrivacyRequest.objects.filter(token_hash=wanted).first()
    # The lookup is by a keyed hash, so timing says nothing about the token;
    # the comparison below is constant-time all the same.
    if found is None or not hmac.compare_digest(found.token_hash, wanted):
        raise NotFound
    return found


def _open(request: PrivacyRequest, field_name: str, sealed: bytes | None) -> str:
    if not sealed:
        return ""
    return sealing.open_key(request.key_id).unseal(request.owner, field_name, sealed)


def status_by_token(token: str, *, actor: Actor, purpose: str) -> RequestStatusView:
    """What the requester's status page shows; NotFound for any token that is not one."""
    with transaction.atomic():
        request = _by_token(token)
        steps = list(request.steps.filter(visible=True))
        erased = request.erased_at is not None
        visible = [
            VisibleStep(
                at=step.at,
                kind=step.kind,
                label=str(StepKind(step.kind).label),
                text="" if erased else _open(request, f"step.{step.pk}", step.text_sealed),
            )
            for step in steps
        ]
        ledger.append(
            actor=actor,
            action="feedback.privacy_request_status",
            purpose=purpose,
            patron_id=_ledger_patron(request),
            detail={"request": request.pk, "steps": len(visible)},
        )
    return RequestStatusView(
        reference=request.reference or "",
        kind_label=str(RequestKind(request.kind).label),
        status=request.status,
        status_label=str(RequestStatus(request.status).label),
        filed_on=timezone.localdate(request.filed_at),
        due_on=request.due_on,
        outcome_label=str(Outcome(request.outcome).label) if request.outcome else "",
        erased=erased,
        steps=visible,
    )


# --- the privacy officer's pages ---------------------------------------------------------------


@dataclass(frozen=True)
class DashboardRow:
    pk: int
    reference: str
    kind_label: str
    status: str
    status_label: str
    filed_on: dt.date
    due_on: dt.date
    days_left: int
    linked: bool

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    @property
    def days_overdue(self) -> int:
        return -self.days_left


def _row(request: PrivacyRequest, today: dt.date) -> DashboardRow:
    return DashboardRow(
        pk=request.pk,
        reference=request.reference or "",
        kind_label=str(RequestKind(request.kind).label),
        status=request.status,
        status_label=str(RequestStatus(request.status).label),
        filed_on=timezone.localdate(request.filed_at),
        due_on=request.due_on,
        days_left=(request.due_on - today).days,
        linked=request.patron_id is not None,
    )


def dashboard(*, closed: bool = False, actor: Actor, purpose: str) -> list[DashboardRow]:
    """Open requests (or closed ones), oldest first, with the days left to the deadline.

    No sealed value is opened, so nothing personal is read and nothing is recorded.
    """
    today = clock.today()
    rows = PrivacyRequest.objects.all()
    if closed:
        rows = rows.filter(status=RequestStatus.CLOSED).order_by("-closed_at", "-pk")
    else:
        rows = rows.exclude(status=RequestStatus.CLOSED).order_by("filed_at", "pk")
    return [_row(request, today) for request in rows]


@dataclass(frozen=True)
class StaffStep:
    pk: int
    at: dt.datetime
    kind: str
    label: str
    visible: bool
    by: str
    text: str | None  # None until revealed


@dataclass(frozen=True)
class RequestDetail:
    row: DashboardRow
    patron_id: int | None
    has_contact: bool
    outcome_label: str
    closed_at: dt.datetime | None
    erased: bool
    steps: list[StaffStep]
    description: str | None = None  # None until revealed
    contact: str | None = None


def _get(request_id: int, *, lock: bool = False) -> PrivacyRequest:
    rows = PrivacyRequest.objects.select_for_update() if lock else PrivacyRequest.objects
    found = rows.filter(pk=request_id).first()
    if found is None:
        raise NotFound
    return found


def detail(request_id: int, *, reveal: bool = False, actor: Actor, purpose: str) -> RequestDetail:
    """A request for the privacy officer; with `reveal`, its sealed texts (recorded)."""
    with transaction.atomic():
        request = _get(request_id)
        steps = list(request.steps.all())
        erased = request.erased_at is not None
        opened = reveal and not erased
        texts: dict[int, str | None] = {
            step.pk: (_open(request, f"step.{step.pk}", step.text_sealed) if opened else None)
            for step in steps
        }
        description = _open(request, "description", request.description_sealed) if opened else None
        contact = _open(request, "contact", request.contact_sealed) if opened else None
        if opened:
            ledger.append(
                actor=actor,
                action="feedback.privacy_request_reveal",
                purpose=purpose,
                patron_id=_ledger_patron(request),
                fields=["description", "steps"] + (["contact"] if request.contact_sealed else []),
                detail={"request": request.pk},
            )
    return RequestDetail(
        row=_row(request, clock.today()),
        patron_id=request.patron_id,
        has_contact=bool(request.contact_sealed),
        outcome_label=str(Outcome(request.outcome).label) if request.outcome else "",
        closed_at=request.closed_at,
        erased=erased,
        steps=[
            StaffStep(
                pk=step.pk,
                at=step.at,
                kind=step.kind,
                label=str(StepKind(step.kind).label),
                visible=step.visible,
                by=step.by,
                text=texts[step.pk],
            )
            for step in steps
        ],
        description=description,
        contact=contact,
    )


def _add_step(
    request: PrivacyRequest, kind: str, text: str, *, visible: bool, by: str
) -> RequestStep:
    step = RequestStep.objects.create(
        request=request, at=clock.now(), kind=kind, visible=visible, by=by[:150]
    )
    if text:
        step.text_sealed = sealing.open_key(request.key_id).seal(
            request.owner, f"step.{step.pk}", text
        )
        step.save(update_fields=["text_sealed"])
    return step


def _staff_name(actor: Actor) -> str:
    return actor.ident if actor.kind == "staff" else actor.kind


def add_step(
    request_id: int, *, text: str, answer: bool, actor: Actor, purpose: str
) -> RequestStep:
    """Add an internal note, or (`answer`) an answer the requester sees on the status page."""
    text = _clean(text, STEP_MAX, _("Write the text of the step first."))
    with transaction.atomic():
        request = _get(request_id, lock=True)
        if request.status == RequestStatus.CLOSED:
            raise FeedbackError("closed", _("This request is closed; reopen is not possible."))
        step = _add_step(
            request,
            StepKind.ANSWER if answer else StepKind.NOTE,
            text,
            visible=answer,
            by=_staff_name(actor),
        )
        if request.status == RequestStatus.RECEIVED:
            request.status = RequestStatus.IN_PROGRESS
            request.save(update_fields=["status"])
            _add_step(request, StepKind.STATUS, "", visible=True, by=_staff_name(actor))
        ledger.append(
            actor=actor,
            action="feedback.privacy_request_answer" if answer else "feedback.privacy_request_note",
            purpose=purpose,
            patron_id=_ledger_patron(request),
            fields=["steps"],
            detail={"request": request.pk, "step": step.pk},
        )
    return step


def close_request(
    request_id: int, *, outcome: str, text: str = "", actor: Actor, purpose: str
) -> PrivacyRequest:
    """Close with an outcome and, optionally, a last answer the requester sees."""
    if outcome not in Outcome.values:
        raise FeedbackError("outcome", _("Choose the outcome of the request."))
    text = (text or "").strip()
    if len(text) > STEP_MAX:
        raise FeedbackError(
            "too-long",
            _("The text is %(n)d characters long; shorten it to %(max)d or fewer.")
            % {"n": len(text), "max": STEP_MAX},
        )
    with transaction.atomic():
        request = _get(request_id, lock=True)
        if request.status == RequestStatus.CLOSED:
            raise FeedbackError("closed", _("This request is already closed."))
        request.status = RequestStatus.CLOSED
        request.outcome = outcome
        request.closed_at = clock.now()
        request.save(update_fields=["status", "outcome", "closed_at"])
        _add_step(request, StepKind.CLOSED, text, visible=True, by=_staff_name(actor))
        ledger.append(
            actor=actor,
            action="feedback.privacy_request_close",
            purpose=purpose,
            patron_id=_ledger_patron(request),
            fields=["steps"] if text else [],
            detail={"request": request.pk, "outcome": outcome},
        )
    return request


# --- reminders and retention -------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderReport:
    due: int  # open requests due within `reminder_days` (or overdue)
    overdue: int
    sent: bool
    to_configured: bool
    references: list[str]

    def as_dict(self) -> dict:
        return {
            "due": self.due,
            "overdue": self.overdue,
            "sent": self.sent,
            "officer_email_configured": self.to_configured,
            "references": self.references,
        }


def due_requests(now: dt.datetime) -> list[DashboardRow]:
    """Open requests whose deadline is within `reminder_days` of `now`'s date, or past."""
    today = timezone.localdate(now)
    limit = today + dt.timedelta(days=config.value("reminder_days"))
    rows = (
        PrivacyRequest.objects.exclude(status=RequestStatus.CLOSED)
        .filter(due_on__lte=limit)
        .order_by("due_on", "pk")
    )
    return [_row(request, today) for request in rows]


def send_reminders(now: dt.datetime, *, actor: Actor | None = None) -> ReminderReport:
    """E-mail the privacy officer one list of due and overdue requests (references only).

    Nothing is sent when nothing is due. The message names requests by
    reference and deadline, never by what they say or who filed them.
    """
    actor = actor or Actor.system("feedback-reminders")
    rows = due_requests(now)
    to = config.officer_email()
    references = [row.reference for row in rows]
    overdue = sum(1 for row in rows if row.overdue)
    if not rows or not to:
        return ReminderReport(len(rows), overdue, False, bool(to), references)
    body = render_to_string(
        "feedback/mail_reminder.txt",
        {"rows": rows, "library": settings.LIBRARY_NAME, "today": timezone.localdate(now)},
    )
    subject = _("%(due)d privacy requests due soon or overdue (%(overdue)d overdue)") % {
        "due": len(rows),
        "overdue": overdue,
    }
    EmailMessage(subject=subject, body=body, to=[to]).send()
    with transaction.atomic():
        ledger.append(
            actor=actor,
            action="feedback.privacy_reminder",
            purpose="privacy request deadlines",
            detail={"due": len(rows), "overdue": overdue},
        )
    return ReminderReport(len(rows), overdue, True, True, references)


def erase_request(request_id: int, *, actor: Actor, purpose: str) -> PrivacyRequest:
    """Destroy the request's data key: its texts and contact address are gone for good."""
    with transaction.atomic():
        request = _get(request_id, lock=True)
        if request.erased_at is not None:
            return request
        keystore.destroy_data_key(request.key_id, owner=request.owner)
        request.erased_at = clock.now()
        request.save(update_fields=["erased_at"])
        ledger.append(
            actor=actor,
            action="feedback.privacy_request_erase",
            purpose=purpose,
            patron_id=_ledger_patron(request),
            fields=["description", "contact", "steps"],
            detail={"request": request.pk},
        )
    return request


def expire(now: dt.datetime, *, actor: Actor) -> int:
    """Crypto-erase requests closed more than `request_retention_days` ago; returns how many."""
    cutoff = now - dt.timedelta(days=config.value("request_retention_days"))
    ids = list(
        PrivacyRequest.objects.filter(
            status=RequestStatus.CLOSED, closed_at__lt=cutoff, erased_at__isnull=True
        ).values_list("pk", flat=True)
    )
    for request_id in ids:
        erase_request(request_id, actor=actor, purpose="retention period ended")
    return len(ids)


# --- the patron's data export ------------------------------------------------------------------

EXPORT_COLUMNS = (
    "reference",
    "kind",
    "filed_at",
    "due_on",
    "status",
    "outcome",
    "closed_at",
    "description",
    "answers",
)


def export_rows(patron) -> list[dict]:
    """The patron's requests filed while signed in, texts opened (the export records itself)."""
    rows = []
    for request in PrivacyRequest.objects.filter(patron_id=patron.pk).order_by("filed_at", "pk"):
        description, answers = "", []
        if request.erased_at is None:
            try:
                description = _open(request, "description", request.description_sealed)
                for step in request.steps.filter(visible=True):
                    text = _open(request, f"step.{step.pk}", step.text_sealed)
                    if text:
                        answers.append(text)
            except (KeyDestroyed, VaultError):
                description, answers = "", []
        rows.append(
            {
                "reference": request.reference or "",
                "kind": request.kind,
                "filed_at": request.filed_at.isoformat(),
                "due_on": request.due_on.isoformat(),
                "status": request.status,
                "outcome": request.outcome or None,
                "closed_at": request.closed_at.isoformat() if request.closed_at else None,
                "description": description,
                "answers": "\n\n".join(answers),
            }
        )
    return rows
