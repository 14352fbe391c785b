from django.http import HttpRequest, JsonResponse
from django.urls import re_path

from shelfguard.api.api import api


def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other address under the API: a JSON 404, not the HTML page of the site."""
    return JsonResponse(
        {"code": "not_found", "detail": "There is no such API endpoint."}, status=404
    )


# The project's urls.py includes this module without a namespace, so the
# module's app_name must be the namespace ninja reverses its own URLs in.
urlpatterns = [*api.urls[0], re_path(r"^(?P<rest>[\s\S]*)\Z", not_found)]
app_name = api.urls_namespace
