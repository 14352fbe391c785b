from django.urls import reverse

from tests.opac.catalogue import add_record


def test_control_numbers_with_slashes_and_spaces_have_pages(client, db):
    add_record("ocm 12/34", "Odd numbering")
    url = reverse("opac:record", args=["ocm 12/34"])
    assert url == "/records/ocm%2012/34/"
    assert "<h1>Odd numbering</h1>" in client.get(url).content.decode()
