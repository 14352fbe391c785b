import pytest

from tests.opac.catalogue import Copy, add_record


@pytest.mark.parametrize("path", ["/", "/search/?q=river", "/records/r1/", "/records/none/"])
def test_public_pages_set_no_cookie(client, db, path):
    add_record("r1", "The river", Copy())
    response = client.get(path)
    assert response.status_code in (200, 404)
    assert "Set-Cookie" not in response.headers
    assert not response.cookies


def test_search_form_carries_no_csrf_token(client, db):
    add_record("r1", "The river", Copy())
    html = client.get("/search/?q=river").content.decode()
    assert "csrfmiddlewaretoken" not in html
    assert 'method="get"' in html
