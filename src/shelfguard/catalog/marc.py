"""Reading MARC21 in its three exchange formats, and extracting what we search and show.

Parsing is pymarc's. What is ours is the streaming around it: every reader
here yields one `MarcEntry` at a time, so a file of any size is imported at
constant memory, and a record that fails to parse becomes an entry with its
position and reason instead of stopping the import.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import warnings
import xml.sax
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

import pymarc
from pymarc.marcxml import XmlHandler
from stdnum import exceptions as stdnum_exceptions
from stdnum import isbn as stdnum_isbn

MarcFormat = Literal["iso2709", "marcxml", "json"]
FORMATS: tuple[MarcFormat, ...] = ("iso2709", "marcxml", "json")

_GZIP_MAGIC = b"\x1f\x8b"
MAX_RECORD_LENGTH = 99_999  # five digits of record length in the leader
_READ_SIZE = 1 << 16


@dataclass
class MarcEntry:
    """One record read from a file, or the reason it could not be read."""

    position: int  # 1-based record number in the file
    record: pymarc.Record | None = None
    raw: bytes | None = None  # the record's own UTF-8 ISO 2709 bytes, when we have them
    error: str | None = None
    offset: int | None = None  # byte offset, for ISO 2709 input
    fatal: bool = False  # the rest of the file cannot be read

    def where(self) -> str:
        if self.offset is not None:
            return f"record {self.position} (byte {self.offset})"
        return f"record {self.position}"


class MarcFormatError(ValueError):
    """The file is not in the format asked for; the message says what to do."""


def open_maybe_gzip(stream: BinaryIO) -> io.BufferedReader:
    """Transparently decompress gzip input (demo data and many vendor feeds are gzipped)."""
    buffered = _buffered(stream)
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        return io.BufferedReader(gzip.GzipFile(fileobj=buffered))  # type: ignore[arg-type]
    return buffered


def _buffered(stream: BinaryIO) -> io.BufferedReader:
    if isinstance(stream, io.BufferedReader):
        return stream
    return io.BufferedReader(stream)  # type: ignore[arg-type]


def guess_format(stream: io.BufferedReader) -> MarcFormat:
    """Guess the format from the first bytes: '<' is XML, '[' or '{' JSON, digits ISO 2709."""
    head = stream.peek(64)[:64].lstrip()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    if head.startswith(b"<"):
        return "marcxml"
    if head[:1] in (b"[", b"{"):
        return "json"
    return "iso2709"


def read_marc(stream: BinaryIO, fmt: MarcFormat | None = None) -> Iterator[MarcEntry]:
    """Yield every record of `stream` in order, as `MarcEntry` objects."""
    source = open_maybe_gzip(stream)
    if fmt is None:
        fmt = guess_format(source)
    if fmt == "iso2709":
        return _read_iso2709(source)
    if fmt == "marcxml":
        return _read_marcxml(source)
    if fmt == "json":
        return _read_json(source)
    raise MarcFormatError(f"Unknown MARC format {fmt!r}; use one of {', '.join(FORMATS)}.")


def _read_iso2709(source: BinaryIO) -> Iterator[MarcEntry]:
    # to_unicode converts MARC-8 records (leader/09 blank) and decodes UTF-8 ones
    # strictly, so a record with broken bytes is reported rather than stored garbled.
    reader = pymarc.MARCReader(
        source, to_unicode=True, force_utf8=False, utf8_handling="strict", permissive=True
    )
    with warnings.catch_warnings():
        # pymarc warns about odd subfield codes; the record is still stored as read.
        warnings.simplefilter("ignore", pymarc.exceptions.BadSubfieldCodeWarning)
        yield from _iso2709_entries(reader)


def _iso2709_entries(reader: pymarc.MARCReader) -> Iterator[MarcEntry]:
    offset = 0
    for position, record in enumerate(reader, start=1):
        chunk = reader.current_chunk or b""
        entry_offset, offset = offset, offset + len(chunk)
        if record is None:
            exc = reader.current_exception
            fatal = isinstance(exc, pymarc.exceptions.FatalReaderError)
            yield MarcEntry(
                position=position,
                error=_describe(exc),
                offset=entry_offset,
                # A bad length prefix, a truncated record or a missing end mark means
                # we no longer know where the next record starts: stop, not read noise.
                fatal=fatal,
            )
            if fatal:
                return
            continue
        raw = chunk if record.leader[9] == "a" else None
        yield MarcEntry(position=position, record=record, raw=raw, offset=entry_offset)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unreadable record"
    name = type(exc).__name__
    text = str(exc).strip()
    reasons = {
        "TruncatedRecord": "the file ends in the middle of this record (truncated file)",
        "RecordLengthInvalid": "the record length in the leader is not a number (bad leader)",
        "EndOfRecordNotFound": "the record does not end with the end-of-record mark",
        "BaseAddressInvalid": "the base address of data in the leader is invalid (bad leader)",
        "BaseAddressNotFound": "the directory does not end where the leader says (bad directory)",
        "RecordDirectoryInvalid": "the directory is malformed (bad directory)",
        "UnicodeDecodeError": "the record is marked UTF-8 but contains invalid UTF-8 bytes",
    }
    if isinstance(exc, UnicodeDecodeError) and exc.encoding != "utf-8":
        return "the directory contains non-ASCII bytes (bad directory)"
    if isinstance(exc, ValueError) and "invalid literal for int" in text:
        return "a length or offset in the directory is not a number (bad directory)"
    reason = reasons.get(name)
    if reason:
        return reason
    return f"{name}: {text}" if text else name


class _PullHandler(XmlHandler):
    """pymarc's SAX handler, collecting records so the caller can pull them in order."""

    def __init__(self) -> None:
        super().__init__(strict=False, normalize_form=None)
        self.ready: list[pymarc.Record] = []

    def process_record(self, record: pymarc.Record) -> None:
        self.ready.append(record)


def _read_marcxml(source: BinaryIO) -> Iterator[MarcEntry]:
    handler = _PullHandler()
    parser = xml.sax.make_parser()
    parser.setFeature(xml.sax.handler.feature_namespaces, True)
    # Never resolve external entities from an imported file (XXE).
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setFeature(xml.sax.handler.feature_external_pes, False)
    parser.setContentHandler(handler)
    position = 0
    while True:
        chunk = source.read(_READ_SIZE)
        try:
            if chunk:
                parser.feed(chunk)  # type: ignore[attr-defined]
            else:
                parser.close()  # type: ignore[attr-defined]
        except xml.sax.SAXParseException as exc:
            for record in handler.ready:
                position += 1
                yield MarcEntry(position=position, record=record)
            handler.ready.clear()
            yield MarcEntry(
                position=position + 1,
                error=f"malformed XML at line {exc.getLineNumber()}, column "
                f"{exc.getColumnNumber()}: {exc.getMessage()}",
                fatal=True,
            )
            return
        for record in handler.ready:
            position += 1
            yield MarcEntry(position=position, record=record)
        handler.ready.clear()
        if not chunk:
            return


def _read_json(source: BinaryIO) -> Iterator[MarcEntry]:
    """MARC-in-JSON: a JSON array of records, one record object, or one record per line.

    pymarc's JSONReader loads the whole document; to keep memory constant we cut
    the array into one object at a time with the standard decoder and hand each
    object's text to JSONReader.
    """
    text = io.TextIOWrapper(source, encoding="utf-8", errors="strict")
    decoder = json.JSONDecoder(strict=False)
    buffer = ""
    pos = 0
    position = 0
    in_array = False
    started = False
    eof = False

    def refill() -> bool:
        nonlocal buffer, pos
        chunk = text.read(_READ_SIZE)
        buffer = buffer[pos:] + chunk
        pos = 0
        return bool(chunk)

    try:
        while True:
            # Skip whitespace and the separators between records.
            while True:
                while pos < len(buffer) and buffer[pos] in " \t\r\n\ufeff,":
                    if buffer[pos] == "," and not in_array:
                        break
                    pos += 1
                if pos < len(buffer) or eof:
                    break
                eof = not refill()
            if pos >= len(buffer):
                return
            char = buffer[pos]
            if not started and char == "[":
                in_array, started = True, True
                pos += 1
                continue
            started = True
            if char == "]" and in_array:
                return
            while True:
                try:
                    obj, end = decoder.raw_decode(buffer, pos)
                    break
                except json.JSONDecodeError as exc:
                    if eof:
                        position += 1
                        yield MarcEntry(
                            position=position,
                            error=f"malformed JSON near character {exc.pos}: {exc.msg}",
                            fatal=True,
                        )
                        return
                    eof = not refill()
            position += 1
            object_text = buffer[pos:end]
            pos = end
            yield _json_entry(position, obj, object_text)
    except UnicodeDecodeError:
        yield MarcEntry(position=position + 1, error="the file is not valid UTF-8", fatal=True)


def _json_entry(position: int, obj: object, object_text: str) -> MarcEntry:
    if not isinstance(obj, dict) or "leader" not in obj or "fields" not in obj:
        return MarcEntry(
            position=position, error="not a MARC-in-JSON record (needs 'leader' and 'fields')"
        )
    try:
        record = next(iter(pymarc.JSONReader(object_text)))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        return MarcEntry(position=position, error=f"malformed MARC-in-JSON record: {exc}")
    return MarcEntry(position=position, record=record)


# --- extraction -----------------------------------------------------------

_TRAILING = re.compile(r"[\s/:;,=.]+$")
_YEAR = re.compile(r"(1[0-9]{3}|20[0-9]{2})")
_AUTHOR_TAGS = ("100", "110", "111", "700", "710", "711")
_SUBJECT_TAGS = ("600", "610", "611", "630", "650", "651", "655")
_NAME_CODES = "abcdq"
_SUBJECT_CODES = "abcdvxyz"


@dataclass
class Extracted:
    """The searchable and displayable fields of a record, ready for `Record` columns."""

    control_number: str
    control_number_identifier: str
    title: str
    vernacular_title: str = ""
    responsibility: str = ""
    authors: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    publisher: str = ""
    year: int | None = None
    language: str = ""
    isbns: list[str] = field(default_factory=list)
    lccn: str = ""
    edition: str = ""
    physical_description: str = ""
    notes: str = ""


class ExtractionError(ValueError):
    """The record lacks what every record must have; the message names it."""


def _clean(text: str) -> str:
    return _TRAILING.sub("", " ".join(text.split()))


def _subfields(field_: pymarc.Field, codes: str) -> str:
    return _clean(" ".join(sf.value for sf in field_.subfields if sf.code in codes))


def _linked_tag(field_: pymarc.Field) -> str:
    """The tag an 880 field is the vernacular form of ($6 "245-01/$1" -> "245")."""
    link = field_.get("6") or ""
    return link[:3]


def normalise_isbn(value: str) -> str | None:
    """An ISBN as ISBN-13 digits, or None when the text holds no valid ISBN.

    020 $a often carries a qualifier ("0306406152 (pbk.)"), so only the first
    token is the number.
    """
    token = value.strip().split(" ")[0].strip("():;")
    if not token:
        return None
    try:
        return stdnum_isbn.validate(token, convert=True)
    except stdnum_exceptions.ValidationError:
        return None


def extract(record: pymarc.Record) -> Extracted:
    """Pull the searchable fields out of a MARC record."""
    control = record.get("001")
    control_number = control.data.strip() if control is not None and control.data else ""
    if not control_number:
        raise ExtractionError("the record has no 001 control number, so it cannot be keyed")
    agency = record.get("003")
    identifier = agency.data.strip() if agency is not None and agency.data else ""

    title_field = record.get("245")
    title = _subfields(title_field, "abfgknps") if title_field else ""
    responsibility = _subfields(title_field, "c") if title_field else ""

    authors = [_subfields(f, _NAME_CODES) for f in record.get_fields(*_AUTHOR_TAGS)]
    subjects = [
        " -- ".join(sf.value.strip(" .") for sf in f.subfields if sf.code in _SUBJECT_CODES)
        for f in record.get_fields(*_SUBJECT_TAGS)
    ]

    vernacular_title = ""
    vernacular_notes: list[str] = []
    for f in record.get_fields("880"):
        linked = _linked_tag(f)
        if linked == "245" and not vernacular_title:
            vernacular_title = _subfields(f, "abfgknps")
        elif linked in _AUTHOR_TAGS:
            authors.append(_subfields(f, _NAME_CODES))
        elif linked in _SUBJECT_TAGS:
            subjects.append(_subfields(f, _SUBJECT_CODES))
        else:
            vernacular_notes.append(_subfields(f, "abcdefghijklmnopqrstuvwxyz"))

    publisher = ""
    year_text = ""
    for f in record.get_fields("264", "260"):
        if f.tag == "264" and f.indicator2 != "1":
            continue
        publisher = publisher or _subfields(f, "b")
        year_text = year_text or (f.get("c") or "")

    fixed = record.get("008")
    fixed_data = fixed.data if fixed is not None and fixed.data else ""
    year = _year(fixed_data[7:11]) or _year(year_text)
    language = fixed_data[35:38].strip().lower() if len(fixed_data) >= 38 else ""
    if not language.isalpha():
        lang_field = record.get("041")
        language = (lang_field.get("a") or "")[:3].lower() if lang_field else ""
        language = language if language.isalpha() else ""

    isbns: list[str] = []
    for f in record.get_fields("020"):
        for value in f.get_subfields("a"):
            number = normalise_isbn(value)
            if number and number not in isbns:
                isbns.append(number)

    lccn_field = record.get("010")
    edition_field = record.get("250")
    physical_field = record.get("300")
    notes = [f.value() for f in record.get_fields(*[str(t) for t in range(500, 600)])]

    return Extracted(
        control_number=control_number,
        control_number_identifier=identifier,
        title=title or vernacular_title or "[untitled]",
        vernacular_title=vernacular_title,
        responsibility=responsibility,
        authors=[a for a in authors if a],
        subjects=[s for s in subjects if s],
        publisher=publisher,
        year=year,
        language=language,
        isbns=isbns,
        lccn=((lccn_field.get("a") or "").strip() if lccn_field else ""),
        edition=_subfields(edition_field, "ab") if edition_field else "",
        physical_description=_subfields(physical_field, "abce") if physical_field else "",
        notes="\n".join(n for n in notes + vernacular_notes if n),
    )


def _year(text: str) -> int | None:
    match = _YEAR.search(text or "")
    return int(match.group(1)) if match else None


def to_iso2709(entry: MarcEntry) -> bytes:
    """The record as UTF-8 ISO 2709, reusing the input bytes when they already are."""
    if entry.raw is not None:
        return entry.raw
    record = entry.record
    assert record is not None
    record.leader = _utf8_leader(record.leader)
    try:
        data = record.as_marc()
    except (ValueError, pymarc.exceptions.PymarcException) as exc:
        raise ExtractionError(f"the record cannot be stored as MARC21: {exc}") from exc
    if len(data) > MAX_RECORD_LENGTH:
        raise ExtractionError(
            f"the record is {len(data)} bytes; MARC21 records cannot exceed {MAX_RECORD_LENGTH}"
        )
    return data


def _utf8_leader(leader: pymarc.Leader | str) -> pymarc.Leader:
    text = str(leader)
    if len(text) < 24:
        text = text.ljust(24)
    return pymarc.Leader(text[:9] + "a" + text[10:])


def parse_stored(data: bytes) -> pymarc.Record:
    """A stored record (UTF-8 ISO 2709) as a pymarc Record."""
    return pymarc.Record(data=bytes(data), to_unicode=True, force_utf8=True)
