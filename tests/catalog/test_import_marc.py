import gzip
import io

import pytest

from shelfguard.catalog.models import Record
from shelfguard.catalog.services import import_marc
from shelfguard.core.actors import Actor
from tests.catalog.marc_samples import PYMARC_DATA, iso2709, lc_extract, make_record

ACTOR = Actor.cli_operator()


def run(data: bytes, **kwargs):
    return import_marc(io.BytesIO(data), actor=ACTOR, **kwargs)


@pytest.mark.django_db
def test_import_lc_records_counts_and_fields():
    report = run(lc_extract(200))
    assert (report.imported, report.updated, report.skipped) == (200, 0, 0)
    record = Record.objects.get(control_number="00000002")
    assert record.title.startswith("Botanical materia medica")
    assert record.year == 1899 and record.language == "eng"


@pytest.mark.django_db
def test_reimport_updates_instead_of_duplicating():
    data = lc_extract(50)
    run(data)
    report = run(data)
    assert (report.imported, report.updated) == (0, 50)
    assert Record.objects.count() == 50


@pytest.mark.django_db
def test_reimport_changes_extracted_fields():
    run(iso2709(make_record("7", "Old title")))
    run(iso2709(make_record("7", "New title")))
    assert Record.objects.get(control_number="7").title == "New title"


@pytest.mark.django_db
def test_same_number_from_two_agencies_are_two_records():
    run(iso2709(make_record("7", "A", agency="DLC"), make_record("7", "B", agency="XX")))
    assert Record.objects.filter(control_number="7").count() == 2


@pytest.mark.django_db
def test_restart_after_interruption_completes_the_file():
    data = lc_extract(120)
    run(data, limit=70, batch_size=25)
    report = run(data, batch_size=25)
    assert (report.imported, report.updated) == (50, 70)
    assert Record.objects.count() == 120


@pytest.mark.django_db
def test_limit_stops_after_n_records():
    assert run(lc_extract(30), limit=10).imported == 10


@pytest.mark.django_db
def test_bad_records_are_skipped_with_position_and_reason():
    report = run((PYMARC_DATA / "bad_records.mrc").read_bytes())
    assert report.skipped >= 2
    reasons = " ".join(p.reason for p in report.problems)
    assert "bad directory" in reasons or "bad leader" in reasons
    assert all(p.where.startswith("record ") for p in report.problems)


@pytest.mark.django_db
def test_truncated_file_keeps_the_complete_records():
    data = lc_extract(20)
    report = run(data[: len(data) - 100])
    assert report.imported == 19
    assert report.stopped_early
    assert "truncated" in report.problems[-1].reason
    assert "record 20" in report.problems[-1].where


@pytest.mark.django_db
def test_invalid_utf8_record_is_skipped_and_the_rest_imported():
    good = make_record("1", "Good")
    bad = make_record("2", "Bxd")
    bad.leader = bad.leader[:9] + "a" + bad.leader[10:]
    raw = bad.as_marc().replace(b"Bxd", b"B\xffd")
    report = run(iso2709(good) + raw + iso2709(make_record("3", "Also good")))
    assert (report.imported, report.skipped) == (2, 1)
    assert "UTF-8" in report.problems[0].reason


@pytest.mark.django_db
def test_record_without_001_is_reported():
    record = make_record("1", "T")
    record.remove_fields("001")
    report = run(iso2709(record))
    assert report.skipped == 1 and "001" in report.problems[0].reason


@pytest.mark.django_db
def test_marc8_records_are_converted_to_utf8():
    report = run((PYMARC_DATA / "test.dat").read_bytes())
    assert report.imported == 10
    stored = Record.objects.first()
    assert bytes(stored.marc)[9:10] == b"a"


@pytest.mark.django_db
def test_marcxml_import():
    report = run((PYMARC_DATA / "batch.xml").read_bytes())
    assert report.imported == 2 and report.skipped == 0


@pytest.mark.django_db
def test_malformed_xml_keeps_earlier_records():
    text = (PYMARC_DATA / "batch.xml").read_bytes()
    cut = text.rindex(b"<marc:record")
    report = run(text[:cut] + b"<marc:record><marc:leader>broken</oops>", fmt="marcxml")
    assert report.imported == 1
    assert report.stopped_early and "XML" in report.problems[-1].reason


@pytest.mark.django_db
def test_marc_in_json_array_and_lines():
    assert run((PYMARC_DATA / "batch.json").read_bytes()).imported == 2
    one = (PYMARC_DATA / "one.json").read_bytes().strip().replace(b"\n", b" ")
    other = one.replace(b"fol05731351", b"fol00000001")
    report = run(one + b"\n" + other + b"\n", fmt="json")
    assert (report.imported, report.skipped) == (2, 0)


@pytest.mark.django_db
def test_json_object_that_is_not_marc_is_skipped():
    report = run(b'[{"hello": 1}]', fmt="json")
    assert report.skipped == 1 and "leader" in report.problems[0].reason


@pytest.mark.django_db
def test_gzip_input_is_read_transparently():
    assert run(gzip.compress(lc_extract(5))).imported == 5


@pytest.mark.django_db
def test_html_in_fields_is_stored_verbatim_as_text():
    run(iso2709(make_record("1", "<script>alert(1)</script>")))
    assert Record.objects.get(control_number="1").title == "<script>alert(1)</script>"
