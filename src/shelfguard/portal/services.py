"""Portal services: the doors for patron sign-in, portal sessions and portal credentials.

Every change runs in one transaction with its ledger entry (channel "web"
for the patron's own actions, "cli" for an operator's), and no entry ever
holds a password, a code, a token or the card number: patrons are named by
id. Implemented by subject (`credentials`, `sessions`); callers import from
here.
"""

from __future__ import annotations

from shelfguard.portal.account import (
    AccountError,
    accept_notice,
    actor_of,
    branches,
    cancel_hold,
    change_pickup,
    consent_states,
    delete_history,
    delete_history_entry,
    history,
    hold_target,
    keeps_history,
    my_data,
    notice_due,
    optional_purposes,
    overview,
    place_hold,
    renew,
    set_consent,
    who_looked,
)
from shelfguard.portal.closure import (
    ClosureRefused,
    cancel_closure,
    closure_of,
    cooling_off_days,
    list_closures,
    request_closure,
    run_due_closures,
)
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
from shelfguard.portal.export import (
    EXPORT_LIFETIME,
    ExportRefused,
    purge_exports,
    request_export,
    take_export,
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
    # Download my data and close my account (portal/export.py, portal/closure.py).
    "EXPORT_LIFETIME",
    "GENERIC_FAILURE",
    "AccountError",
    "ClosureRefused",
    "ExportRefused",
    "PortalError",
    "SignInFailed",
    "accept_notice",
    "active_sessions",
    "actor_of",
    "begin_sign_in",
    "branches",
    "cancel_closure",
    "cancel_hold",
    "change_password",
    "change_pickup",
    "check_password",
    "check_session",
    "closure_of",
    "confirm_totp",
    "consent_states",
    "cooling_off_days",
    "create_password_link",
    "credential_of",
    "delete_history",
    "delete_history_entry",
    "disable_totp",
    "end_all_but",
    "end_by_token",
    "end_one",
    "finish_sign_in",
    "grouped",
    "has_password",
    "has_totp",
    "history",
    "hold_target",
    "keeps_history",
    "list_closures",
    "my_data",
    "notice_due",
    "open_link",
    "optional_purposes",
    "otpauth_uri",
    "overview",
    "patron_actor",
    "pending_session",
    "pending_totp",
    "place_hold",
    "purge_exports",
    "renew",
    "request_closure",
    "request_export",
    "run_due_closures",
    "set_consent",
    "set_password",
    "start_totp",
    "take_export",
    "use_link",
    "who_looked",
]
