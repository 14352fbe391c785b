import io

import pymarc
import pytest

from shelfguard.catalog.services import export_marc, import_marc
from shelfguard.core.actors import Actor
from tests.catalog.marc_samples import PYMARC_DATA, lc_extract

ACTOR = Actor.cli_operator()


def fields(record: pymarc.Record) -> list[tuple]:
    out = []
    for f in record.fields:
        if f.is_control_field():
            out.append((f.tag, f.data))
        else:
            out.append((f.tag, tuple(f.indicators), tuple((s.code, s.value) for s in f.subfields)))
    return out


def export(fmt: str) -> bytes:
    out = io.BytesIO()
    export_marc(out, actor=ACTOR, fmt=fmt)
    return out.getvalue()


@pytest.mark.django_db
def test_iso2709_round_trip_is_field_by_field_equal():
    data = lc_extract(300)
    import_marc(io.BytesIO(data), actor=ACTOR)
    original = list(pymarc.MARCReader(io.BytesIO(data)))
    exported = list(pymarc.MARCReader(io.BytesIO(export("iso2709"))))
    assert len(exported) == 300
    assert [fields(r) for r in exported] == [fields(r) for r in original]
    assert [str(r.leader) for r in exported] == [str(r.leader) for r in original]


@pytest.mark.django_db
def test_marcxml_and_json_round_trip():
    data = lc_extract(40)
    import_marc(io.BytesIO(data), actor=ACTOR)
    original = [fields(r) for r in pymarc.MARCReader(io.BytesIO(data))]
    from_xml = pymarc.parse_xml_to_array(io.BytesIO(export("marcxml")))
    from_json = list(pymarc.JSONReader(export("json").decode("utf-8")))
    assert [fields(r) for r in from_xml] == original
    assert [fields(r) for r in from_json] == original


@pytest.mark.django_db
def test_marc8_input_round_trips_as_utf8_with_equal_fields():
    data = (PYMARC_DATA / "test.dat").read_bytes()
    import_marc(io.BytesIO(data), actor=ACTOR)
    original = [fields(r) for r in pymarc.MARCReader(io.BytesIO(data), to_unicode=True)]
    exported = list(pymarc.MARCReader(io.BytesIO(export("iso2709")), to_unicode=True))
    assert [fields(r) for r in exported] == original
    assert all(r.leader[9] == "a" for r in exported)
