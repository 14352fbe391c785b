from django.conf import settings
from django.http import HttpRequest


def library(request: HttpRequest) -> dict[str, str]:
    return {"library_name": settings.LIBRARY_NAME}
