def test_unknown_record_is_a_friendly_404(client, db):
    response = client.get("/records/no-such-record/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Not found</h1>" in html
    assert '<label for="q">Search the catalogue</label>' in html


def test_control_number_with_a_nul_is_not_found(client, db):
    assert client.get("/records/a%00b/").status_code == 404


def test_unknown_address_uses_the_same_page(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.content.decode()
