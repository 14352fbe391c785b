"""Tests of the pure SIP2 2.00 codec (no database, no Django)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelfguard.sip2 import protocol as p
from shelfguard.sip2.protocol import ChecksumError, Message, ProtocolError

DATE = "20261125   Z173144"
ALL_CODES = {
    "93", "94", "99", "98", "23", "24", "63", "64", "11", "12", "09", "10",
    "29", "30", "65", "66", "17", "18", "19", "20", "15", "16", "35", "36",
    "37", "38", "25", "26", "01", "97", "96",
}  # fmt: skip


def reference_checksum(payload: bytes) -> str:
    """The rule, written independently of the module under test."""
    total = 0
    for byte in payload:
        total = (total + byte) % 0x10000
    return "%04X" % ((0x10000 - total) % 0x10000)


def sample(code: str, fields=(), sequence: int | None = 1) -> Message:
    fixed = {}
    for name, length in p.MESSAGES[code].fixed:
        fixed[name] = DATE if length == 18 else ("Y" * length)
    return Message(code, fixed, list(fields), sequence)


SAMPLE_FIELDS = [
    ("AO", "Main branch"),
    ("AA", "P0001"),
    ("AU", "item 1"),
    ("AU", "item 2"),
    ("AT", ""),
    ("AF", "Screen message"),
]


# --- the table ------------------------------------------------------------


def test_table_covers_every_message_in_scope():
    assert set(p.MESSAGES) == ALL_CODES


@pytest.mark.parametrize(
    ("code", "length"),
    [
        ("93", 2),
        ("94", 1),
        ("99", 8),
        ("98", 34),
        ("23", 21),
        ("24", 35),
        ("63", 31),
        ("64", 59),
        ("11", 38),
        ("12", 22),
        ("09", 37),
        ("10", 22),
        ("29", 38),
        ("30", 22),
        ("65", 18),
        ("66", 27),
        ("17", 18),
        ("18", 24),
        ("19", 18),
        ("20", 19),
        ("15", 19),
        ("16", 20),
        ("35", 18),
        ("36", 19),
        ("37", 25),
        ("38", 19),
        ("25", 18),
        ("26", 35),
        ("01", 19),
        ("97", 0),
        ("96", 0),
    ],
)
def test_fixed_lengths_follow_the_specification(code, length):
    assert p.MESSAGES[code].fixed_length == length


def test_patron_information_summary_is_ten_characters():
    assert dict(p.MESSAGES["63"].fixed)["summary"] == 10


# --- round trips ------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(ALL_CODES))
def test_round_trip_every_code(code):
    msg = sample(code, SAMPLE_FIELDS, sequence=3)
    data = p.build(msg)
    assert data.endswith(b"\r")
    assert p.parse(data, require_checksum=True) == msg


@pytest.mark.parametrize("code", sorted(ALL_CODES))
def test_round_trip_without_error_detection(code):
    msg = sample(code, SAMPLE_FIELDS, sequence=None)
    data = p.build(msg, error_detection=False)
    assert b"AZ" not in data
    assert p.parse(data) == msg


def test_sequence_none_is_sent_as_zero():
    data = p.build(sample("99", sequence=None))
    assert b"AY0AZ" in data
    assert p.parse(data).sequence == 0


def test_repeated_fields_keep_their_order():
    msg = p.parse(p.build(sample("64", SAMPLE_FIELDS)))
    assert p.fields(msg, "AU") == ["item 1", "item 2"]
    assert p.fields(msg, "AT") == [""]
    assert p.fields(msg, "ZZ") == []
    assert p.field(msg, "AO") == "Main branch"
    assert p.field(msg, "ZZ") is None
    assert p.field(msg, "ZZ", "x") == "x"


def test_crlf_terminator_round_trips():
    msg = sample("17", [("AB", "39999000001")])
    data = p.build(msg, terminator=b"\r\n")
    assert data.endswith(b"\r\n")
    assert p.parse(data) == msg


def test_missing_terminator_is_accepted():
    # Documented: framing is the server's job, the codec is lenient.
    msg = sample("23", [("AA", "P1")])
    assert p.parse(p.build(msg)[:-1]) == msg


def test_str_input_is_accepted():
    msg = sample("35", [("AA", "P1")])
    assert p.parse(p.build(msg).decode("utf-8")) == msg


def test_last_field_without_bar_is_accepted():
    msg = p.parse(b"9900802.00AOMain")
    assert msg.fields == [("AO", "Main")]
    assert msg.fixed == {"status_code": "0", "max_print_width": "080", "protocol_version": "2.00"}


def test_latin1_round_trip():
    msg = sample("64", [("AE", "Müller, Zoë"), ("AF", "Grüße, ça va")])
    data = p.build(msg, encoding="latin-1")
    assert "Müller".encode("latin-1") in data
    assert data != p.build(msg)
    assert data[-5:-1] == reference_checksum(data[:-5]).encode()
    assert p.parse(data, encoding="latin-1") == msg
    with pytest.raises(ProtocolError):
        p.parse(data)  # not valid UTF-8


def test_unencodable_value_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        p.build(sample("64", [("AE", "名前")]), encoding="latin-1")


def test_unusable_encoding_is_a_programming_error():
    with pytest.raises(ValueError):
        p.parse(b"96AZFEF6\r", encoding="no-such-codec")
    with pytest.raises(ValueError):
        p.build(sample("96"), encoding="utf-16")


# --- checksums --------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"96AZ",
        b"97AZ",
        b"9300CNuser|COpass|CPMain|AY1AZ",
        "AOBücherei|AZ".encode(),
        b"",
        b"\xff" * 300,
    ],
)
def test_checksum_matches_reference(payload):
    assert p.checksum(payload) == reference_checksum(payload)


def test_known_vector():
    # 9+6+A+Z = 57+54+65+90 = 266 = 0x010A; 0x10000 - 0x010A = 0xFEF6.
    assert p.checksum(b"96AZ") == "FEF6"
    assert p.resend() == b"96AZFEF6\r"
    assert p.parse(p.resend(), require_checksum=True).code == "96"


def test_built_checksum_follows_the_rule():
    data = p.build(sample("93", [("CN", "sc"), ("CO", "pw")], sequence=7))
    body = data[:-1]
    assert body[-9:-4] == b"AY7AZ"
    assert body[-4:] == reference_checksum(body[:-4]).encode()


def test_bad_checksum():
    data = bytearray(p.build(sample("99")))
    data[-2] = ord("0") if data[-2] != ord("0") else ord("1")
    with pytest.raises(ChecksumError):
        p.parse(bytes(data))


def test_altered_payload_fails_checksum():
    data = p.build(sample("23", [("AA", "P0001")]))
    with pytest.raises(ChecksumError):
        p.parse(data.replace(b"P0001", b"P0002"))


def test_checksum_error_is_a_protocol_error():
    assert issubclass(ChecksumError, ProtocolError)


def test_lowercase_hex_checksum_is_accepted():
    assert p.parse(b"96AZfef6\r").code == "96"


def test_az_without_ay():
    msg = p.parse(b"96AZFEF6\r")
    assert msg.sequence is None


def test_require_checksum():
    data = p.build(sample("99", sequence=None), error_detection=False)
    assert p.parse(data).code == "99"
    with pytest.raises(ChecksumError):
        p.parse(data, require_checksum=True)


# --- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\r", "empty"),
        (b"XX\r", "unknown message code"),
        (b"42\r", "unknown message code"),
        (b"\xff\xfe\x00garbage\r", "not valid utf-8"),
        (b"9900\r", "too short"),
        (b"2300120261125   Z17\r", "too short"),
        (b"9900802.00ao|\r", "bad field identifier"),
        (b"9900802.00A|\r", "bad field identifier"),
        (b"9900802.00AOx||\r", "bad field identifier"),
        (b"9900802.00AY1|\r", "trailer"),
        (b"9900802.00AOa\rb|\r", "cr or lf"),
        (b"9900802.00AOa\nb|\r", "cr or lf"),
        (b"99008|.00\r", "fixed part"),
        (b"9900802.00AO" + b"x" * p.MAX_MESSAGE + b"|\r", "longer than"),
    ],
)
def test_bad_input_raises_protocol_error(data, reason):
    with pytest.raises(ProtocolError) as info:
        p.parse(data)
    assert reason in str(info.value).lower()


def test_message_of_exactly_max_length_is_accepted():
    head = b"9900802.00AO"
    data = head + b"x" * (p.MAX_MESSAGE - len(head) - 2) + b"|\r"
    assert len(data) == p.MAX_MESSAGE
    assert p.parse(data).code == "99"
    with pytest.raises(ProtocolError):
        p.parse(head + b"x" * (p.MAX_MESSAGE - len(head) - 1) + b"|\r")


def test_non_bytes_input():
    with pytest.raises(ProtocolError):
        p.parse(12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "msg",
    [
        Message("42", {}, []),
        Message("99", {"status_code": "0", "max_print_width": "80", "protocol_version": "2.00"}),
        Message("99", {"status_code": "0", "max_print_width": "080"}),
        Message(
            "99",
            {"status_code": "0", "max_print_width": "080", "protocol_version": "2.00", "x": "1"},
        ),
        Message("99", {"status_code": "|", "max_print_width": "080", "protocol_version": "2.00"}),
        sample("99", [("AO", "a|b")]),
        sample("99", [("AO", "a\rb")]),
        sample("99", [("AO", "a\nb")]),
        sample("99", [("ao", "x")]),
        sample("99", [("A", "x")]),
        sample("99", [("AY", "1")]),
        sample("99", [("AZ", "FFFF")]),
        sample("99", [("AO", 5)]),
        sample("99", sequence=10),
        sample("99", sequence=-1),
        sample("99", [("AO", "x" * p.MAX_MESSAGE)]),
    ],
)
def test_build_refuses_invalid_messages(msg):
    with pytest.raises(ProtocolError):
        p.build(msg)


def test_build_refuses_odd_terminator():
    with pytest.raises(ValueError):
        p.build(sample("96"), terminator=b"\n")


# --- dates ------------------------------------------------------------------


def test_format_date_is_utc():
    dt = datetime(2026, 11, 25, 18, 31, 44, tzinfo=timezone(timedelta(hours=1)))
    assert p.format_date(dt) == DATE
    assert len(p.format_date(dt)) == 18


def test_format_date_refuses_naive():
    with pytest.raises(ValueError):
        p.format_date(datetime(2026, 1, 1))


def test_parse_date():
    assert p.parse_date(DATE) == datetime(2026, 11, 25, 17, 31, 44, tzinfo=UTC)
    local = timezone(timedelta(hours=2))
    assert p.parse_date("20260101    090000", local_tz=local) == datetime(
        2026, 1, 1, 9, 0, tzinfo=local
    )
    assert p.parse_date(" " * 18) is None


@pytest.mark.parametrize(
    "bad", ["2026", "20261325   Z000000", "2026112X   Z173144", "20261125 EST173144"]
)
def test_parse_date_errors(bad):
    with pytest.raises(ProtocolError):
        p.parse_date(bad)


@given(st.datetimes(min_value=datetime(1900, 1, 1), timezones=st.just(UTC)))
def test_date_round_trip(dt):
    dt = dt.replace(microsecond=0)
    assert p.parse_date(p.format_date(dt)) == dt


# --- masking ------------------------------------------------------------------

PIN = "pin-secret-7391"
PASSWORD = "hunter2-password"


def test_mask_hides_pin_password_and_patron_identifier():
    login = Message(
        "93",
        {"uid_algorithm": "0", "pwd_algorithm": "0"},
        [("CN", "selfcheck1"), ("CO", PASSWORD), ("CP", "Main")],
    )
    patron = sample("63", [("AO", "Main"), ("AA", "P0001"), ("AC", "term-pass"), ("AD", PIN)])
    for msg in (login, patron):
        text = p.mask(msg)
        for secret in (PIN, PASSWORD, "P0001", "term-pass"):
            assert secret not in text
            assert secret not in repr(msg)
    assert "selfcheck1" in p.mask(login)  # CN, the machine's user id, is kept
    assert "COpass" not in p.mask(login)
    assert "CO***" in p.mask(login)
    assert "AD***" in p.mask(patron)


@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=6, max_size=30),
    field_id=st.sampled_from(sorted(p.MASKED_FIELDS)),
)
def test_mask_never_shows_masked_values(secret, field_id):
    msg = sample("63", [("AO", "MAIN"), (field_id, secret), ("AF", "HELLO 123")])
    assert secret not in p.mask(msg)
    assert secret not in repr(msg)
    # Masking does not reveal the length either.
    assert p.mask(msg) == p.mask(
        sample("63", [("AO", "MAIN"), (field_id, "x"), ("AF", "HELLO 123")])
    )


# --- properties ---------------------------------------------------------------


@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda code, rest: code.encode() + rest,
            st.sampled_from(sorted(ALL_CODES)),
            st.binary(max_size=300),
        ),
        st.builds(
            lambda code, rest: code.encode() + rest.encode("utf-8", "surrogatepass"),
            st.sampled_from(sorted(ALL_CODES)),
            st.text(alphabet="AYZ0123456789|\r\n F", max_size=60),
        ),
    ),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
    require_checksum=st.booleans(),
)
def test_parse_arbitrary_bytes_raises_only_protocol_errors(data, encoding, require_checksum):
    try:
        msg = p.parse(data, encoding=encoding, require_checksum=require_checksum)
    except ProtocolError:
        return
    assert isinstance(msg, Message)
    assert msg.code in ALL_CODES


VALUE = st.text(
    alphabet=st.characters(blacklist_characters="|\r\n", blacklist_categories=("Cs",)),
    max_size=40,
)
FIELD_ID = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=2, max_size=2).filter(
    lambda fid: fid not in ("AY", "AZ")
)


@st.composite
def messages(draw, alphabet=None):
    code = draw(st.sampled_from(sorted(ALL_CODES)))
    chars = (
        alphabet
        if alphabet is not None
        else st.characters(blacklist_characters="|\r\n", blacklist_categories=("Cs",))
    )
    fixed = {
        name: draw(st.text(alphabet=chars, min_size=length, max_size=length))
        for name, length in p.MESSAGES[code].fixed
    }
    values = st.text(alphabet=chars, max_size=40)
    field_list = draw(st.lists(st.tuples(FIELD_ID, values), max_size=8))
    sequence = draw(st.one_of(st.none(), st.integers(0, 9)))
    return Message(code, fixed, field_list, sequence)


@given(msg=messages(), crlf=st.booleans())
def test_round_trip_generated_messages(msg, crlf):
    terminator = b"\r\n" if crlf else b"\r"
    if msg.sequence is None:
        data = p.build(msg, error_detection=False, terminator=terminator)
    else:
        data = p.build(msg, terminator=terminator)
    assert p.parse(data, require_checksum=msg.sequence is not None) == msg


LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="|\x7f")


@given(msg=messages(alphabet=LATIN1))
def test_round_trip_generated_latin1_messages(msg):
    data = p.build(msg, encoding="latin-1")
    assert p.parse(data, encoding="latin-1") == Message(
        msg.code, msg.fixed, msg.fields, 0 if msg.sequence is None else msg.sequence
    )


@given(msg=messages())
def test_corrupted_byte_is_detected_or_rejected(msg):
    data = bytearray(p.build(msg))
    # Flip the lowest bit of the first fixed/field byte (or the code).
    index = 2 if len(data) > 12 else 0
    data[index] ^= 0x01
    with pytest.raises(ProtocolError):
        p.parse(bytes(data), require_checksum=True)


# --- no Django --------------------------------------------------------------


def test_importing_the_codec_does_not_import_django():
    src = Path(__file__).resolve().parents[2] / "src"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import shelfguard.sip2.protocol; assert 'django' not in sys.modules",
        ],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
