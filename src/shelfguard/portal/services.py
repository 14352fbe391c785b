"""Portal services: the doors for patron sign-in, portal sessions and portal credentials.

Every change runs in one transaction with its ledger entry (channel "web"
for the patron's own actions, "cli" for an operator's), and no entry ever
holds a password, a code, a token or the card number: patrons are named by
id. Implemented by subject (`credentials`, `sessions`); callers import from
here.
"""

from __future__ import annotations

from shelfguard.portal.credentials import (
    GENERIC_FAILURE,
    PortalError,
    SignInFailed,
    begin_sign_in,
    change_password,
    check_password,
    confirm_totp,
    create_password_link,
    credential_of,
    disable_totp,
    finish_sign_in,
    grouped,
    has_password,
    has_totp,
    open_link,
    otpauth_uri,
    pending_totp,
    set_password,
    start_totp,
    use_link,
)
from shelfguard.portal.sessions import (
    active as active_sessions,
)
from shelfguard.portal.sessions import (
    check as check_session,
)
from shelfguard.portal.sessions import (
    end_all_but,
    end_by_token,
    end_one,
    patron_actor,
)
from shelfguard.portal.sessions import (
    pending as pending_session,
)

__all__ = [
    "GENERIC_FAILURE",
    "PortalError",
    "SignInFailed",
    "active_sessions",
    "begin_sign_in",
    "change_password",
    "check_password",
    "check_session",
    "confirm_totp",
    "create_password_link",
    "credential_of",
    "disable_totp",
    "end_all_but",
    "end_by_token",
    "end_one",
    "finish_sign_in",
    "grouped",
    "has_password",
    "has_totp",
    "open_link",
    "otpauth_uri",
    "patron_actor",
    "pending_session",
    "pending_totp",
    "set_password",
    "start_totp",
    "use_link",
]
