from django.conf import settings

from shelfguard.catalog.search import SearchError
from shelfguard.opac import views


def test_over_long_query_gets_a_message_not_an_error(client, db):
    response = client.get("/search/", {"q": "word " * settings.SEARCH_MAX_QUERY_LENGTH})
    assert response.status_code == 400
    html = response.content.decode()
    assert "We could not run this search" in html
    assert f"at most {settings.SEARCH_MAX_QUERY_LENGTH} characters" in html
    assert 'aria-invalid="true"' in html


def test_refused_search_shows_the_reason(client, db, monkeypatch):
    def refuse(request, *, actor):
        raise SearchError("Use fewer words.")

    monkeypatch.setattr(views, "search_catalogue", refuse)
    response = client.get("/search/", {"q": "cats"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Use fewer words." in html
    assert 'aria-invalid="true"' in html


def test_bad_filters_are_explained(client, db):
    response = client.get("/search/", {"q": "cats", "language": "english", "page": "0"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Language: A language is given as a three-letter code" in html
    assert "Page: Ensure this value is greater than or equal to 1." in html
    assert "aria-invalid" not in html


def test_empty_year_range_is_explained(client, db):
    response = client.get("/search/", {"q": "cats", "year_from": "2000", "year_to": "1990"})
    assert response.status_code == 400
    assert "the first year must not be after the last" in response.content.decode()


def test_empty_query_asks_for_words(client, db):
    response = client.get("/search/", {"q": "  "})
    assert response.status_code == 200
    assert "Type one or more words to search for" in response.content.decode()
