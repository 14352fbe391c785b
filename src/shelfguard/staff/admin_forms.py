"""Forms of the staff administration pages. They only shape input; services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from shelfguard.accounts import services, usernames
from shelfguard.accounts.models import Role
from shelfguard.accounts.permissions import PERMISSIONS
from shelfguard.core.models import Branch


def _branch_choices():
    return [(b.code, str(b)) for b in Branch.objects.order_by("code")]


def _role_choices():
    return [(r.code, r.name) for r in Role.objects.order_by("code")]


def _permission_choices():
    return [(code, f"{code}: {info.description}") for code, info in PERMISSIONS.items()]


class BranchFilterForm(forms.Form):
    branch = forms.ChoiceField(label=_("Branch"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["branch"].choices = [("", _("All branches I manage"))] + _branch_choices()


class ConfirmForm(forms.Form):
    """A deliberate yes: an empty or replayed-without-it POST changes nothing."""

    confirm = forms.BooleanField(label=_("Yes, I mean it"), required=True)


class CreateStaffForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=usernames.MAX_LENGTH * 4,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    branch = forms.ChoiceField(label=_("Home branch"))
    roles = forms.MultipleChoiceField(
        label=_("Roles"), widget=forms.CheckboxSelectMultiple, required=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["branch"].choices = _branch_choices()
        self.fields["roles"].choices = _role_choices()


class AssignRolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        label=_("Roles"), widget=forms.CheckboxSelectMultiple, required=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = _role_choices()


class MoveStaffForm(ConfirmForm):
    branch = forms.ChoiceField(label=_("New home branch"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["branch"].choices = _branch_choices()


class RoleForm(forms.Form):
    code = forms.SlugField(
        label=_("Code"),
        max_length=64,
        help_text=_("Lower-case letters, digits and hyphens; cannot be changed later."),
    )
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, max_length=2000, widget=forms.Textarea
    )
    scope = forms.ChoiceField(label=_("Scope"), choices=Role.Scope.choices)
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"), widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["permissions"].choices = _permission_choices()
        if editing:
            del self.fields["code"]


class CertificationForm(forms.Form):
    staff = forms.ChoiceField(label=_("Staff member"))
    course = forms.CharField(label=_("Course"), max_length=200)
    passed_on = forms.DateField(
        label=_("Passed on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    expires_on = forms.DateField(
        label=_("Valid until (last valid day)"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, staff_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff"].choices = list(staff_choices)


class GrantForm(forms.Form):
    staff = forms.ChoiceField(label=_("Staff member"))
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"), widget=forms.CheckboxSelectMultiple
    )
    hours = forms.IntegerField(
        label=_("Hours"),
        min_value=1,
        max_value=int(services.MAX_BREAKGLASS.total_seconds() // 3600),
        initial=4,
    )
    justification = forms.CharField(
        label=_("Justification"),
        help_text=_("Why this person needs this access now. It is recorded and reviewed."),
        min_length=services.MIN_JUSTIFICATION,
        max_length=2000,
        widget=forms.Textarea,
    )

    def __init__(self, *args, staff_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff"].choices = list(staff_choices)
        self.fields["permissions"].choices = _permission_choices()


class ReviewForm(forms.Form):
    use = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[("justified", _("Justified")), ("concern", _("Raise a concern"))],
    )
