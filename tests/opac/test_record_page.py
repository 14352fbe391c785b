from shelfguard.catalog.models import ItemStatus
from tests.opac.catalogue import Copy, add_record


def add_tea_book():
    return add_record(
        "ocm123",
        "The classic of tea",
        Copy("MAIN", "book", ItemStatus.AVAILABLE, "TX415 .L8", "Adult non-fiction"),
        Copy("MAIN", "book", ItemStatus.ON_LOAN, "TX415 .L8 c.2", "Adult non-fiction"),
        Copy("EAST", "dvd", ItemStatus.ON_LOAN, "DVD TX415", "Media"),
        vernacular_title="茶經",
        responsibility="Lu Yu ; translated by Francis Ross Carpenter.",
        authors=["Lu, Yu, 733-804", "Carpenter, Francis Ross"],
        subjects=["Tea -- Early works to 1800", "Cooking (Tea)"],
        publisher="Little, Brown",
        year=1974,
        edition="1st ed.",
        physical_description="xiv, 176 p. : ill. ; 24 cm.",
        language="chi",
        isbns=["9780316534505"],
        notes="Translation of Ch'a ching.\nIncludes index.",
    )


def test_record_page_shows_the_description(client, db):
    add_tea_book()
    response = client.get("/records/ocm123/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>The classic of tea</h1>" in html
    assert '<p class="vernacular-title" lang="zh" dir="auto">茶經</p>' in html
    for text in [
        "Lu Yu ; translated by Francis Ross Carpenter.",
        "Little, Brown",
        "1974",
        "1st ed.",
        "xiv, 176 p. : ill. ; 24 cm.",
        "<dd>Chinese</dd>",
        "978-0-316-53450-5",
        "Translation of Ch&#x27;a ching.<br>Includes index.",
    ]:
        assert text in html


def test_subjects_and_authors_link_to_searches(client, db):
    add_tea_book()
    html = client.get("/records/ocm123/").content.decode()
    assert (
        '<a href="/search/?q=%22Tea%20--%20Early%20works%20to%201800%22">'
        "Tea -- Early works to 1800</a>"
    ) in html
    assert '<a href="/search/?q=%22Cooking%20%28Tea%29%22">Cooking (Tea)</a>' in html
    assert '<a href="/search/?q=%22Lu%2C%20Yu%2C%20733-804%22">Lu, Yu, 733-804</a>' in html


def test_record_page_lists_holdings_per_branch(client, db):
    add_tea_book()
    html = client.get("/records/ocm123/").content.decode()
    east, main = html.index("<h3 id=\"branch-1\">East Branch</h3>"), html.index("Main Library</h3>")
    assert "1 of 2 copies available" in html[main:]
    assert "0 of 1 copy available" in html[east:main]
    for text in ["TX415 .L8 c.2", "Adult non-fiction", "DVD TX415", "Media", "Book", "DVD"]:
        assert f"<td>{text}</td>" in html
    assert '<td class="status status-available">Available</td>' in html
    assert '<td class="status status-on_loan">On loan</td>' in html


def test_record_without_copies_says_so(client, db):
    add_record("r9", "Lonely")
    html = client.get("/records/r9/").content.decode()
    assert "The library has no copies of this title." in html
