from shelfguard.catalog.models import ItemStatus
from tests.opac.catalogue import Copy, add_record


def test_record_has_its_fields_and_holdings(client, db):
    add_record(
        "ocm123",
        "The classic of tea",
        Copy("MAIN", "book", ItemStatus.AVAILABLE, "TX415 .L8", "Adult non-fiction"),
        Copy("MAIN", "book", ItemStatus.ON_LOAN, "TX415 .L8 c.2", "Adult non-fiction"),
        Copy("EAST", "dvd", ItemStatus.ON_LOAN, "DVD TX415", "Media"),
        vernacular_title="茶經",
        authors=["Lu, Yu, 733-804"],
        subjects=["Tea -- Early works to 1800"],
        year=1974,
        language="chi",
        isbns=["9780316534505"],
        notes="Includes index.",
    )
    response = client.get("/api/v1/records/ocm123")
    assert response.status_code == 200
    body = response.json()
    assert body["control_number"] == "ocm123"
    assert body["title"] == "The classic of tea"
    assert body["vernacular_title"] == "茶經"
    assert body["authors"] == ["Lu, Yu, 733-804"]
    assert body["subjects"] == ["Tea -- Early works to 1800"]
    assert (body["year"], body["language"], body["isbns"]) == (1974, "chi", ["9780316534505"])
    assert body["notes"] == "Includes index."
    assert body["holdings"] == [
        {
            "branch_code": "EAST",
            "branch_name": "East Branch",
            "available": 0,
            "items": [
                {
                    "call_number": "DVD TX415",
                    "location": "Media",
                    "item_type": "dvd",
                    "status": "on_loan",
                }
            ],
        },
        {
            "branch_code": "MAIN",
            "branch_name": "Main Library",
            "available": 1,
            "items": [
                {
                    "call_number": "TX415 .L8",
                    "location": "Adult non-fiction",
                    "item_type": "book",
                    "status": "available",
                },
                {
                    "call_number": "TX415 .L8 c.2",
                    "location": "Adult non-fiction",
                    "item_type": "book",
                    "status": "on_loan",
                },
            ],
        },
    ]
    assert "Set-Cookie" not in response.headers


def test_record_never_shows_barcodes(client, db):
    add_record("r1", "Anything", Copy())
    assert "barcode" not in client.get("/api/v1/records/r1").content.decode()


def test_unknown_record_is_a_json_404(client, db):
    response = client.get("/api/v1/records/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "detail": "There is no record with this control number.",
    }


def test_control_number_with_a_nul_is_a_404(client, db):
    assert client.get("/api/v1/records/a%00b").status_code == 404


def test_control_numbers_with_slashes_are_found(client, db):
    add_record("ocm 12/34", "Odd numbering")
    response = client.get("/api/v1/records/ocm%2012/34")
    assert response.status_code == 200
    assert response.json()["title"] == "Odd numbering"


def test_control_number_with_a_line_break_is_a_json_404(client, db):
    # Found by the Schemathesis run: no URL matched, so the site's HTML page answered.
    response = client.get("/api/v1/records/a%0Ab")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_unknown_api_address_is_a_json_404(client, db):
    for path in ("/api/v1/nothing", "/api/v1/records/", "/api/v1/items/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
        assert "Set-Cookie" not in response.headers
