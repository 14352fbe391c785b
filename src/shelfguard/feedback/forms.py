"""Forms of the public feedback and privacy-request pages.

Length limits are checked here (with the count in the message) and again
by the services; the browser's `maxlength` is a convenience, not the check.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from shelfguard.feedback.models import (
    DESCRIPTION_MAX,
    STEP_MAX,
    TEXT_MAX,
    Category,
    FeedbackStatus,
    Outcome,
    RequestKind,
)

SIGNED_IN = "signed_in"
CONTACT = "contact"


def _too_long(limit: int) -> dict:
    return {
        "max_length": _(
            "This text is %(show_value)d characters long; shorten it to %(limit_value)d or fewer."
        )
    }


class FeedbackForm(forms.Form):
    category = forms.ChoiceField(
        label=_("What is it about?"), choices=Category.choices, widget=forms.RadioSelect
    )
    text = forms.CharField(
        label=_("Your feedback"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "Up to %(max)d characters. Please do not include your name or other personal "
            "details: this form is anonymous."
        )
        % {"max": TEXT_MAX},
        error_messages=_too_long(TEXT_MAX),
    )


class PrivacyRequestForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What do you ask for?"), choices=RequestKind.choices, widget=forms.RadioSelect
    )
    description = forms.CharField(
        label=_("Describe your request"),
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Up to %(max)d characters.") % {"max": DESCRIPTION_MAX},
        error_messages=_too_long(DESCRIPTION_MAX),
    )
    answer_by = forms.ChoiceField(
        label=_("How should we reach you?"),
        choices=[
            (CONTACT, _("By e-mail, at the address below")),
            (SIGNED_IN, _("I am signed in to my library account: link the request to it")),
        ],
        initial=CONTACT,
        widget=forms.RadioSelect,
    )
    contact = forms.EmailField(
        label=_("E-mail address for the answer"),
        required=False,
        max_length=254,
        help_text=_("Needed unless you are signed in. Used only to answer this request."),
    )

    def clean(self):
        data = super().clean()
        if data.get("answer_by") == CONTACT and not data.get("contact"):
            self.add_error(
                "contact",
                _("Give an e-mail address for the answer, or choose “I am signed in”."),
            )
        return data


# --- staff forms ----------------------------------------------------------------------------


class FeedbackFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any"))] + list(FeedbackStatus.choices),
    )
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("Any"))] + list(Category.choices)
    )
    order = forms.ChoiceField(
        label=_("Order"),
        required=False,
        choices=[("oldest", _("Oldest first")), ("newest", _("Newest first"))],
    )


class AnswerForm(forms.Form):
    public_text = forms.CharField(
        label=_("The feedback as it will be published"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Remove names and anything else personal the writer included."),
        error_messages=_too_long(TEXT_MAX),
    )
    answer = forms.CharField(
        label=_("Our public answer"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages=_too_long(TEXT_MAX),
    )


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(label=_("Yes, I am sure"), required=True)


class StepForm(forms.Form):
    text = forms.CharField(
        label=_("Text"),
        max_length=STEP_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages=_too_long(STEP_MAX),
    )
    answer = forms.BooleanField(
        label=_("This is an answer: show it to the requester on their status page"),
        required=False,
    )


class CloseRequestForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=Outcome.choices)
    text = forms.CharField(
        label=_("Last answer to the requester (optional)"),
        required=False,
        max_length=STEP_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages=_too_long(STEP_MAX),
    )
    confirm = forms.BooleanField(label=_("Yes, close this request"), required=True)
