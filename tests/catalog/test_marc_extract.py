import pytest
from pymarc import Field, Indicators, Subfield

from shelfguard.catalog.marc import ExtractionError, extract, normalise_isbn
from tests.catalog.marc_samples import make_record


def test_title_and_statement_of_responsibility():
    record = make_record("1", "Botanical materia medica /")
    record["245"].add_subfield("c", "by S. H. Aurand.")
    got = extract(record)
    assert got.title == "Botanical materia medica"
    assert got.responsibility == "by S. H. Aurand"


def test_control_number_is_trimmed_and_agency_kept():
    got = extract(make_record("  00000002 ", "T", agency="DLC"))
    assert (got.control_number, got.control_number_identifier) == ("00000002", "DLC")


def test_record_without_001_is_refused_with_reason():
    record = make_record("1", "T")
    record.remove_fields("001")
    with pytest.raises(ExtractionError, match="001"):
        extract(record)


def test_year_and_language_come_from_008():
    got = extract(make_record("1", "T", year="1987", language="fre"))
    assert (got.year, got.language) == (1987, "fre")


def test_year_falls_back_to_260c_when_008_has_none():
    record = make_record("1", "T", year="uuuu")
    record.add_field(
        Field(
            tag="260",
            indicators=Indicators(" ", " "),
            subfields=[Subfield("b", "Mallen,"), Subfield("c", "c1899.")],
        )
    )
    got = extract(record)
    assert (got.year, got.publisher) == (1899, "Mallen")


def test_isbn10_is_validated_and_stored_as_isbn13():
    got = extract(make_record("1", "T", isbn="0-306-40615-2 (pbk.)"))
    assert got.isbns == ["9780306406157"]


def test_invalid_isbn_is_dropped():
    assert extract(make_record("1", "T", isbn="0306406153")).isbns == []
    assert normalise_isbn("not an isbn") is None


def test_vernacular_880_title_and_names():
    record = make_record("1", "Zhongguo li shi", vernacular_title="中国历史")
    record.add_field(
        Field(
            tag="880",
            indicators=Indicators("1", " "),
            subfields=[Subfield("6", "100-02/$1"), Subfield("a", "司马迁")],
        )
    )
    got = extract(record)
    assert got.vernacular_title == "中国历史"
    assert "司马迁" in got.authors


def test_subjects_keep_their_subdivisions():
    record = make_record(
        "1",
        "T",
        extra=[
            Field(
                tag="650",
                indicators=Indicators(" ", "0"),
                subfields=[Subfield("a", "Homeopathy"), Subfield("x", "Materia medica.")],
            )
        ],
    )
    assert extract(record).subjects == ["Homeopathy -- Materia medica"]
