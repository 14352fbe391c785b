from tests.opac.catalogue import add_gardens


def test_search_returns_hits_total_and_facets(client, db):
    add_gardens()
    response = client.get("/api/v1/search", {"q": "gardens"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    hit = next(h for h in body["hits"] if h["control_number"] == "g1")
    assert hit["title"] == "Gardens of England"
    assert hit["authors"] == ["Hobhouse, Penelope"]
    assert (hit["year"], hit["isbn"], hit["language"]) == (1994, "9780316534505", "eng")
    assert isinstance(hit["score"], float)
    languages = {f["value"]: f["count"] for f in body["facets"]["language"]}
    assert languages == {"eng": 2, "fre": 1}
    assert set(body["facets"]) == {"language", "year", "branch", "item_type"}


def test_search_filters(client, db):
    add_gardens()

    def found(**params):
        body = client.get("/api/v1/search", {"q": "gardens", **params}).json()
        return sorted(h["control_number"] for h in body["hits"])

    assert found(language="fre") == ["g2"]
    assert found(language="FRE") == ["g2"]
    assert found(year_from=1990, year_to=1999) == ["g1", "g3"]
    assert found(branch="EAST") == ["g2"]
    assert found(item_type="book") == ["g1", "g3"]


def test_search_pages_with_limit_and_offset(client, db):
    add_gardens()
    first = client.get("/api/v1/search", {"q": "gardens", "limit": 2}).json()
    rest = client.get("/api/v1/search", {"q": "gardens", "limit": 2, "offset": 2}).json()
    assert (first["total"], len(first["hits"]), len(rest["hits"])) == (3, 2, 1)
    seen = {h["control_number"] for h in first["hits"] + rest["hits"]}
    assert seen == {"g1", "g2", "g3"}


def test_search_sets_no_cookie(client, db):
    add_gardens()
    response = client.get("/api/v1/search", {"q": "gardens"})
    assert "Set-Cookie" not in response.headers
    assert response["Content-Type"] == "application/json; charset=utf-8"
