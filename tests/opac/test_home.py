def test_home_has_a_labelled_get_search_box(client):
    html = client.get("/").content.decode()
    assert '<form class="search-box" role="search" action="/search/" method="get">' in html
    assert '<label for="q">Search the catalogue</label>' in html
    assert '<input id="q" name="q" type="search"' in html


def test_home_has_language_skip_link_and_landmarks(client):
    html = client.get("/").content.decode()
    assert '<html lang="en" dir="ltr">' in html
    assert html.index('class="skip-link" href="#main"') < html.index("<header")
    assert '<main id="main"' in html
    assert "<footer" in html
    assert html.count("<h1>") == 1


def test_home_speaks_the_browsers_language(client):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<html lang="zh-hans"' in html
