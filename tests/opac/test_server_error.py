from django.test import RequestFactory
from django.views.defaults import server_error


def test_server_error_page_needs_no_context_or_database():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "<h1>Something went wrong</h1>" in html
    assert '<main id="main"' in html
