"""`Cache-Control: no-store` on every response under /account/, errors included.

Every portal view already sends it (`access.no_store`); this middleware also
covers what no portal view answers (a 404 under /account/, an error page), as
the staff desk's `NoStoreMiddleware` does for /staff/.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.cache import add_never_cache_headers


class PortalNoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._prefix = None

    def __call__(self, request):
        response = self.get_response(request)
        if self._prefix is None:
            self._prefix = reverse("portal:home")
        if request.path.startswith(self._prefix):
            add_never_cache_headers(response)
        return response
