from tests.opac.catalogue import Copy, add_record

EVIL = '<script>alert("x")</script>'


def test_record_page_escapes_marc_text(client, db):
    add_record(
        "r1",
        f"Cats {EVIL}",
        Copy(call_number=EVIL, location=EVIL),
        vernacular_title=EVIL,
        responsibility=EVIL,
        authors=[EVIL],
        subjects=[f"Cats -- {EVIL}"],
        publisher=EVIL,
        edition=EVIL,
        physical_description=EVIL,
        notes=f"First note {EVIL}\nSecond note",
    )
    html = client.get("/records/r1/").content.decode()
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "First note" in html and "<br>Second note" in html


def test_results_page_escapes_titles_authors_and_query(client, db):
    add_record("r1", f"Cats {EVIL}", authors=[EVIL])
    html = client.get("/search/", {"q": f"cats {EVIL}"}).content.decode()
    assert "<script" not in html
    html = client.get("/search/", {"q": "cats"}).content.decode()
    assert "<script" not in html
    assert "Cats &lt;script&gt;" in html
