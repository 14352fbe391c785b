from tests.opac.catalogue import add_gardens, links


def test_results_offer_facets_with_names_and_counts(client, db):
    add_gardens()
    html = client.get("/search/", {"q": "gardens"}).content.decode()
    assert "3 records found." in html
    facets = html[html.index('id="refine-heading"') :]
    for heading in ["Language", "Decade", "Available at", "Item type"]:
        assert f"<h3>{heading}</h3>" in facets
    found = dict(links(facets))
    assert found["English"] == "/search/?q=gardens&language=eng"
    assert found["French"] == "/search/?q=gardens&language=fre"
    assert found["1990s"] == "/search/?q=gardens&year_from=1990&year_to=1999"
    assert found["Main Library"] == "/search/?q=gardens&branch=MAIN"
    assert found["DVD"] == "/search/?q=gardens&item_type=dvd"


def test_following_a_facet_filters_and_can_be_undone(client, db):
    add_gardens()
    html = client.get("/search/?q=gardens&language=eng").content.decode()
    assert "2 records found." in html
    assert "Jardins" not in html
    assert "<strong>English</strong>" in html
    remove = dict(links(html[html.index('id="active-heading"') :]))[
        "Remove filter: Language: English ×"
    ]
    assert remove == "/search/?q=gardens"


def test_facets_add_to_the_filters_in_use(client, db):
    add_gardens()
    html = client.get("/search/?q=gardens&language=eng").content.decode()
    decade = dict(links(html))["1990s"]
    assert decade == "/search/?q=gardens&language=eng&year_from=1990&year_to=1999"
    html = client.get(
        "/search/", {"q": "gardens", "language": "eng", "year_from": 1990, "year_to": 1999}
    ).content.decode()
    active = dict(
        links(html[html.index('id="active-heading"') : html.index('class="results-layout"')])
    )
    assert active == {
        "Remove filter: Language: English ×": "/search/?q=gardens&year_from=1990&year_to=1999",
        "Remove filter: Published in the 1990s ×": "/search/?q=gardens&language=eng",
    }


def test_branch_facet_counts_only_available_copies(client, db):
    add_gardens()
    html = client.get("/search/?q=gardens&branch=EAST").content.decode()
    assert "Jardins: gardens of France" in html
    assert "Gardens in winter" not in html
