from tests.opac.catalogue import add_record


def test_each_hit_links_to_its_record(client, db):
    add_record(
        "ocm77",
        "Cha jing",
        vernacular_title="茶經",
        authors=["Lu, Yu, 733-804"],
        year=1974,
        language="chi",
    )
    response = client.get("/search/", {"q": "cha jing"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1>Results for “cha jing”</h1>' in html
    assert "1 record found." in html
    assert '<h3><a href="/records/ocm77/">Cha jing</a></h3>' in html
    assert '<p class="hit-vernacular" lang="zh" dir="auto">茶經</p>' in html
    assert "<span>Lu, Yu, 733-804</span>" in html
    assert "<span>1974</span>" in html
    assert "<span>Chinese</span>" in html


def test_no_match_says_what_to_try(client, db):
    add_record("r1", "Tea")
    html = client.get("/search/", {"q": "coffee"}).content.decode()
    assert "0 records found." in html
    assert "No records match" in html
    assert "Check the spelling of each word." in html
