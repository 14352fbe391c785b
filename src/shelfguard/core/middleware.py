"""`Cache-Control: no-store` on every staff and portal response, redirects and errors included.

Staff pages and the patron's own pages show personal data; a shared desk or
library computer's browser cache or back button must not bring them back
after sign-out. Views under these prefixes may also say so themselves; this
covers what no view answers (a 404, an error page). The public catalogue is
not covered: it shows no personal data and may be cached.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.cache import add_never_cache_headers

# The home page of each area whose every response must not be stored.
PRIVATE_AREAS = ("staff:home", "portal:home")


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._prefixes: tuple[str, ...] | None = None

    def __call__(self, request):
        response = self.get_response(request)
        if self._prefixes is None:
            self._prefixes = tuple(reverse(name) for name in PRIVATE_AREAS)
        if request.path.startswith(self._prefixes):
            add_never_cache_headers(response)
        return response
