"""Anonymous feedback: filed by anyone, answered in public by staff.

Filing writes no ledger entry: an entry carries an exact time and would
undo the day-precision of `created_on` (see models.py). Everything staff do
(read, answer, edit the public text, close) is recorded, without a patron
id, since feedback names no one.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.feedback.errors import FeedbackError, NotFound
from shelfguard.feedback.models import TEXT_MAX, Category, Feedback, FeedbackStatus
from shelfguard.ledger import services as ledger


def _clean_text(text: str, limit: int, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise FeedbackError("empty", _("Write your %(what)s first.") % {"what": what})
    if len(text) > limit:
        raise FeedbackError(
            "too-long",
            _("Your %(what)s is %(n)d characters long; shorten it to %(max)d or fewer.")
            % {"what": what, "n": len(text), "max": limit},
        )
    return text


def submit(*, category: str, text: str, actor: Actor, purpose: str) -> Feedback:
    """Store one anonymous comment: category, text, today's date. Nothing else."""
    if category not in Category.values:
        raise FeedbackError("category", _("Choose one of the listed categories."))
    text = _clean_text(text, TEXT_MAX, _("feedback"))
    with transaction.atomic():
        return Feedback.objects.create(category=category, text=text, created_on=clock.today())


def listing(
    *, status: str = "", category: str = "", newest_first: bool = False, actor: Actor, purpose: str
) -> QuerySet[Feedback]:
    """Feedback for the staff list, filtered by status and category, oldest first."""
    rows = Feedback.objects.all()
    if status in FeedbackStatus.values:
        rows = rows.filter(status=status)
    if category in Category.values:
        rows = rows.filter(category=category)
    return (
        rows.order_by("-created_on", "-pk") if newest_first else rows.order_by("created_on", "pk")
    )


def _get(feedback_id: int, *, lock: bool = False) -> Feedback:
    rows = Feedback.objects.select_for_update() if lock else Feedback.objects
    found = rows.filter(pk=feedback_id).first()
    if found is None:
        raise NotFound
    return found


def read(feedback_id: int, *, actor: Actor, purpose: str) -> Feedback:
    """One comment for a staff member (recorded: who read which comment, and why)."""
    with transaction.atomic():
        feedback = _get(feedback_id)
        ledger.append(
            actor=actor, action="feedback.read", purpose=purpose, detail={"feedback": feedback.pk}
        )
    return feedback


def answer(
    feedback_id: int, *, public_text: str, answer: str, actor: Actor, purpose: str
) -> Feedback:
    """Publish an answer with the (possibly edited) comment on the public answers page."""
    public_text = _clean_text(public_text, TEXT_MAX, _("public text of the feedback"))
    answer = _clean_text(answer, TEXT_MAX, _("answer"))
    with transaction.atomic():
        feedback = _get(feedback_id, lock=True)
        if feedback.status == FeedbackStatus.CLOSED and feedback.answered_on is None:
            raise FeedbackError("closed", _("This feedback is closed; it cannot be answered."))
        edited = public_text != feedback.text
        first = feedback.answered_on is None
        feedback.public_text = public_text
        feedback.answer = answer
        feedback.answered_on = feedback.answered_on or clock.today()
        if feedback.status == FeedbackStatus.NEW:
            feedback.status = FeedbackStatus.ANSWERED
        feedback.save()
        ledger.append(
            actor=actor,
            action="feedback.answer" if first else "feedback.answer_edit",
            purpose=purpose,
            detail={"feedback": feedback.pk, "text_edited": edited},
        )
    return feedback


def withdraw_answer(feedback_id: int, *, actor: Actor, purpose: str) -> Feedback:
    """Take a published answer off the public page (e.g. something personal slipped through)."""
    with transaction.atomic():
        feedback = _get(feedback_id, lock=True)
        if feedback.answered_on is None:
            raise FeedbackError("not-answered", _("This feedback has no published answer."))
        feedback.public_text = ""
        feedback.answer = ""
        feedback.answered_on = None
        if feedback.status == FeedbackStatus.ANSWERED:
            feedback.status = FeedbackStatus.NEW
        feedback.save()
        ledger.append(
            actor=actor,
            action="feedback.answer_withdraw",
            purpose=purpose,
            detail={"feedback": feedback.pk},
        )
    return feedback


def close(feedback_id: int, *, actor: Actor, purpose: str) -> Feedback:
    """Close a comment; an answer already published stays on the public page."""
    with transaction.atomic():
        feedback = _get(feedback_id, lock=True)
        if feedback.status == FeedbackStatus.CLOSED:
            raise FeedbackError("closed", _("This feedback is already closed."))
        feedback.status = FeedbackStatus.CLOSED
        feedback.closed_on = clock.today()
        feedback.save()
        ledger.append(
            actor=actor, action="feedback.close", purpose=purpose, detail={"feedback": feedback.pk}
        )
    return feedback


def answered() -> QuerySet[Feedback]:
    """What the public answers page shows: published answers, newest first."""
    return Feedback.objects.filter(answered_on__isnull=False).order_by("-answered_on", "-pk")
