from django.urls import path

from shelfguard.portal import account_views

# Names are in the "portal" namespace (included from portal/urls.py). No URL
# names a loan, a hold or a history entry: they travel in POST bodies and
# every door checks they are the signed-in patron's.
urlpatterns: list = [
    path("loans/renew/", account_views.renew_view, name="renew"),
    path("holds/cancel/", account_views.cancel_hold_view, name="cancel_hold"),
    path("holds/pickup/", account_views.change_pickup_view, name="change_pickup"),
    path("holds/place/<int:record_id>/", account_views.place_hold_view, name="place_hold"),
    path("my-data/", account_views.my_data_view, name="my_data"),
    path("who-looked/", account_views.who_looked_view, name="who_looked"),
    path("consent/", account_views.consent_view, name="consent"),
    path("history/", account_views.history_view, name="history"),
]
