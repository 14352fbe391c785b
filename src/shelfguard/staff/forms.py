"""Staff sign-in forms. Lengths are bounded so over-long input is refused cleanly."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from shelfguard.accounts import passwords, usernames

# Longer than any valid value, so the service (not the form) explains what is
# wrong, yet bounded so a megabyte of input is refused before any hashing.
_PASSWORD_MAX = passwords.MAX_LENGTH * 4


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=usernames.MAX_LENGTH * 4,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=_PASSWORD_MAX,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app, or a recovery code"),
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


class DeviceCodeForm(forms.Form):
    code = forms.CharField(
        label=_("The 6-digit code your authenticator app shows now"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )


class EnrolForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=usernames.MAX_LENGTH * 4,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    code = forms.CharField(
        label=_("Enrolment code"),
        help_text=_("The one-time code you were given with your account."),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label=_("Password"),
        help_text=_(
            "If you were given a password, enter it. Otherwise choose one: at least 8 "
            "characters, not a common password; a long phrase is best."
        ),
        max_length=_PASSWORD_MAX,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label=_("Password again (only when choosing a new one)"),
        max_length=_PASSWORD_MAX,
        strip=False,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class EndSessionForm(forms.Form):
    session = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


# A WebAuthn answer in JSON is a few hundred to a few thousand characters.
_CREDENTIAL_MAX = 32_000


class _AnswerInput(forms.HiddenInput):
    """A hidden field for a passkey's answer that is never sent back filled in.

    An answer serves one challenge: re-showing a refused form with it would
    only send a stale answer again, in place of a code typed next time.
    """

    def format_value(self, value):
        return None


class ReauthFields(forms.Form):
    """Asked again before a security change, so an unattended session is not enough.

    With `passkey=True` (the staff member has a passkey) the code may be left
    empty and the passkey's answer, put into the hidden `reauth_credential`
    by passkeys.js, confirms instead; one of the two is needed. Without it
    the form asks for a code, as before.
    """

    current_password = forms.CharField(
        label=_("Your current password"),
        max_length=_PASSWORD_MAX,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = forms.CharField(
        label=_("Code from your authenticator app, or a recovery code"),
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    reauth_credential = forms.CharField(
        max_length=_CREDENTIAL_MAX, required=False, widget=_AnswerInput
    )

    def __init__(self, *args, passkey: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.passkey = passkey
        if passkey:
            self.fields["code"].required = False
            self.fields["code"].help_text = _(
                "Leave empty to confirm with one of your passkeys instead."
            )
        else:
            del self.fields["reauth_credential"]

    def clean(self):
        data = super().clean()
        if self.passkey and not data.get("code") and not data.get("reauth_credential"):
            self.add_error("code", _("Enter a code, or confirm with your passkey."))
        data.setdefault("reauth_credential", "")
        return data


class PasswordChangeForm(ReauthFields):
    new_password = forms.CharField(
        label=_("New password"),
        help_text=_(
            "At least 8 characters and not a common password; a long phrase is best. "
            "Signing in elsewhere ends when you change it."
        ),
        max_length=_PASSWORD_MAX,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password_again = forms.CharField(
        label=_("New password again"),
        max_length=_PASSWORD_MAX,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class RecoveryCodesForm(ReauthFields):
    pass


# --- passkeys ----------------------------------------------------------------------------


class PasskeyCredentialForm(forms.Form):
    """The browser's answer to a passkey ceremony, filled in by passkeys.js."""

    credential = forms.CharField(max_length=_CREDENTIAL_MAX, widget=forms.HiddenInput)
    name = forms.CharField(max_length=64, required=False)


class _PasskeyReauthFields(forms.Form):
    current_password = forms.CharField(
        label=_("Your current password"),
        max_length=_PASSWORD_MAX,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = forms.CharField(
        label=_("Code from your authenticator app, or a recovery code"),
        help_text=_("Leave empty to confirm with one of your passkeys instead."),
        max_length=64,
        required=False,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    reauth_credential = forms.CharField(
        max_length=_CREDENTIAL_MAX, required=False, widget=_AnswerInput
    )


class PasskeyAddForm(_PasskeyReauthFields):
    name = forms.CharField(
        label=_("A name for this passkey"),
        help_text=_("For example the device or key it lives on."),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    field_order = ["name", "current_password", "code", "reauth_credential"]


class PasskeyRemoveForm(_PasskeyReauthFields):
    pass


class PasskeyRenameForm(forms.Form):
    name = forms.CharField(label=_("New name"), max_length=64)
