"""Catalogue search through the backend for the database in use (SQLite or PostgreSQL)."""

import pytest

from shelfguard.catalog.models import ItemStatus, Record
from shelfguard.catalog.search import SearchError, SearchRequest, get_backend

from .factories import make_item, make_record

pytestmark = pytest.mark.django_db


def search(text, **options):
    return get_backend().search(SearchRequest(text=text, **options))


def titles(text, **options):
    return [hit.title for hit in search(text, **options).hits]


def facet(result, name):
    return {value.value: value.count for value in result.facets[name]}


def test_title_beats_notes():
    make_record("Cooking for beginners", notes="Includes a chapter on the lighthouse kitchen.")
    make_record("The lighthouse")
    assert titles("lighthouse") == ["The lighthouse", "Cooking for beginners"]


def test_title_beats_subject_and_author():
    make_record("Sea stories", authors=["Harbour, Ann"], subjects=["Harbours"])
    make_record("Harbours of the world")
    assert titles("harbours")[0] == "Harbours of the world"


def test_ties_broken_by_id():
    first = make_record("Same title")
    second = make_record("Same title")
    assert [hit.record_id for hit in search("same title").hits] == [first.id, second.id]


def test_hit_fields():
    record = make_record(
        "Moby Dick",
        vernacular_title="白鲸",
        authors=["Melville, Herman"],
        year=1851,
        isbns=["9780306406157"],
        language="eng",
    )
    (hit,) = search("moby").hits
    assert hit.record_id == record.id
    assert hit.control_number == record.control_number
    assert (hit.title, hit.vernacular_title, hit.authors) == (
        "Moby Dick",
        "白鲸",
        ["Melville, Herman"],
    )
    assert (hit.year, hit.isbn, hit.language) == (1851, "9780306406157", "eng")
    assert hit.score > 0


def test_every_word_must_match():
    make_record("War and peace")
    make_record("War games")
    assert titles("war peace") == ["War and peace"]


def test_phrase():
    make_record("War and peace")
    assert titles('"and peace"') == ["War and peace"]
    assert titles('"peace war"') == []


def test_diacritics_either_way():
    make_record("Étude in black")
    make_record("Etude in white")
    assert (
        sorted(titles("étude")) == sorted(titles("ETUDE")) == ["Etude in white", "Étude in black"]
    )


def test_authors_subjects_notes_searched():
    make_record("Alpha", authors=["Quill, Penelope"])
    make_record("Beta", subjects=["Beekeeping"])
    make_record("Gamma", publisher="Lantern Press")
    assert titles("quill") == ["Alpha"]
    assert titles("beekeeping") == ["Beta"]
    assert titles("lantern") == ["Gamma"]


def test_chinese_two_chars_in_vernacular_title():
    make_record(
        "Zhonghua renmin gongheguo shi", vernacular_title="中华人民共和国史", language="chi"
    )
    make_record("Unrelated", vernacular_title="红楼梦", language="chi")
    assert titles("共和") == ["Zhonghua renmin gongheguo shi"]


def test_chinese_single_char():
    make_record("Zhonghua shi", vernacular_title="中华史")
    make_record("Hong lou meng", vernacular_title="红楼梦")
    assert titles("华") == ["Zhonghua shi"]
    assert titles("史") == ["Zhonghua shi"]  # the last character of a run
    assert titles("梦") == ["Hong lou meng"]


def test_chinese_four_chars_is_substring():
    make_record("Zhonghua renmin gongheguo shi", vernacular_title="中华人民共和国史")
    assert titles("人民共和") == ["Zhonghua renmin gongheguo shi"]
    assert titles("人民和共") == []
    assert titles("中华人民共和国史") == ["Zhonghua renmin gongheguo shi"]


def test_chinese_not_across_punctuation():
    make_record("Two runs", vernacular_title="中华。人民")
    assert titles("华人") == []
    assert titles("中华") == ["Two runs"]


def test_japanese():
    make_record("Tokyo no rekishi", vernacular_title="東京の歴史", language="jpn")
    make_record("Konpyuta nyumon", vernacular_title="コンピュータ入門", language="jpn")
    assert titles("東京") == ["Tokyo no rekishi"]
    assert titles("の歴史") == ["Tokyo no rekishi"]
    assert titles("ピュー") == ["Konpyuta nyumon"]
    assert titles("ｺﾝﾋﾟｭｰﾀ") == ["Konpyuta nyumon"]  # half-width katakana


def test_korean():
    make_record("Han'gugŏ kyoyuk", vernacular_title="한국어 교육", language="kor")
    assert titles("한국어") == ["Han'gugŏ kyoyuk"]
    assert titles("교육") == ["Han'gugŏ kyoyuk"]
    assert titles("국") == ["Han'gugŏ kyoyuk"]


def test_isbn10_finds_isbn13_record():
    make_record("Numbers", isbns=["9780306406157"])
    assert titles("0-306-40615-2") == ["Numbers"]
    assert titles("0306406152") == ["Numbers"]
    assert titles("978-0-306-40615-7") == ["Numbers"]


def test_isbn_query_only_looks_at_isbns():
    make_record("Translation", notes="Translation of the book with ISBN 9780306406157.")
    make_record("Original", isbns=["9780306406157"])
    assert titles("9780306406157") == ["Original"]


def test_isbn_with_x():
    make_record("Check digit ten", isbns=["9780804429573"])
    assert titles("0-8044-2957-X") == ["Check digit ten"]
    assert titles("080442957x") == ["Check digit ten"]


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '""',
        "*",
        "war*",
        "(",
        ")",
        "(war",
        "NEAR(war peace)",
        "war AND",
        "AND",
        "OR",
        "NOT",
        "NOT war",
        "'",
        "war'",
        "--",
        "-war",
        ":",
        "title:war",
        "^war",
        "war OR peace",
        "a & b | !c",
        "a <-> b",
        "war:*",
        "\\",
        "%",
        "_",
        "'; DROP TABLE catalog_record; --",
        "{title}: war",
        "war + peace",
    ],
)
def test_syntax_characters_never_crash(text):
    make_record("War and peace")
    result = search(text)
    assert result.total == len(result.hits)


def test_operators_are_words():
    make_record("War and peace")
    make_record("Not a war story")
    assert titles("NOT war") == ["Not a war story"]
    assert titles("war OR peace") == []
    assert titles("war AND peace") == ["War and peace"]
    assert titles("war*") == ["War and peace", "Not a war story"]


def test_html_is_literal():
    make_record("<b>Bold</b> & <i>italic</i>")
    assert titles("<b>") == ["<b>Bold</b> & <i>italic</i>"]
    assert titles("<script>alert(1)</script>") == []


def test_empty_query_is_empty_result():
    make_record("Anything")
    for text in ["", "   ", "?!", '"" ()']:
        result = search(text)
        assert (result.hits, result.total) == ([], 0)


def test_overlong_query_refused():
    with pytest.raises(SearchError, match="limit"):
        search("word " * 60)


def test_request_checks():
    with pytest.raises(SearchError):
        SearchRequest(text="x", limit=0)
    with pytest.raises(SearchError):
        SearchRequest(text="x", offset=-1)
    with pytest.raises(SearchError, match="empty"):
        SearchRequest(text="x", year_from=2000, year_to=1990)


def test_paging():
    records = [make_record(f"Garden {n}") for n in range(5)]
    result = search("garden", limit=2, offset=2)
    assert result.total == 5
    assert [hit.record_id for hit in result.hits] == [records[2].id, records[3].id]


def test_facets_over_all_matches():
    for year, language in [(1991, "eng"), (1999, "eng"), (2005, "fre"), (None, "eng"), (1850, "")]:
        make_record("Rivers", year=year, language=language)
    make_record("Mountains", year=1995, language="ger")
    result = search("rivers", limit=1)
    assert result.total == 5 and len(result.hits) == 1
    assert result.facets["language"][0].value == "eng"
    assert facet(result, "language") == {"eng": 3, "fre": 1}
    assert facet(result, "year") == {"1990": 2, "2000": 1, "1850": 1}


def test_facets_largest_first():
    make_record("Birds", language="fre")
    make_record("Birds", language="eng")
    make_record("Birds", language="eng")
    assert [value.value for value in search("birds").facets["language"]] == ["eng", "fre"]


def test_branch_facet_counts_available_copies():
    one = make_record("Clocks")
    two = make_record("Clocks")
    make_item(one, branch="MAIN")
    make_item(one, branch="MAIN")
    make_item(one, branch="EAST", status=ItemStatus.ON_LOAN)
    make_item(two, branch="EAST")
    make_item(two, branch="WEST", status=ItemStatus.LOST)
    result = search("clocks")
    assert facet(result, "branch") == {"MAIN": 1, "EAST": 1}


def test_item_type_facet():
    one = make_record("Maps")
    two = make_record("Maps")
    make_item(one, item_type="book")
    make_item(one, item_type="book")
    make_item(two, item_type="book", status=ItemStatus.ON_LOAN)
    make_item(two, item_type="dvd")
    assert facet(search("maps"), "item_type") == {"book": 2, "dvd": 1}


def test_without_facets():
    make_record("Lamps")
    result = search("lamps", with_facets=False)
    assert (result.total, result.facets) == (1, {})


def test_language_filter():
    make_record("Bread", language="eng")
    make_record("Bread", language="fre")
    result = search("bread", language="FRE")
    assert [hit.language for hit in result.hits] == ["fre"]
    assert result.total == 1


def test_year_filter():
    for year in (1980, 1990, 2000, None):
        make_record("Cheese", year=year)
    assert [hit.year for hit in search("cheese", year_from=1985).hits] == [1990, 2000]
    assert [hit.year for hit in search("cheese", year_to=1990).hits] == [1980, 1990]
    assert [hit.year for hit in search("cheese", year_from=1990, year_to=1990).hits] == [1990]


def test_branch_filter():
    here = make_record("Kites")
    away = make_record("Kites")
    lent = make_record("Kites")
    make_item(here, branch="MAIN")
    make_item(away, branch="EAST")
    make_item(lent, branch="MAIN", status=ItemStatus.ON_LOAN)
    assert [hit.record_id for hit in search("kites", branch="main").hits] == [here.id]
    assert search("kites", branch="NOWHERE").total == 0


def test_item_type_filter():
    book = make_record("Songs")
    disc = make_record("Songs")
    make_item(book, item_type="book")
    make_item(disc, item_type="cd", status=ItemStatus.ON_LOAN)
    assert [hit.record_id for hit in search("songs", item_type="cd").hits] == [disc.id]


def test_filters_narrow_facets():
    make_record("Trains", language="eng", year=1990)
    make_record("Trains", language="ger", year=2010)
    result = search("trains", language="ger")
    assert result.total == 1
    assert facet(result, "language") == {"ger": 1}
    assert facet(result, "year") == {"2010": 1}


def test_reindex_after_change():
    record = make_record("Old title")
    Record.objects.filter(id=record.id).update(title="New title")
    get_backend().index_records([record.id])
    assert titles("new") == ["New title"]
    assert titles("old") == []


def test_index_records_batch():
    records = [make_record(f"Volume {n}", index=False) for n in range(2500)]
    get_backend().index_records([r.id for r in records])
    assert search("volume").total == 2500


def test_deleted_record_leaves_index():
    record = make_record("Ephemeral")
    record.delete()
    assert search("ephemeral").total == 0


def test_remove_records():
    record = make_record("Hidden")
    get_backend().remove_records([record.id])
    assert search("hidden").total == 0


def test_index_missing_id_removes_row():
    record = make_record("Gone")
    Record.objects.filter(id=record.id).delete()
    get_backend().index_records([record.id])
    assert search("gone").total == 0


def test_rebuild():
    make_record("Indexed")
    make_record("Not yet", index=False)
    assert get_backend().rebuild() == 2
    assert titles("yet") == ["Not yet"]
    assert titles("indexed") == ["Indexed"]


@pytest.mark.django_db(transaction=True)
def test_flush_empties_index():
    from django.core.management import call_command
    from django.db import connection

    make_record("Flushed")
    call_command("flush", interactive=False, verbosity=0)
    table = "catalog_search" if connection.vendor == "sqlite" else "catalog_search_document"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        assert cursor.fetchone()[0] == 0
