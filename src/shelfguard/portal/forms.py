"""Portal forms. Lengths are bounded so over-long input is refused before any hashing."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from shelfguard.accounts import passwords
from shelfguard.portal.credentials import CARD_INPUT_MAX

_PASSWORD_MAX = passwords.MAX_LENGTH * 4


def _password(label, *, autocomplete: str, help_text: str = "", required: bool = True):
    return forms.CharField(
        label=label,
        help_text=help_text,
        max_length=_PASSWORD_MAX,
        strip=False,
        required=required,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


def _code(label, *, required: bool = True):
    return forms.CharField(
        label=label,
        max_length=16,
        required=required,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )


class LoginForm(forms.Form):
    card = forms.CharField(
        label=_("Card number"),
        max_length=CARD_INPUT_MAX,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "username",
                "autocapitalize": "characters",
                "spellcheck": "false",
            }
        ),
    )
    password = _password(_("Password"), autocomplete="current-password")
    public = forms.BooleanField(
        label=_("This is a public or shared computer"),
        help_text=_(
            "You are signed out when the browser closes or after 5 minutes without use, "
            "and nothing is remembered."
        ),
        required=False,
    )


class CodeForm(forms.Form):
    code = _code(_("The 6-digit code your authenticator app shows now"))


NEW_PASSWORD_HELP = _(
    "At least 15 characters (8 if you use an authenticator app or a passkey), not a common "
    "password and not your card number. A long phrase is easy to remember and hard to guess."
)


class SetPasswordForm(forms.Form):
    new_password = _password(
        _("New password"), autocomplete="new-password", help_text=NEW_PASSWORD_HELP
    )
    new_password_again = _password(_("New password again"), autocomplete="new-password")


class PasswordChangeForm(SetPasswordForm):
    current_password = _password(_("Your current password"), autocomplete="current-password")
    code = _code(_("Code from your authenticator app (if you use one)"), required=False)

    field_order = ["current_password", "code", "new_password", "new_password_again"]


class TotpStartForm(forms.Form):
    current_password = _password(_("Your current password"), autocomplete="current-password")


class TotpDisableForm(forms.Form):
    current_password = _password(_("Your current password"), autocomplete="current-password")
    code = _code(_("The 6-digit code your authenticator app shows now"))


class EndSessionForm(forms.Form):
    session = forms.IntegerField(min_value=1, max_value=2**62, widget=forms.HiddenInput)


# --- passkeys ------------------------------------------------------------------------

PASSKEY_RESPONSE_MAX = 32_000


def _passkey_name(required: bool = False):
    return forms.CharField(
        label=_("A name for this passkey"),
        help_text=_("For example the device it is on. Only you see it."),
        max_length=64,
        required=required,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class PasskeyAddForm(forms.Form):
    """The re-authentication (and a label) that comes before creating a passkey."""

    name = _passkey_name()
    current_password = _password(_("Your current password"), autocomplete="current-password")
    code = _code(_("Code from your authenticator app (if you use one)"), required=False)


class PasskeyCredentialForm(forms.Form):
    """The browser's answer (JSON), checked by the WebAuthn code, not here."""

    credential = forms.CharField(max_length=PASSKEY_RESPONSE_MAX, strip=False)
    name = forms.CharField(max_length=256, required=False)


class PasskeyManageForm(forms.Form):
    """Rename or remove one of one's passkeys: re-authentication first."""

    passkey = forms.IntegerField(min_value=1, max_value=2**62, widget=forms.HiddenInput)
    name = forms.CharField(label=_("New name"), max_length=64, required=False)
    current_password = _password(_("Your current password"), autocomplete="current-password")
    code = _code(_("Code from your authenticator app (if you use one)"), required=False)
