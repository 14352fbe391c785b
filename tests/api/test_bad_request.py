import pytest
from django.conf import settings


def test_over_long_query_is_a_400_with_a_message(client, db):
    response = client.get("/api/v1/search", {"q": "x" * (settings.SEARCH_MAX_QUERY_LENGTH + 1)})
    assert response.status_code == 400
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "params, named",
    [
        ({}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "cats", "limit": 0}, "limit"),
        ({"q": "cats", "limit": 1000}, "limit"),
        ({"q": "cats", "offset": -1}, "offset"),
        ({"q": "cats", "language": "english"}, "language"),
        ({"q": "cats", "year_from": "last year"}, "year_from"),
        ({"q": "cats", "branch": "no such branch"}, "branch"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(client, db, params, named):
    response = client.get("/api/v1/search", params)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith(named)
    assert "Set-Cookie" not in response.headers


def test_empty_year_range_is_a_400(client, db):
    response = client.get("/api/v1/search", {"q": "cats", "year_from": 2000, "year_to": 1990})
    assert response.status_code == 400
    assert "the first year must not be after the last" in response.json()["detail"]
