"""Staff desk pages (see staff/urls.py)."""

urlpatterns: list = []
