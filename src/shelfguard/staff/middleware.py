"""`Cache-Control: no-store` on every staff page, including redirects and errors.

Staff pages show personal data; a shared desk computer's browser cache or
back button must not bring them back after sign-out.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._prefix = None

    def __call__(self, request):
        response = self.get_response(request)
        if self._prefix is None:
            self._prefix = reverse("staff:home")
        if request.path.startswith(self._prefix):
            add_never_cache_headers(response)
        return response
