"""Staff API tokens: issue, list, revoke, and check them on every request.

The secret is shown once, by `create_token`; only a keyed hash of the whole
token is stored. `authenticate` is throttled per token prefix and per source
like a password sign-in (`accounts.throttle`), answers every refusal with the
same message whatever went wrong, and writes each refusal to the access
ledger without the presented token. A token never grants more than its
staff member holds right now: `authorise` checks the token's scopes and then
`accounts.services.has_permission`, so a disabled account, a removed role or
an expired privacy certification takes effect at the very next request.

API messages are in English (clients are programs, and scripts match on the
error codes); nothing here is marked for translation.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from shelfguard.accounts import throttle
from shelfguard.accounts.models import StaffUser
from shelfguard.accounts.services import (
    AccessDenied,
    Decision,
    has_permission,
    permissions_of,
    require,
    staff_actor,
)
from shelfguard.accounts.tokens import keyed_hash
from shelfguard.api.models import ApiToken
from shelfguard.catalog.models import Item
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger

HASH_PURPOSE = "api-token"
DEFAULT_LIFETIME = dt.timedelta(days=90)
MAX_LIFETIME = dt.timedelta(days=365)
MIN_LIFETIME = dt.timedelta(days=1)
NAME_MAX = 100

PREFIX_BYTES = 6  # 12 hex characters: the public id
SECRET_BYTES = 32  # 43 URL-safe characters, 256 bits
TOKEN_RE = re.compile(r"sgt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
# Bound the work done on whatever arrives in a header.
PRESENTED_MAX = 200

GENERIC_REFUSAL = "Authentication failed: the token is wrong, expired or revoked."


@dataclass(frozen=True)
class Scope:
    code: str
    description: str
    # The staff member must hold at least one of these (checked on every request).
    permissions: tuple[str, ...]


SCOPES: dict[str, Scope] = {
    s.code: s
    for s in (
        Scope(
            "items",
            "Look up items by barcode: record, branch, status, type and call number "
            "(never who borrowed them).",
            ("catalog.change", "circulation.loan"),
        ),
        Scope(
            "circulation",
            "Check out, check in and renew items and place holds for patrons; "
            "includes item look-up.",
            ("circulation.loan",),
        ),
    )
}


class TokenError(ValueError):
    """A token request that cannot be carried out; the message says why."""


class TokenRefused(Exception):
    """Authentication refused. The message never says which part was wrong."""

    def __init__(self, retry_after: int = 0, *, throttled: bool = False):
        message = GENERIC_REFUSAL
        if retry_after:
            message += f" Too many failed attempts: wait {retry_after} seconds."
        super().__init__(message)
        self.retry_after = retry_after
        # True when refused without looking at the token (still waiting out a delay).
        self.throttled = throttled


class ScopeMissing(PermissionError):
    """The token is valid but its scopes do not include what this request needs."""

    def __init__(self, needed: Iterable[str]):
        self.needed = tuple(needed)
        super().__init__(
            "This token's scopes do not allow this request; it needs one of: "
            + ", ".join(self.needed)
            + "."
        )


@dataclass(frozen=True)
class Authenticated:
    """What `authenticate` gives a request: who, through which token."""

    staff: StaffUser
    token: ApiToken

    @property
    def actor(self) -> Actor:
        return staff_actor(self.staff, channel="api")


@dataclass(frozen=True)
class Access:
    """What an endpoint demands: any one of `scopes`, then any one of `permissions`."""

    scopes: tuple[str, ...]
    permissions: tuple[str, ...]


# --- issuing, listing, revoking ------------------------------------------------


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scope codes as a sorted list without repeats; refuses unknown ones."""
    if isinstance(scopes, str):
        raise TokenError("Scopes must be a list of codes, not a single string.")
    clean = sorted(set(scopes))
    if not clean:
        raise TokenError(f"Give at least one scope (known: {', '.join(SCOPES)}).")
    unknown = [s for s in clean if s not in SCOPES]
    if unknown:
        raise TokenError(f"Unknown scope {', '.join(unknown)} (known: {', '.join(SCOPES)}).")
    return clean


def _clean_name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if len(name) > NAME_MAX or any(not ch.isprintable() for ch in name):
        raise TokenError(f"A token's name is at most {NAME_MAX} printable characters.")
    return name


def _authorise_for(by: StaffUser | None, staff: StaffUser, *, purpose: str) -> None:
    """Anyone may manage their own tokens; someone else's need `token.manage`.

    The command-line operator (by=None) is trusted, as in `accounts.services`.
    """
    if by is not None and by.pk != staff.pk:
        require(by, "token.manage", purpose=purpose)


def _hash(token_text: str) -> str:
    return keyed_hash(HASH_PURPOSE, token_text)


def create_token(
    staff: StaffUser,
    scopes: Iterable[str],
    *,
    expires: dt.timedelta | None = None,
    name: str = "",
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "API token administration",
) -> tuple[ApiToken, str]:
    """Issue a token for `staff`; returns it and its secret text, which is never shown again.

    `expires` is the lifetime (default 90 days, from 1 day to 1 year). Each
    scope must be usable by the staff member's roles: a token that could never
    work is refused now rather than discovered later.
    """
    codes = check_scopes(scopes)
    name = _clean_name(name)
    lifetime = DEFAULT_LIFETIME if expires is None else expires
    if not MIN_LIFETIME <= lifetime <= MAX_LIFETIME:
        raise TokenError("A token lasts from 1 day to 365 days.")
    _authorise_for(by, staff, purpose=purpose)
    if not staff.is_active:
        raise TokenError(f"{staff.username} is disabled; a token for them would not work.")
    in_roles = set(permissions_of(staff))
    useless = [c for c in codes if not in_roles.intersection(SCOPES[c].permissions)]
    if useless:
        needs = "; ".join(f"{c} needs {' or '.join(SCOPES[c].permissions)}" for c in useless)
        raise TokenError(
            f"{staff.username}'s roles do not allow scope {', '.join(useless)} ({needs})."
        )
    now = clock.now()
    with transaction.atomic():
        for _attempt in range(5):
            prefix = secrets.token_hex(PREFIX_BYTES)
            if not ApiToken.objects.filter(prefix=prefix).exists():
                break
        else:  # pragma: no cover - 48 random bits colliding five times running
            raise TokenError("Could not choose a fresh token id; try again.")
        text = f"sgt_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
        token = ApiToken.objects.create(
            staff=staff,
            prefix=prefix,
            secret_hash=_hash(text),
            name=name,
            scopes=codes,
            created_at=now,
            created_by=by,
            expires_at=now + lifetime,
        )
        ledger.append(
            actor=actor,
            action="api.token_create",
            purpose=purpose,
            detail={
                "token": token.pk,
                "prefix": prefix,
                "staff": staff.pk,
                "scopes": codes,
                "days": lifetime.days,
            },
        )
    return token, text


def get_token(ident: str | int) -> ApiToken:
    """A token by its number or its prefix (with or without `sgt_`)."""
    text = str(ident).strip()
    query = ApiToken.objects.select_related("staff")
    if text.isdigit():
        found = query.filter(pk=int(text)).first()
    else:
        found = query.filter(prefix=text.removeprefix("sgt_").split("_", 1)[0].lower()).first()
    if found is None:
        raise TokenError(f"No API token {text!r}; see `shelfguard token list`.")
    return found


def list_tokens(
    staff: StaffUser | None = None,
    *,
    by: StaffUser | None = None,
    include_inactive: bool = True,
) -> list[ApiToken]:
    """Tokens (never their secrets), newest first; all staff's when `staff` is None."""
    if staff is None:
        if by is not None:
            require(by, "token.manage", purpose="API token administration")
        query = ApiToken.objects.all()
    else:
        _authorise_for(by, staff, purpose="API token administration")
        query = ApiToken.objects.filter(staff=staff)
    tokens = list(query.select_related("staff"))
    if not include_inactive:
        tokens = [t for t in tokens if state_of(t) == "active"]
    return tokens


def state_of(token: ApiToken) -> str:
    """active, expired or revoked (as of the one clock)."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= clock.now():
        return "expired"
    return "active"


def revoke_token(
    token: ApiToken,
    *,
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "API token administration",
) -> ApiToken:
    """Stop a token working at once. Revoking twice is refused (nothing changes)."""
    _authorise_for(by, token.staff, purpose=purpose)
    with transaction.atomic():
        fresh = ApiToken.objects.select_for_update().get(pk=token.pk)
        if fresh.revoked_at is not None:
            raise TokenError(f"Token sgt_{fresh.prefix} was already revoked.")
        fresh.revoked_at = clock.now()
        fresh.save(update_fields=["revoked_at"])
        ledger.append(
            actor=actor,
            action="api.token_revoke",
            purpose=purpose,
            detail={"token": fresh.pk, "prefix": fresh.prefix, "staff": fresh.staff_id},
        )
    return fresh


# --- checking requests ------------------------------------------------------------

# Compared against when no token has the presented prefix, so an unknown
# prefix costs the same work as a wrong secret.
_NO_TOKEN_HASH = "0" * 64


def _throttle_key(prefix: str) -> str:
    # ":" never occurs in a staff username, so these keys cannot meet theirs.
    return f"api-token:{prefix or 'malformed'}"


def authenticate(presented: str, *, source: str) -> Authenticated:
    """The staff member and token for a presented bearer token, or `TokenRefused`.

    `presented` is the token, or the whole `Authorization` header value.
    `source` is the client's address (throttling only; never stored in the
    throttle table).
    """
    text = str(presented or "").strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    # Anything longer is no token; the bound keeps the work small for any input.
    match = TOKEN_RE.fullmatch(text) if len(text) <= PRESENTED_MAX else None
    prefix = match.group(1) if match else ""
    key = _throttle_key(prefix)
    verdict = throttle.check(key, source)
    if not verdict.allowed:
        raise TokenRefused(verdict.retry_after, throttled=True)
    token = None
    if match:
        token = ApiToken.objects.select_related("staff").filter(prefix=prefix).first()
    digest = _hash(text if match else "")
    right = hmac.compare_digest(digest, token.secret_hash if token else _NO_TOKEN_HASH)
    now = clock.now()
    if match is None:
        reason = "malformed"
    elif token is None:
        reason = "unknown"
    elif not right:
        reason = "wrong_secret"
    elif token.revoked_at is not None:
        reason = "revoked"
    elif token.expires_at <= now:
        reason = "expired"
    elif not token.staff.is_active:
        reason = "staff_disabled"
    else:
        reason = ""
    if reason:
        _refuse(key, source, token, reason)
    throttle.success(key)
    today = clock.today()
    if token.last_used_on != today:
        # One write a day per token at most.
        ApiToken.objects.filter(pk=token.pk).update(last_used_on=today)
        token.last_used_on = today
    return Authenticated(staff=token.staff, token=token)


def _refuse(key: str, source: str, token: ApiToken | None, reason: str) -> None:
    """Record a failed attempt (never the presented text) and raise `TokenRefused`."""
    with transaction.atomic():
        ledger.append(
            actor=Actor.public("api"),
            action="api.token_refused",
            purpose="security: failed API authentication",
            origin=source,
            detail={
                "reason": reason,
                "token": token.pk if token else None,
                "staff": token.staff_id if token else None,
            },
        )
    # Counted outside the entry's transaction, as in `accounts.signin`.
    verdict = throttle.failure(
        key, source, channel="api", subject=f"staff:{token.staff_id}" if token else None
    )
    raise TokenRefused(verdict.retry_after)


def check_scope(auth: Authenticated, access: Access) -> None:
    """`ScopeMissing` unless the token carries one of the scopes `access` accepts."""
    if not set(auth.token.scopes).intersection(access.scopes):
        raise ScopeMissing(access.scopes)


def authorise(
    auth: Authenticated,
    access: Access,
    *,
    branch: int | None = None,
    purpose: str,
) -> Decision:
    """May this token, for this staff member, do this now? `ScopeMissing` or `AccessDenied`.

    The scope is checked first (a narrowing the token carries), then the staff
    member's own permissions through `has_permission`, on every request.
    """
    check_scope(auth, access)
    refusals = []
    for code in access.permissions:
        decision = has_permission(auth.staff, code, branch=branch, purpose=purpose, channel="api")
        if decision:
            return decision
        refusals.append((code, decision))
    # Give the reason that helps: one about a permission the staff member's
    # roles do hold (an expired certification, another branch), if any.
    held = {c for role in auth.staff.roles.all() for c in role.permissions}
    refusal = next((d for c, d in refusals if c in held), refusals[0][1])
    raise AccessDenied(refusal)


# --- item look-up --------------------------------------------------------------

BARCODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def find_item(barcode: str) -> Item | None:
    """The item with this barcode, with its record, branch and type; no loan data."""
    if not BARCODE_RE.fullmatch(barcode or ""):
        return None
    return (
        Item.objects.select_related("record", "branch", "item_type").filter(barcode=barcode).first()
    )
