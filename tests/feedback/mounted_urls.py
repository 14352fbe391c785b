"""The site's URLs plus the privacy-request form mounted under /account/, as the lead will.

The portal cookie's path is /account/, so a browser sends it only there: a
request can be linked to the signed-in patron only when the form is served
under that path. Until the portal's URL module mounts it, tests use this.
"""

from django.urls import path

from shelfguard.feedback import views
from shelfguard.urls import urlpatterns as site

urlpatterns = [
    path("account/privacy-request/", views.privacy_request, name="account_privacy_request"),
    *site,
]
