"""Forms of the loan-rule and branch-calendar pages. They only shape input; services decide.

Limits on the values (loan days, charges, ...) are the service's: the forms
ask for whole numbers and leave the ranges to `circulation.services`, so the
page shows the service's own refusal.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from shelfguard.catalog.models import ItemType
from shelfguard.core.models import Branch
from shelfguard.patrons.models import PatronCategory

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


def _any(label):
    return [("", label)]


class PolicyForm(forms.Form):
    """One cell of the matrix (on a new rule) and its values."""

    category = forms.ChoiceField(label=_("Patron category"), required=False)
    item_type = forms.ChoiceField(label=_("Item type"), required=False)
    branch = forms.ChoiceField(label=_("Branch"), required=False)
    loan_days = forms.IntegerField(label=_("Loan period (days)"))
    renewals = forms.IntegerField(label=_("Renewals allowed"))
    max_items = forms.IntegerField(label=_("Most items on loan at once"))
    holds_allowed = forms.BooleanField(label=_("Holds allowed"), required=False)
    grace_days = forms.IntegerField(label=_("Grace days before a charge"))
    charges_apply = forms.BooleanField(label=_("Overdue charges apply"), required=False)
    daily_charge_cents = forms.IntegerField(label=_("Charge per day (cents)"))
    max_charge_cents = forms.IntegerField(label=_("Largest charge per item (cents)"))

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            # The cell of an existing rule is fixed; to cover another cell, add a rule.
            for name in ("category", "item_type", "branch"):
                del self.fields[name]
            return
        self.fields["category"].choices = _any(_("Any category")) + [
            (c.code, f"{c.code} ({c.name})") for c in PatronCategory.objects.order_by("code")
        ]
        self.fields["item_type"].choices = _any(_("Any item type")) + [
            (t.code, f"{t.code} ({t.name})") for t in ItemType.objects.order_by("code")
        ]
        self.fields["branch"].choices = _any(_("Every branch")) + [
            (b.code, str(b)) for b in Branch.objects.order_by("code")
        ]


class TimeZoneForm(forms.Form):
    time_zone = forms.CharField(
        label=_("Time zone"),
        required=False,
        max_length=64,
        help_text=_("An IANA name such as Europe/London; empty for the library's time zone."),
    )


class HoursForm(forms.Form):
    """One weekday's hours; both times empty marks the weekday closed."""

    weekday = forms.TypedChoiceField(
        label=_("Weekday"), choices=WEEKDAYS, coerce=int, widget=forms.HiddenInput
    )
    opens = forms.TimeField(
        label=_("Opens"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    closes = forms.TimeField(
        label=_("Closes"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )


class ClosedDayForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)


class RemoveClosedDayForm(forms.Form):
    date = forms.DateField(widget=forms.HiddenInput)
