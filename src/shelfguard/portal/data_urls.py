"""The patron's "download my data" and "close my account" pages (issue 6).

No URL names a file or a token: the one-time download token travels in the
POST body only, so it never lands in a log, a history or a Referer header.
"""

from django.urls import path

from shelfguard.portal import data_views

# Names are in the "portal" namespace (included from portal/urls.py).
urlpatterns: list = [
    path("export/", data_views.export_view, name="data_export"),
    path("export/download/", data_views.export_download, name="data_export_download"),
    path("close/", data_views.close_view, name="data_close"),
    path("close/cancel/", data_views.close_cancel, name="data_close_cancel"),
]
