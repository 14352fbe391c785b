"""Staff passkey pages (see staff/urls.py)."""

urlpatterns: list = []
