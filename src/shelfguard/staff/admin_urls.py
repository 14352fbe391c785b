"""Staff admin pages (see staff/urls.py)."""

urlpatterns: list = []
