"""The WebAuthn ceremonies themselves, shared by staff passkeys and patron passkeys.

Nothing here knows who the user is or where a challenge is kept: callers
(`accounts.passkeys` for staff, `portal.passkeys` for patrons) own their
rows, their challenge storage, their throttle and their ledger entries.
This module builds the options the browser needs, checks the browser's
answers with the `webauthn` package, and says whether an authenticator's
signature counter shows a clone.

The relying party is the site the request came to: its id is the host
without the port, its origin `scheme://host[:port]` (Django's `get_host`
has already checked the host against `ALLOWED_HOSTS`). User verification is
"preferred" everywhere: the password has already been checked and the
passkey is the second factor.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

CHALLENGE_TTL = dt.timedelta(minutes=2)
TIMEOUT_MS = 60_000
NAME_MAX = 64
# A credential JSON larger than this is refused before it is parsed.
MAX_RESPONSE_CHARS = 32_000

#: Everything a malformed, forged or mismatched answer may raise while it is checked.
ANSWER_ERRORS = (WebAuthnException, ValueError, TypeError, KeyError)


@dataclass(frozen=True)
class RelyingParty:
    """Who the browser is talking to: `id` is the host, `origin` scheme://host[:port]."""

    id: str
    origin: str
    name: str = "Shelfguard"

    @classmethod
    def for_request(cls, request: Any, name: str = "") -> RelyingParty:
        from django.conf import settings
        from django.http.request import split_domain_port

        host = request.get_host()  # checked against ALLOWED_HOSTS by Django
        domain, _port = split_domain_port(host)
        domain = domain.strip("[]")
        return cls(
            id=domain,
            origin=f"{request.scheme}://{host}",
            name=name or str(getattr(settings, "LIBRARY_NAME", "Shelfguard")),
        )


@dataclass(frozen=True)
class Registered:
    """A checked new credential, ready to be stored (credential id in base64url)."""

    credential_id: str
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: list[str]
    backed_up: bool
    user_verified: bool


@dataclass(frozen=True)
class Asserted:
    """A checked assertion: the authenticator's new counter and whether it looks cloned."""

    sign_count: int
    backed_up: bool
    clone: bool


def new_challenge() -> bytes:
    return secrets.token_bytes(32)


def encode(data: bytes) -> str:
    return bytes_to_base64url(data)


def decode(text: str) -> bytes:
    return base64url_to_bytes(text)


def parse_json(text: Any) -> dict:
    """The browser's answer as a JSON object; ValueError/TypeError if it is not one."""
    if not isinstance(text, str) or not text or len(text) > MAX_RESPONSE_CHARS:
        raise ValueError("no credential")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise TypeError("not an object")
    return data


def clean_name(name: Any, default: str) -> str:
    text = " ".join(str(name or "").split())[:NAME_MAX]
    return text or default


def descriptors(credential_ids) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in credential_ids]


def registration_options(
    *,
    rp: RelyingParty,
    challenge: bytes,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    exclude: list[str],
) -> str:
    """Options (JSON for `navigator.credentials.create`); `exclude` holds credential ids."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=descriptors(exclude),
    )
    return options_to_json(options)


def authentication_options(*, rp: RelyingParty, challenge: bytes, allow: list[str]) -> str:
    """Options (JSON for `navigator.credentials.get`) naming the allowed credential ids."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=descriptors(allow),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options)


def verify_registration(response: Any, *, challenge: bytes, rp: RelyingParty) -> Registered | None:
    """The new credential if the answer is genuine for this challenge and site, else None."""
    try:
        credential = parse_registration_credential_json(parse_json(response))
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=False,
        )
    except ANSWER_ERRORS:
        return None
    transports: list[str] = []
    try:
        transports = [str(t.value) for t in (credential.response.transports or [])][:8]
    except AttributeError:
        pass
    return Registered(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=bytes(verified.credential_public_key),
        sign_count=verified.sign_count,
        aaguid=str(verified.aaguid)[:36],
        transports=transports,
        backed_up=bool(verified.credential_backed_up),
        user_verified=bool(verified.user_verified),
    )


def parse_assertion(response: Any) -> tuple[AuthenticationCredential, str]:
    """The parsed answer and its credential id (base64url); raises one of `ANSWER_ERRORS`."""
    credential = parse_authentication_credential_json(parse_json(response))
    return credential, bytes_to_base64url(credential.raw_id)


def is_clone(new: int, old: int) -> bool:
    """A counter that did not grow (when either is in use) means a copied authenticator."""
    return bool(new or old) and new <= old


def verify_assertion(
    credential: AuthenticationCredential,
    *,
    challenge: bytes,
    rp: RelyingParty,
    public_key: bytes,
    sign_count: int,
) -> Asserted:
    """Check the signature, then the counter; raises one of `ANSWER_ERRORS` if not genuine.

    The counter is compared only after the signature is known to be genuine:
    only then is a stale counter evidence of a clone rather than noise.
    """
    verified = verify_authentication_response(
        credential=credential,
        expected_challenge=challenge,
        expected_rp_id=rp.id,
        expected_origin=rp.origin,
        credential_public_key=bytes(public_key),
        credential_current_sign_count=0,
        require_user_verification=False,
    )
    new = verified.new_sign_count
    return Asserted(
        sign_count=new,
        backed_up=bool(verified.credential_backed_up),
        clone=is_clone(new, sign_count),
    )
