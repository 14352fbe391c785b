import io

import pytest

from shelfguard.catalog.models import Item
from shelfguard.catalog.services import (
    CatalogError,
    ensure_item_type,
    import_items_csv,
    import_marc,
)
from shelfguard.core.actors import Actor
from shelfguard.core.services import ensure_branch
from tests.catalog.marc_samples import iso2709, make_record

ACTOR = Actor.cli_operator()
HEADER = "barcode,control_number,branch,call_number,item_type,location\n"


@pytest.fixture
def catalogue(db):
    ensure_branch("MAIN", "Main", actor=ACTOR)
    ensure_item_type("book", "Book", actor=ACTOR)
    import_marc(io.BytesIO(iso2709(make_record("100", "A"), make_record("200", "B"))), actor=ACTOR)


def load(text: str):
    return import_items_csv(io.StringIO(text), actor=ACTOR)


def test_good_rows_are_imported(catalogue):
    report = load(HEADER + "3901,100,main,QA76 .A1,book,Stacks\n3902,200,MAIN,,book,\n")
    assert (report.imported, report.rejected) == (2, 0)
    item = Item.objects.get(barcode="3901")
    assert (item.branch.code, item.call_number, item.location) == ("MAIN", "QA76 .A1", "Stacks")


def test_location_column_is_optional(catalogue):
    report = load("barcode,control_number,branch,call_number,item_type\n3901,100,MAIN,X,book\n")
    assert report.imported == 1


def test_bad_rows_are_rejected_with_line_numbers_and_the_rest_imported(catalogue):
    report = load(
        HEADER
        + "3901,100,MAIN,X,book,\n"  # line 2: good
        + "3902,999,MAIN,X,book,\n"  # line 3: unknown record
        + "3903,100,NOWHERE,X,book,\n"  # line 4: unknown branch
        + "3904,100,MAIN,X,vinyl,\n"  # line 5: unknown item type
        + "3901,200,MAIN,X,book,\n"  # line 6: duplicate in file
        + "39 05,100,MAIN,X,book,\n"  # line 7: bad barcode
        + "3906,100,MAIN\n"  # line 8: short row
        + "3907,200,MAIN,X,book,\n"  # line 9: good
    )
    assert (report.imported, report.rejected) == (2, 6)
    by_line = {p.where: p.reason for p in report.problems}
    assert "999" in by_line["line 3"]
    assert "branch" in by_line["line 4"]
    assert "item type" in by_line["line 5"]
    assert "twice" in by_line["line 6"]
    assert "not valid" in by_line["line 7"]
    assert "columns" in by_line["line 8"]


def test_barcode_already_in_the_database_is_rejected_and_kept(catalogue):
    load(HEADER + "3901,100,MAIN,X,book,\n")
    report = load(HEADER + "3901,200,MAIN,Y,book,\n")
    assert report.rejected == 1 and "already exists" in report.problems[0].reason
    assert Item.objects.get(barcode="3901").record.control_number == "100"


def test_missing_header_is_a_clear_error(catalogue):
    with pytest.raises(CatalogError, match="first line"):
        load("3901,100,MAIN,X,book\n")
