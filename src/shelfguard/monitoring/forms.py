"""Forms of the monitoring staff pages. Limits are checked here and again by the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from shelfguard.monitoring.services import NOTE_MAX


class ReviewForm(forms.Form):
    note = forms.CharField(
        label=_("What did you find?"),
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "A sentence or two. The note is written to the access ledger; a review is final."
        ),
        error_messages={
            "required": _("Write a short note saying what you found."),
            "max_length": _(
                "This note is %(show_value)d characters long; shorten it to "
                "%(limit_value)d or fewer."
            ),
        },
    )


class DecoyForm(forms.Form):
    card = forms.CharField(
        label=_("Card number of the decoy patron"),
        max_length=64,
        help_text=_(
            "Register the decoy first, as a normal patron with made-up details; "
            "then mark its card here."
        ),
        error_messages={"required": _("Type or scan the decoy's card number.")},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class RemoveDecoyForm(forms.Form):
    patron_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label=_("Yes, stop treating this patron as a decoy"),
        error_messages={"required": _("Tick the confirmation box first.")},
    )
