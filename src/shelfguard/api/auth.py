"""Bearer authentication for the staff endpoints of the JSON API.

`StaffToken` hands the `Authorization: Bearer ...` value to
`services.authenticate`; the result (staff member and token) becomes
`request.auth`. Refusals become answers in `api.py`'s exception handlers:
401 with `WWW-Authenticate` and one generic message for anything wrong with
the token, 429 with `Retry-After` while throttled, 403 with the reason for a
missing scope or permission. No cookie is read or set.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from shelfguard.api import services

REALM = "shelfguard"


def source_of(request: HttpRequest) -> str:
    # The direct peer. Behind a proxy the deployment must set REMOTE_ADDR from
    # the trusted proxy's header; a client-supplied header is never believed.
    return request.META.get("REMOTE_ADDR", "")


class StaffToken(HttpBearer):
    """A staff API token (`sgt_...`), checked on every request."""

    def authenticate(self, request: HttpRequest, token: str) -> services.Authenticated | None:
        if not token.strip():
            return None  # "Bearer" with nothing after it: no credentials at all
        return services.authenticate(token, source=source_of(request))


def authenticated(request: HttpRequest) -> services.Authenticated:
    auth = getattr(request, "auth", None)
    if not isinstance(auth, services.Authenticated):  # pragma: no cover - ninja guarantees it
        raise services.TokenRefused()
    return auth
