import pytest

from shelfguard.catalog.models import Item, Record
from shelfguard.catalog.search import SearchRequest
from shelfguard.catalog.services import search_catalogue
from shelfguard.core.actors import Actor
from shelfguard.patrons.models import Patron


@pytest.mark.django_db
def test_demo_sets_up_a_searchable_library_and_is_repeatable(home, run_cli):
    first = run_cli("demo", "--no-serve")
    assert first.code == 0, first.err
    assert Record.objects.count() > 3000
    assert Item.objects.values("branch__code").distinct().count() == 3
    assert Patron.objects.count() == 4
    public = Actor.public("web")
    assert search_catalogue(SearchRequest(text="中国"), actor=public).total > 0
    assert search_catalogue(SearchRequest(text="botany"), actor=public).total > 0

    again = run_cli("demo", "--no-serve")
    assert again.code == 0, again.err
    assert Patron.objects.count() == 4
    assert "3082 records imported" not in again.out
