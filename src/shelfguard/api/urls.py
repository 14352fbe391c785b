from shelfguard.api.api import api

# The project's urls.py includes this module without a namespace, so the
# module's app_name must be the namespace ninja reverses its own URLs in.
urlpatterns = api.urls[0]
app_name = api.urls_namespace
