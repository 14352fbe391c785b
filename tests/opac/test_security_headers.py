import pytest

from tests.opac.catalogue import add_record


@pytest.mark.parametrize("path", ["/", "/search/?q=river", "/records/r1/", "/records/none/"])
def test_security_headers_on_every_page(client, db, path):
    add_record("r1", "The river")
    response = client.get(path)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    sources = policy.replace(";", " ").split()
    assert not [s for s in sources if "://" in s or s in ("*", "http:", "https:")]


@pytest.mark.parametrize("path", ["/", "/search/?q=river", "/records/r1/"])
def test_pages_load_nothing_from_other_hosts(client, db, path):
    add_record("r1", "The river")
    html = client.get(path).content.decode()
    assert "http://" not in html and "https://" not in html and 'src="//' not in html
    assert "<script" not in html and "style=" not in html


def test_catalogue_pages_may_be_cached_publicly(client, db):
    add_record("r1", "The river")
    assert "public" in client.get("/search/?q=river")["Cache-Control"]
    assert "public" in client.get("/records/r1/")["Cache-Control"]
