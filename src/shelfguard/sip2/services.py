"""SIP2 services: the doors for self-check terminals and the reads the handlers need.

Terminals are added, listed, disabled, enabled and given new passwords only
here, each with `actor=` and `purpose=`, in one transaction with its ledger
entry. `authenticate_terminal` is the 93 (login) door: it is throttled per
terminal login and per source address by `accounts.throttle`, like staff
sign-in, so a machine on the network cannot guess a terminal's password,
and every sign-in (good or refused, with the reason code) is recorded.

Every refusal is a `TerminalError` with a stable `code` and a message that
says what to do; messages name logins and branch codes, never a patron.

The item, charge and block reads for the handlers live in `sip2.reads` and
are exported from here, so the handlers have one door to import.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils.translation import gettext as _

from shelfguard.accounts import throttle
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.ledger import services as ledger
from shelfguard.sip2 import protocol
from shelfguard.sip2.models import ALL_REQUEST_CODES, NameDisplay, Terminal
from shelfguard.sip2.reads import (
    ItemSummary,
    item_summary,
    patron_hold_on,
    patron_standing,
    terminal_blocks,
    unpaid_charges,
)

__all__ = [
    "ENCODINGS",
    "ItemSummary",
    "TerminalError",
    "TerminalRefused",
    "Transport",
    "add_terminal",
    "authenticate_terminal",
    "disable_terminal",
    "enable_terminal",
    "get_terminal",
    "item_summary",
    "list_terminals",
    "patron_hold_on",
    "patron_standing",
    "peer_allowed",
    "set_terminal_password",
    "still_allowed",
    "terminal_actor",
    "terminal_blocks",
    "unpaid_charges",
]

#: Encodings a terminal may use, by the name stored; both are ASCII-compatible.
ENCODINGS = ("utf-8", "latin-1")
PASSWORD_MIN = 12
PASSWORD_MAX = 128
SIGN_IN_PURPOSE = "self-check sign-in"
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")

# Checked against when no terminal has the login, so that a wrong login
# costs as long as a wrong password.
_DUMMY_HASH: list[str] = []


class TerminalError(Exception):
    """A terminal request that was not carried out; nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = str(message)


class TerminalRefused(TerminalError):
    """A terminal sign-in refused; `code` says why (for the ledger), the wire says only no."""

    def __init__(self, code: str, message: str, *, retry_after: int = 0) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


def terminal_actor(login: str) -> Actor:
    """The actor a terminal acts as: its own login on the sip2 channel."""
    return Actor(kind="terminal", ident=login, channel="sip2")


# --- validation ---------------------------------------------------------------------


def _clean_login(login: object) -> str:
    if not isinstance(login, str) or not _LOGIN.match(login):
        raise TerminalError(
            "invalid_login",
            _(
                "A terminal login is 1 to 64 letters, digits, dots, hyphens or underscores, "
                "starting with a letter or digit."
            ),
        )
    return login


def _clean_password(password: object) -> str:
    if (
        not isinstance(password, str)
        or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX
        or not password.isprintable()
        or "|" in password
    ):
        raise TerminalError(
            "invalid_password",
            _(
                "A terminal password is %(low)d to %(high)d printable characters without "
                "'|' (SIP2 cannot carry it); make a long random one."
            )
            % {"low": PASSWORD_MIN, "high": PASSWORD_MAX},
        )
    return password


def clean_encoding(encoding: object) -> str:
    """The stored name of a terminal encoding ("utf-8" or "latin-1"), checked with the codec."""
    try:
        name = codecs.lookup(str(encoding)).name
        protocol.parse("96", encoding=name)
    except (LookupError, ValueError):
        name = ""
    stored = {"utf-8": "utf-8", "iso8859-1": "latin-1"}.get(name)
    if stored is None:
        raise TerminalError(
            "invalid_encoding",
            _("The encoding must be one of: %(e)s.") % {"e": ", ".join(ENCODINGS)},
        )
    return stored


def _clean_networks(allow_from: Iterable[str] | None) -> list[str]:
    networks: list[str] = []
    for text in allow_from or ():
        try:
            networks.append(str(ipaddress.ip_network(str(text).strip(), strict=False)))
        except ValueError:
            raise TerminalError(
                "invalid_address",
                _("%(a)r is not an IP address or network (CIDR, e.g. 192.0.2.0/24).")
                % {"a": str(text)[:64]},
            ) from None
    return sorted(set(networks))


def _clean_codes(codes: Iterable[str] | None) -> list[str]:
    if codes is None:
        return list(ALL_REQUEST_CODES)
    chosen = [str(c).strip() for c in codes]
    bad = [c for c in chosen if c not in ALL_REQUEST_CODES]
    if bad or not chosen:
        raise TerminalError(
            "invalid_codes",
            _("Allowed message codes are some of: %(c)s.") % {"c": ", ".join(ALL_REQUEST_CODES)},
        )
    # Login, status and resend are the protocol itself: a terminal cannot work without them.
    return [c for c in ALL_REQUEST_CODES if c in set(chosen) | {"93", "99", "97"}]


def _clean_name_display(value: object) -> str:
    if value not in NameDisplay.values:
        raise TerminalError(
            "invalid_name_display",
            _("Name display must be one of: %(v)s.") % {"v": ", ".join(NameDisplay.values)},
        )
    return str(value)


def peer_allowed(terminal: Terminal, peer_host: str) -> bool:
    """Whether `peer_host` is in the terminal's allowlist (an empty list allows any address)."""
    if not terminal.allow_from:
        return True
    try:
        address = ipaddress.ip_address(str(peer_host).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for text in terminal.allow_from:
        try:
            if address in ipaddress.ip_network(text, strict=False):
                return True
        except (ValueError, TypeError):
            continue
    return False


# --- terminals ----------------------------------------------------------------------


def _describe(terminal: Terminal) -> dict[str, Any]:
    return {
        "login": terminal.login,
        "branch": terminal.branch.code,
        "enabled": terminal.enabled,
        "allow_plaintext": terminal.allow_plaintext,
        "encoding": terminal.encoding,
        "allowed_codes": list(terminal.allowed_codes),
        "allow_from": list(terminal.allow_from),
        "name_display": terminal.name_display,
        "created_at": terminal.created_at.isoformat(),
        "disabled_at": terminal.disabled_at.isoformat() if terminal.disabled_at else None,
    }


def _record(actor: Actor, action: str, purpose: str, terminal: Terminal, **detail: Any) -> None:
    ledger.append(
        actor=actor,
        action=f"sip2.{action}",
        purpose=purpose,
        detail={"terminal": terminal.login, "branch": terminal.branch.code, **detail},
    )


def get_terminal(login: str) -> Terminal:
    """The terminal with this login, or `TerminalError(unknown_terminal)`."""
    found = (
        Terminal.objects.select_related("branch").filter(login=login).first()
        if isinstance(login, str)
        else None
    )
    if found is None:
        raise TerminalError(
            "unknown_terminal",
            _("There is no terminal %(login)r; `shelfguard sip2 list-terminals` lists them.")
            % {"login": str(login)[:64]},
        )
    return found


def add_terminal(
    login: str,
    *,
    branch: Branch | str,
    password: str,
    actor: Actor,
    purpose: str,
    allow_plaintext: bool = False,
    encoding: str = "utf-8",
    allow_from: Iterable[str] | None = None,
    name_display: str = NameDisplay.FIRST,
    allowed_codes: Iterable[str] | None = None,
) -> Terminal:
    """Add a terminal at `branch`; refused if the login is taken or a value is unusable."""
    login = _clean_login(login)
    password = _clean_password(password)
    values = {
        "allow_plaintext": bool(allow_plaintext),
        "encoding": clean_encoding(encoding),
        "allow_from": _clean_networks(allow_from),
        "name_display": _clean_name_display(name_display),
        "allowed_codes": _clean_codes(allowed_codes),
    }
    code = branch.code if isinstance(branch, Branch) else str(branch).strip().upper()
    with transaction.atomic():
        found = Branch.objects.filter(code=code).first()
        if found is None:
            raise TerminalError(
                "unknown_branch",
                _("There is no branch %(code)r; `shelfguard branch list` lists them.")
                % {"code": code[:16]},
            )
        if Terminal.objects.filter(login=login).exists():
            raise TerminalError(
                "login_taken",
                _("A terminal with login %(login)r exists already.") % {"login": login},
            )
        terminal = Terminal.objects.create(
            login=login,
            password_hash=make_password(password),
            branch=found,
            created_at=clock.now(),
            **values,
        )
        _record(
            actor,
            "terminal_add",
            purpose,
            terminal,
            allow_plaintext=terminal.allow_plaintext,
            name_display=terminal.name_display,
        )
    return terminal


def list_terminals() -> list[dict[str, Any]]:
    """Every terminal with its settings (no password hash). No personal data, so not recorded."""
    return [_describe(t) for t in Terminal.objects.select_related("branch").order_by("login")]


def _set_enabled(login: str, enabled: bool, *, actor: Actor, purpose: str) -> Terminal:
    with transaction.atomic():
        terminal = get_terminal(login)
        terminal = Terminal.objects.select_for_update().select_related("branch").get(pk=terminal.pk)
        if terminal.enabled != enabled:
            terminal.enabled = enabled
            terminal.disabled_at = None if enabled else clock.now()
            terminal.save(update_fields=["enabled", "disabled_at"])
        _record(actor, "terminal_enable" if enabled else "terminal_disable", purpose, terminal)
    return terminal


def disable_terminal(login: str, *, actor: Actor, purpose: str) -> Terminal:
    """Stop a terminal signing in. A connection already signed in is refused at its next message."""
    return _set_enabled(login, False, actor=actor, purpose=purpose)


def enable_terminal(login: str, *, actor: Actor, purpose: str) -> Terminal:
    return _set_enabled(login, True, actor=actor, purpose=purpose)


def set_terminal_password(login: str, password: str, *, actor: Actor, purpose: str) -> Terminal:
    """Replace a terminal's password; the old one stops working at once."""
    password = _clean_password(password)
    with transaction.atomic():
        terminal = get_terminal(login)
        terminal.password_hash = make_password(password)
        terminal.save(update_fields=["password_hash"])
        _record(actor, "terminal_password", purpose, terminal)
    throttle.success(_throttle_account(terminal.login))
    return terminal


# --- sign-in (93) -------------------------------------------------------------------


@dataclass(frozen=True)
class Transport:
    """How the terminal reached us: the peer's address, and whether the link is private."""

    peer_host: str
    tls: bool
    loopback: bool


def _throttle_account(login: str) -> str:
    return f"sip2-terminal:{login}"


def _dummy_check(password: str) -> None:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(make_password("not a real password, only for timing"))
    check_password(password, _DUMMY_HASH[0])


def _signin_entry(login: str, *, ok: bool, reason: str, actor: Actor, purpose: str) -> None:
    with transaction.atomic():
        ledger.append(
            actor=actor,
            action="sip2.terminal_signin",
            purpose=purpose,
            detail={
                "terminal": login if _LOGIN.match(login) else "not-a-login",
                "ok": ok,
                "reason": reason,
            },
        )


def authenticate_terminal(
    login: str,
    password: str,
    *,
    transport: Transport,
    actor: Actor | None = None,
    purpose: str = SIGN_IN_PURPOSE,
) -> Terminal:
    """The terminal if it may sign in now, over this transport; `TerminalRefused` if not.

    Refused when throttled, for a wrong login or password (counted by the
    throttle), for a disabled terminal, for a peer outside its allowlist,
    and when the link is neither TLS nor loopback and the terminal is not
    allowed plaintext (its password and patrons' PINs would travel in clear).
    """
    login = str(login or "")[:64]
    actor = actor or terminal_actor(login if _LOGIN.match(login) else "unknown")
    account = _throttle_account(login)
    source = transport.peer_host
    verdict = throttle.check(account, source)
    if not verdict.allowed:
        _signin_entry(login, ok=False, reason="throttled", actor=actor, purpose=purpose)
        raise TerminalRefused(
            "throttled",
            _("Too many failed sign-ins; wait %(n)d seconds.") % {"n": verdict.retry_after},
            retry_after=verdict.retry_after,
        )
    terminal = Terminal.objects.select_related("branch").filter(login=login).first()
    if not isinstance(password, str) or len(password) > PASSWORD_MAX * 4:
        password = ""
    if terminal is None:
        _dummy_check(password)
        ok = False
    else:
        ok = check_password(password, terminal.password_hash)
    if not ok:
        throttle.failure(
            account,
            source,
            channel="sip2",
            subject=f"terminal:{terminal.pk}" if terminal else None,
        )
        _signin_entry(login, ok=False, reason="credentials", actor=actor, purpose=purpose)
        raise TerminalRefused("credentials", _("The terminal login or password is wrong."))
    throttle.success(account)
    reason = ""
    if not terminal.enabled:
        reason = "disabled"
    elif not peer_allowed(terminal, transport.peer_host):
        reason = "address"
    elif not transport.tls and not transport.loopback and not terminal.allow_plaintext:
        reason = "plaintext"
    if reason:
        _signin_entry(login, ok=False, reason=reason, actor=actor, purpose=purpose)
        raise TerminalRefused(
            reason,
            {
                "disabled": _("This terminal is disabled."),
                "address": _("This terminal may not connect from this address."),
                "plaintext": _("This terminal must connect over TLS."),
            }[reason],
        )
    _signin_entry(login, ok=True, reason="", actor=actor, purpose=purpose)
    return terminal


def still_allowed(terminal: Terminal) -> Terminal | None:
    """The terminal read afresh if it is still enabled, else None (disabled since sign-in)."""
    return Terminal.objects.select_related("branch").filter(pk=terminal.pk, enabled=True).first()
