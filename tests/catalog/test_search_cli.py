"""`shelfguard search` and `shelfguard reindex`."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .factories import make_branch, make_item, make_item_type, make_record

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_json_hits_best_first():
    make_record("Notes only", notes="Mentions tides.", control_number="  b2 ")
    make_record(
        "Tides",
        control_number="a1",
        authors=["Moon, Luna"],
        year=1999,
        isbns=["9780306406157"],
    )
    hits = json.loads(run("search", "tides", "--json"))
    assert [hit["control_number"] for hit in hits] == ["a1", "  b2 "]
    assert hits[0] == {
        "control_number": "a1",
        "title": "Tides",
        "vernacular_title": "",
        "authors": ["Moon, Luna"],
        "year": 1999,
        "isbn": "9780306406157",
        "language": "eng",
    }


def test_words_need_no_quotes():
    make_record("Winter garden")
    assert len(json.loads(run("search", "winter", "garden", "--json"))) == 1


def test_json_keeps_chinese():
    make_record("Hong lou meng", vernacular_title="红楼梦")
    assert "红楼梦" in run("search", "楼梦", "--json")


def test_table():
    make_record("[Sound recording] of the sea", authors=["Wave, Ada"], year=2001)
    text = run("search", "sea")
    assert "[Sound recording]" in text
    assert "Wave, Ada" in text
    assert "1 of 1 matching records" in text


def test_no_match():
    assert "No records match." in run("search", "nothing")
    assert json.loads(run("search", "nothing", "--json")) == []


def test_limit():
    for n in range(4):
        make_record(f"Stone {n}")
    assert len(json.loads(run("search", "stone", "--limit", "3", "--json"))) == 3


def test_filters():
    old = make_record("Bridges", year=1950, language="eng")
    new = make_record("Bridges", year=2010, language="fre")
    make_item(old, branch="MAIN", item_type="book")
    make_item(new, branch="EAST", item_type="dvd")

    def years(*options):
        return [hit["year"] for hit in json.loads(run("search", "bridges", "--json", *options))]

    assert years("--language", "fre") == [2010]
    assert years("--year-from", "2000") == [2010]
    assert years("--year-to", "2000") == [1950]
    assert years("--branch", "main") == [1950]
    assert years("--item-type", "DVD") == [2010]


def test_too_long_query():
    with pytest.raises(CommandError, match="limit is 256"):
        run("search", "x" * 300)


def test_bad_limit():
    with pytest.raises(CommandError, match="between 1 and 1000"):
        run("search", "x", "--limit", "0")


def test_bad_year_range():
    with pytest.raises(CommandError, match="empty"):
        run("search", "x", "--year-from", "2000", "--year-to", "1990")


def test_unknown_branch():
    make_branch("MAIN")
    with pytest.raises(CommandError, match="Unknown branch 'NOWHERE'.*MAIN"):
        run("search", "x", "--branch", "nowhere")


def test_unknown_item_type():
    make_item_type("book")
    with pytest.raises(CommandError, match="Unknown item type 'vinyl'.*book"):
        run("search", "x", "--item-type", "vinyl")


def test_reindex_json():
    make_record("Lost index", index=False)
    assert json.loads(run("reindex", "--json"))["indexed"] == 1
    assert len(json.loads(run("search", "lost", "--json"))) == 1


def test_reindex_text():
    make_record("One")
    assert run("reindex").startswith("Indexed 1 record in ")
