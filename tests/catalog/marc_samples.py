"""Small MARC files built in the tests, and paths to pymarc's own test files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pymarc
from pymarc import Field, Indicators, Subfield

PYMARC_DATA = Path(__file__).resolve().parents[1] / "data" / "pymarc"
DEMO_EXTRACT = (
    Path(__file__).resolve().parents[2] / "src" / "shelfguard" / "demo_data" / "lc-sample.mrc.gz"
)


def make_record(
    control_number: str,
    title: str,
    *,
    agency: str = "XX",
    author: str | None = None,
    isbn: str | None = None,
    vernacular_title: str | None = None,
    year: str = "1999",
    language: str = "eng",
    extra: list[Field] | None = None,
) -> pymarc.Record:
    record = pymarc.Record(force_utf8=True)
    record.leader = pymarc.Leader("00000nam a2200000 a 4500")
    record.add_field(Field(tag="001", data=control_number))
    record.add_field(Field(tag="003", data=agency))
    record.add_field(Field(tag="008", data=f"990101s{year}    xxu           000 0 {language} d"))
    if isbn:
        record.add_field(
            Field(tag="020", indicators=Indicators(" ", " "), subfields=[Subfield("a", isbn)])
        )
    if author:
        record.add_field(
            Field(tag="100", indicators=Indicators("1", " "), subfields=[Subfield("a", author)])
        )
    title_subfields = [Subfield("a", title)]
    if vernacular_title:
        title_subfields.insert(0, Subfield("6", "880-01"))
    record.add_field(
        Field(tag="245", indicators=Indicators("1", "0"), subfields=title_subfields)
    )
    if vernacular_title:
        record.add_field(
            Field(
                tag="880",
                indicators=Indicators("1", "0"),
                subfields=[Subfield("6", "245-01/$1"), Subfield("a", vernacular_title)],
            )
        )
    for field in extra or []:
        record.add_field(field)
    return record


def iso2709(*records: pymarc.Record) -> bytes:
    return b"".join(r.as_marc() for r in records)


def lc_extract(limit: int) -> bytes:
    """The first `limit` records of the committed LC extract, as ISO 2709 bytes."""
    out = bytearray()
    with gzip.open(DEMO_EXTRACT, "rb") as fh:
        reader = pymarc.MARCReader(fh, permissive=True)
        for count, _ in enumerate(reader, start=1):
            out += reader.current_chunk
            if count >= limit:
                break
    return bytes(out)
