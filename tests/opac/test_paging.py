from django.conf import settings

from tests.opac.catalogue import add_record, links

PAGE = settings.SEARCH_PAGE_SIZE


def pager(html: str) -> list[tuple[str, str]]:
    return links(html[html.index('<nav class="pager"') : html.index("</nav>")])


def add_maps(count: int) -> None:
    for n in range(count):
        add_record(f"m{n}", f"Maps volume {n}", language="eng")


def test_first_page_links_to_the_next_and_to_each_page(client, db):
    add_maps(PAGE * 2 + 1)
    html = client.get("/search/", {"q": "maps"}).content.decode()
    assert f"Showing 1–{PAGE} of {PAGE * 2 + 1}" in html
    assert html.count('class="hit"') == PAGE
    assert pager(html) == [
        ("Page 1", "/search/?q=maps"),
        ("Page 2", "/search/?q=maps&page=2"),
        ("Page 3", "/search/?q=maps&page=3"),
        ("Next page", "/search/?q=maps&page=2"),
    ]
    assert 'aria-current="page"><span class="visually-hidden">Page </span>1<' in html


def test_last_page_links_back(client, db):
    add_maps(PAGE + 3)
    html = client.get("/search/", {"q": "maps", "page": 2}).content.decode()
    assert f"Showing {PAGE + 1}–{PAGE + 3} of {PAGE + 3}" in html
    assert f'<ol class="hit-list" start="{PAGE + 1}">' in html
    assert pager(html) == [
        ("Previous page", "/search/?q=maps"),
        ("Page 1", "/search/?q=maps"),
        ("Page 2", "/search/?q=maps&page=2"),
    ]


def test_paging_keeps_the_filters(client, db):
    add_maps(PAGE + 1)
    html = client.get("/search/", {"q": "maps", "language": "eng"}).content.decode()
    assert ("Next page", "/search/?q=maps&language=eng&page=2") in pager(html)


def test_page_past_the_end_points_back(client, db):
    add_maps(2)
    html = client.get("/search/", {"q": "maps", "page": 9}).content.decode()
    assert "This page is past the end of the results." in html
    assert '<a href="/search/?q=maps">Go to the last page</a>' in html


def test_single_page_has_no_pager(client, db):
    add_maps(2)
    assert '<nav class="pager"' not in client.get("/search/", {"q": "maps"}).content.decode()
