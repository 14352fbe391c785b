"""Forms of the patron desk pages (see desk_patron_views.py).

The registration and edit forms are generated from the data-classification
register (`patrons.register`): which personal fields appear, in which order,
which are required and which widget each gets, all follow the register and
the library's `[patrons] collect` choice. The forms only carry text; the
patron services check and normalise every value and explain refusals.

Lengths are bounded generously (the service, not the form, says what is
wrong), so over-long input is refused before any work is done.
"""

from __future__ import annotations

import unicodedata

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from shelfguard.core.models import Branch
from shelfguard.patrons import register as reg
from shelfguard.patrons.models import IdentityDocument, PatronCategory

#: Longest free-text note added to a stated purpose (the ledger keeps it; no personal details).
NOTE_MAX = 120

# Labels of the register's fields for the screen, marked for translation. The
# register's own labels are the record of processing (English, for the
# privacy officer); a field missing here falls back to that label.
FIELD_LABELS = {
    "card_number": _("Library card number"),
    "name": pgettext_lazy("a person's name", "Name"),
    "email": _("E-mail address"),
    "phone": _("Telephone"),
    "address": _("Postal address"),
    "birth_year": _("Year of birth"),
    "birth_date": _("Date of birth"),
    "guardian_name": _("Parent or guardian's name"),
    "pin": _("PIN for self-service (optional)"),
}


def field_label(key: str):
    return FIELD_LABELS.get(key, reg.get(key).label)


# Why a staff member reveals a patron's details: a short list, plus a note.
REVEAL_PURPOSES = [
    ("circulation", _("Lending, returns or renewals")),
    ("identity check", _("Confirming who the patron is")),
    ("contact patron", _("Contacting the patron about loans or holds")),
    ("record update", _("Updating the record at the patron's request")),
    ("patron request", _("The patron asked to see their details")),
    ("other", _("Other (say why in the note)")),
]

BLOCK_REASONS = [
    ("items long overdue", _("Items long overdue")),
    ("unpaid charges", _("Unpaid charges")),
    ("card reported lost or stolen", _("Card reported lost or stolen")),
    ("conduct", _("Conduct in the library")),
    ("other", _("Other (say why in the note)")),
]

REPLACE_REASONS = [
    ("lost", _("Lost")),
    ("stolen", _("Stolen")),
    ("damaged", _("Damaged")),
]

_NOTE_HELP = _("A few words; never a name, number or other personal detail.")


def _scan_attrs(**extra) -> dict[str, str]:
    attrs = {
        "autocomplete": "off",
        "autocapitalize": "none",
        "spellcheck": "false",
        "autofocus": "autofocus",
    }
    attrs.update(extra)
    return attrs


class FindForm(forms.Form):
    """One box: a scanned card goes straight to the patron; other text searches."""

    q = forms.CharField(
        label=_("Scan a card, or type a name or e-mail address"),
        max_length=254,
        widget=forms.TextInput(attrs=_scan_attrs()),
    )


def _note_field() -> forms.CharField:
    return forms.CharField(
        label=_("Note"), required=False, max_length=NOTE_MAX, help_text=_NOTE_HELP
    )


def with_note(code: str, note: str) -> str:
    """The purpose as the ledger keeps it: the chosen code, then the note if any.

    Control and invisible formatting characters are dropped (the ledger
    refuses them) and runs of white space become one space.
    """
    note = "".join(ch for ch in note if unicodedata.category(ch) not in _INVISIBLE)
    note = " ".join(note.split())
    return f"{code}: {note}" if note else code


_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


class RevealForm(forms.Form):
    """Which details to reveal, and why. `details` offers only what the staff member may see."""

    purpose = forms.ChoiceField(label=_("Why do you need to see this?"), choices=REVEAL_PURPOSES)
    note = _note_field()
    details = forms.MultipleChoiceField(
        label=_("Details to reveal"), widget=forms.CheckboxSelectMultiple, choices=()
    )

    def __init__(self, *args, allowed: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["details"].choices = [(key, field_label(key)) for key in allowed]
        self.fields["details"].error_messages["required"] = _("Tick the details you need.")

    def clean(self):
        data = super().clean()
        if data.get("purpose") == "other" and not " ".join(data.get("note", "").split()):
            self.add_error("note", _("Say why in the note."))
        return data

    def stated_purpose(self) -> str:
        return with_note(self.cleaned_data["purpose"], self.cleaned_data.get("note", ""))


def _sealed_field(key: str, *, required: bool, autofocus: bool = False) -> forms.Field:
    """A form field for one sealed register field; the service validates the value."""
    attrs: dict[str, str] = {"autocomplete": "off"}
    if autofocus:
        attrs["autofocus"] = "autofocus"
    label = field_label(key)
    if key == "address":
        return forms.CharField(
            label=label,
            required=required,
            max_length=2000,
            strip=True,
            widget=forms.Textarea(attrs={**attrs, "rows": 3}),
        )
    if key == "email":
        widget = forms.EmailInput(attrs=attrs)
    elif key == "phone":
        widget = forms.TextInput(attrs={**attrs, "type": "tel"})
    elif key == "birth_year":
        widget = forms.TextInput(attrs={**attrs, "inputmode": "numeric"})
    elif key == "birth_date":
        widget = forms.DateInput(attrs={**attrs, "type": "date"})
    elif key == "card_number":
        widget = forms.TextInput(attrs=_scan_attrs())
    else:
        widget = forms.TextInput(attrs=attrs)
    return forms.CharField(label=label, required=required, max_length=1000, widget=widget)


def _help_for(field: reg.PersonalField):
    if field.requirement is reg.Requirement.ONE_CONTACT:
        return _("Give at least one way to reach the patron.")
    if field.requirement is reg.Requirement.CHILDREN:
        return _("Only for patrons under %(age)d, who need a parent's or guardian's consent.") % {
            "age": reg.guardian_age()
        }
    return ""


def _category_choices():
    return [(c.code, c.name) for c in PatronCategory.objects.order_by("code")]


def _branch_choices():
    return [(b.code, f"{b.code} – {b.name}") for b in Branch.objects.order_by("code")]


def _document_choices():
    return [(value, label) for value, label in IdentityDocument.choices]


class RegisterForm(forms.Form):
    """Registration at the desk, generated from the register's collected fields."""

    def __init__(self, *args, home_branch: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.sealed_keys: list[str] = []
        for field in reg.collected_fields():
            if not field.sealed:
                continue
            required = field.requirement is reg.Requirement.REQUIRED
            form_field = _sealed_field(field.key, required=required)
            form_field.help_text = _help_for(field)
            self.fields[field.key] = form_field
            self.sealed_keys.append(field.key)
        self.fields["category"] = forms.ChoiceField(
            label=_("Patron category"), choices=_category_choices(), initial="adult"
        )
        self.fields["home_branch"] = forms.ChoiceField(
            label=_("Home branch"), choices=_branch_choices(), initial=home_branch
        )
        self.fields["pin"] = forms.CharField(
            label=field_label("pin"),
            required=False,
            max_length=256,
            strip=False,
            widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
            help_text=_("The patron types it themselves. Leave empty to set it later."),
        )
        self.show_identity = reg.is_collected("identity_verification")
        if self.show_identity:
            self.fields["identity_document"] = forms.ChoiceField(
                label=_("Identity document seen"),
                choices=_document_choices(),
                required=False,
                help_text=_("Only the kind of document is recorded, never its number."),
            )
        self.fields["accepts_notice"] = forms.BooleanField(
            label=_("The patron has been shown the privacy notice and agrees to holding a card"),
            required=True,
            error_messages={
                "required": _("A card needs the patron's agreement to the privacy notice.")
            },
        )
        self.optional_consents = [p for p in reg.CONSENT_PURPOSES if p != reg.REQUIRED_CONSENT]
        for purpose in self.optional_consents:
            self.fields[f"consent_{purpose}"] = forms.BooleanField(
                label=CONSENT_LABELS.get(purpose, reg.CONSENT_PURPOSES[purpose]),
                required=False,
            )
        self.fields["by_guardian"] = forms.BooleanField(
            label=_("Consent given by a parent or guardian (patron under %(age)d)")
            % {"age": reg.guardian_age()},
            required=False,
        )

    def sealed_values(self) -> dict[str, str | None]:
        return {k: (self.cleaned_data.get(k) or None) for k in self.sealed_keys}

    def consents(self) -> list[str]:
        chosen = [reg.REQUIRED_CONSENT]
        chosen += [p for p in self.optional_consents if self.cleaned_data.get(f"consent_{p}")]
        return chosen

    def consent_fields(self):
        return [self[f"consent_{p}"] for p in self.optional_consents]

    def personal_fields(self):
        return [self[k] for k in self.sealed_keys]


CONSENT_LABELS = {
    "service": _("Hold a library card and borrow (required)"),
    "reading_history": _("Keep a history of loans after they are returned"),
    "recommendations": _("Suggest books from loans and holds"),
    "email_notices": _("Send notices about loans and holds by e-mail"),
    "sms_notices": _("Send notices about loans and holds by text message"),
    "notice_titles": _("Name the titles of loans and holds in notices"),
}


class EditForm(forms.Form):
    """Changes to a record. Personal fields start empty: an empty box keeps the value.

    The current values are not filled in, because that would reveal them all;
    a staff member who needs to see one reveals it on the patron page first.
    """

    def __init__(self, *args, current: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.sealed_keys: list[str] = []
        self.clearable: list[str] = []
        for field in reg.collected_fields():
            # The card number changes only through "Replace a lost card".
            if not field.sealed or field.key == "card_number":
                continue
            self.fields[field.key] = _sealed_field(field.key, required=False)
            self.fields[field.key].help_text = _("Leave empty to keep the current value.")
            self.sealed_keys.append(field.key)
            if field.requirement is not reg.Requirement.REQUIRED:
                self.fields[f"clear_{field.key}"] = forms.BooleanField(
                    label=_("Remove the %(field)s") % {"field": field_label(field.key)},
                    required=False,
                )
                self.clearable.append(field.key)
        self.fields["category"] = forms.ChoiceField(
            label=_("Patron category"), choices=_category_choices(), initial=current["category"]
        )
        self.fields["home_branch"] = forms.ChoiceField(
            label=_("Home branch"), choices=_branch_choices(), initial=current["home_branch"]
        )
        self.show_identity = reg.is_collected("identity_verification")
        if self.show_identity:
            self.fields["identity_document"] = forms.ChoiceField(
                label=_("Identity document seen"),
                choices=_document_choices(),
                required=False,
                initial=current["identity_document"],
                help_text=_("Only the kind of document is recorded, never its number."),
            )
        self.fields["reason"] = forms.CharField(
            label=_("Reason for the change"), max_length=NOTE_MAX, help_text=_NOTE_HELP
        )
        self.current = current

    def changes(self) -> dict[str, object]:
        data = self.cleaned_data
        changes: dict[str, object] = {}
        for key in self.sealed_keys:
            if key in self.clearable and data.get(f"clear_{key}"):
                changes[key] = None
            elif data.get(key):
                changes[key] = data[key]
        for key in ("category", "home_branch"):
            if data.get(key) and data[key] != self.current[key]:
                changes[key] = data[key]
        if self.show_identity and data.get("identity_document", "") != self.current.get(
            "identity_document", ""
        ):
            changes["identity_document"] = data.get("identity_document", "")
        return changes

    def personal_fields(self):
        rows = []
        for key in self.sealed_keys:
            rows.append((self[key], self[f"clear_{key}"] if key in self.clearable else None))
        return rows


class RenewForm(forms.Form):
    expires_on = forms.DateField(
        label=_("New expiry date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "autofocus": "autofocus"}),
        help_text=_("Leave empty for the library's standard period."),
    )


class ReplaceCardForm(forms.Form):
    new_card_number = forms.CharField(
        label=_("Scan the new card"), max_length=254, widget=forms.TextInput(attrs=_scan_attrs())
    )
    reason = forms.ChoiceField(label=_("The old card was"), choices=REPLACE_REASONS)


class BlockForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=BLOCK_REASONS,
        widget=forms.Select(attrs={"autofocus": "autofocus"}),
    )
    note = _note_field()

    def clean(self):
        data = super().clean()
        if data.get("reason") == "other" and not " ".join(data.get("note", "").split()):
            self.add_error("note", _("Say why in the note."))
        return data

    def stated_reason(self) -> str:
        return with_note(self.cleaned_data["reason"], self.cleaned_data.get("note", ""))


class UnblockForm(forms.Form):
    """Which block to lift (the patron's blocks in force), and why."""

    block = forms.TypedChoiceField(
        label=_("Block to lift"),
        coerce=int,
        choices=(),
        widget=forms.Select(attrs={"autofocus": "autofocus"}),
    )
    note = forms.CharField(
        label=_("Why is the block lifted?"),
        max_length=NOTE_MAX,
        help_text=_NOTE_HELP,
    )

    def __init__(self, *args, blocks: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["block"].choices = [
            (b["id"], f"{b['at']:%Y-%m-%d}: {b['reason']}") for b in blocks
        ]
        if blocks:
            self.fields["block"].initial = blocks[0]["id"]
