"""A pure codec for SIP2 (3M Standard Interchange Protocol, version 2.00).

This module has no Django import and does no I/O, so it can be tested and
fuzzed on its own; the server part frames the byte stream and calls `parse()`
and `build()`.

Wire format of one message::

    <code: 2 digits><fixed-length fields><variable fields>[AY<seq>AZ<checksum>]<CR>

* Every variable field is a two-character identifier (uppercase letters or
  digits) followed by its value and ended by ``|``. `parse()` also accepts a
  last field without its ``|``, as some machines send it.
* Error detection: ``AY`` and one sequence digit, then ``AZ`` and the
  checksum, which is the 16-bit two's complement of the byte sum of everything
  up to and including ``AZ``, as 4 uppercase hex digits. ``AZ`` without ``AY``
  is accepted (`Message.sequence` is then None).
* The terminator is CR; a CR LF is accepted too. A message without any
  terminator is accepted as well: splitting the stream into messages is the
  server's job, so the codec is lenient here.
* Dates are 18 characters, ``YYYYMMDDZZZZHHMMSS``: ``ZZZZ`` is four blanks
  for the machine's local time or ``   Z`` for UTC.

Every problem with the input data raises `ProtocolError` (a bad checksum
raises its subclass `ChecksumError`); no other exception escapes `parse()` or
`build()` for bad data. An unusable *encoding argument* is a programming
error and raises ValueError.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime, tzinfo

__all__ = [
    "MASKED_FIELDS",
    "MAX_MESSAGE",
    "MESSAGES",
    "ChecksumError",
    "Message",
    "MessageSpec",
    "ProtocolError",
    "build",
    "checksum",
    "field",
    "fields",
    "format_date",
    "mask",
    "parse",
    "parse_date",
    "resend",
]

#: Longest message accepted or built, in bytes, terminator included.
MAX_MESSAGE = 4096

DATE_LEN = 18


class ProtocolError(ValueError):
    """The data is not a valid SIP2 2.00 message; the message says why."""


class ChecksumError(ProtocolError):
    """The AZ checksum is wrong, or missing where it is required."""


@dataclass(frozen=True)
class MessageSpec:
    code: str
    name: str
    #: The fixed-length fields, in wire order: (name, length).
    fixed: tuple[tuple[str, int], ...] = ()

    @property
    def fixed_length(self) -> int:
        return sum(length for _, length in self.fixed)


def _spec(code: str, name: str, *fixed: tuple[str, int]) -> MessageSpec:
    return MessageSpec(code, name, tuple(fixed))


_DATE = ("transaction_date", DATE_LEN)

#: Every message in scope, by code, with its fixed-length fields in order.
MESSAGES: dict[str, MessageSpec] = {
    spec.code: spec
    for spec in (
        _spec("93", "login", ("uid_algorithm", 1), ("pwd_algorithm", 1)),
        _spec("94", "login response", ("ok", 1)),
        _spec(
            "99",
            "SC status",
            ("status_code", 1),
            ("max_print_width", 3),
            ("protocol_version", 4),
        ),
        _spec(
            "98",
            "ACS status",
            ("online_status", 1),
            ("checkin_ok", 1),
            ("checkout_ok", 1),
            ("acs_renewal_policy", 1),
            ("status_update_ok", 1),
            ("offline_ok", 1),
            ("timeout_period", 3),
            ("retries_allowed", 3),
            ("date_time_sync", DATE_LEN),
            ("protocol_version", 4),
        ),
        _spec("23", "patron status request", ("language", 3), _DATE),
        _spec(
            "24",
            "patron status response",
            ("patron_status", 14),
            ("language", 3),
            _DATE,
        ),
        _spec("63", "patron information", ("language", 3), _DATE, ("summary", 10)),
        _spec(
            "64",
            "patron information response",
            ("patron_status", 14),
            ("language", 3),
            _DATE,
            ("hold_items_count", 4),
            ("overdue_items_count", 4),
            ("charged_items_count", 4),
            ("fine_items_count", 4),
            ("recall_items_count", 4),
            ("unavailable_holds_count", 4),
        ),
        _spec(
            "11",
            "checkout",
            ("sc_renewal_policy", 1),
            ("no_block", 1),
            _DATE,
            ("nb_due_date", DATE_LEN),
        ),
        _spec(
            "12",
            "checkout response",
            ("ok", 1),
            ("renewal_ok", 1),
            ("magnetic_media", 1),
            ("desensitize", 1),
            _DATE,
        ),
        _spec("09", "checkin", ("no_block", 1), _DATE, ("return_date", DATE_LEN)),
        _spec(
            "10",
            "checkin response",
            ("ok", 1),
            ("resensitize", 1),
            ("magnetic_media", 1),
            ("alert", 1),
            _DATE,
        ),
        _spec(
            "29",
            "renew",
            ("third_party_allowed", 1),
            ("no_block", 1),
            _DATE,
            ("nb_due_date", DATE_LEN),
        ),
        _spec(
            "30",
            "renew response",
            ("ok", 1),
            ("renewal_ok", 1),
            ("magnetic_media", 1),
            ("desensitize", 1),
            _DATE,
        ),
        _spec("65", "renew all", _DATE),
        _spec(
            "66",
            "renew all response",
            ("ok", 1),
            ("renewed_count", 4),
            ("unrenewed_count", 4),
            _DATE,
        ),
        _spec("17", "item information", _DATE),
        _spec(
            "18",
            "item information response",
            ("circulation_status", 2),
            ("security_marker", 2),
            ("fee_type", 2),
            _DATE,
        ),
        _spec("19", "item status update", _DATE),
        _spec(
            "20",
            "item status update response",
            ("item_properties_ok", 1),
            _DATE,
        ),
        _spec("15", "hold", ("hold_mode", 1), _DATE),
        _spec("16", "hold response", ("ok", 1), ("available", 1), _DATE),
        _spec("35", "end patron session", _DATE),
        _spec("36", "end session response", ("end_session", 1), _DATE),
        _spec(
            "37",
            "fee paid",
            _DATE,
            ("fee_type", 2),
            ("payment_type", 2),
            ("currency_type", 3),
        ),
        _spec("38", "fee paid response", ("payment_accepted", 1), _DATE),
        _spec("25", "patron enable", _DATE),
        _spec(
            "26",
            "patron enable response",
            ("patron_status", 14),
            ("language", 3),
            _DATE,
        ),
        _spec("01", "block patron", ("card_retained", 1), _DATE),
        _spec("97", "request ACS resend"),
        _spec("96", "request SC resend"),
    )
}

#: Fields that `mask()` hides: secrets (AD patron PIN, CO login password,
#: AC terminal password) and patron identity (AA patron identifier,
#: AE personal name, BD home address, BE e-mail, BF phone), and the item
#: lists of a patron information answer (AS hold, AT overdue, AU charged,
#: AV fine, BU recall, CD unavailable hold items), which would otherwise
#: put what someone borrows into a log. CN, the machine's login user id, is
#: kept: it names the machine, not a person.
MASKED_FIELDS = frozenset(
    {"AD", "CO", "AC", "AA", "AE", "BD", "BE", "BF", "AS", "AT", "AU", "AV", "BU", "CD"}
)
MASK = "***"

_FIELD_ID = re.compile(r"[A-Z0-9]{2}")
_TRAILER = re.compile(r"(?:AY([0-9]))?AZ([0-9A-Fa-f]{4})\Z")
_FORBIDDEN = ("|", "\r", "\n")


@dataclass(frozen=True, repr=False)
class Message:
    """One SIP2 message.

    `fixed` maps the fixed-length field names of `MESSAGES[code]` to their
    values; `fields` keeps the variable fields in wire order, repeats included
    (e.g. the AU/AT item lists). `sequence` is the AY digit, or None.
    """

    code: str
    fixed: dict[str, str] = dc_field(default_factory=dict)
    fields: list[tuple[str, str]] = dc_field(default_factory=list)
    sequence: int | None = None

    # The default repr would show the PIN and password in tracebacks and logs.
    def __repr__(self) -> str:
        return f"Message({mask(self)!r})"


def field(msg: Message, field_id: str, default: str | None = None) -> str | None:
    """The value of the first `field_id` field of `msg`, or `default`."""
    for fid, value in msg.fields:
        if fid == field_id:
            return value
    return default


def fields(msg: Message, field_id: str) -> list[str]:
    """The values of every `field_id` field of `msg`, in order."""
    return [value for fid, value in msg.fields if fid == field_id]


def checksum(payload: bytes) -> str:
    """The SIP2 checksum of `payload` (everything up to and including "AZ")."""
    return f"{-sum(payload) & 0xFFFF:04X}"


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
        ok = "AZ09|\r".encode(encoding) == b"AZ09|\r"
    except (LookupError, UnicodeError) as exc:
        raise ValueError(f"unusable SIP2 encoding {encoding!r}") from exc
    if not ok:
        raise ValueError(f"SIP2 encoding {encoding!r} is not ASCII-compatible")


def parse(
    data: bytes | str,
    *,
    encoding: str = "utf-8",
    require_checksum: bool = False,
) -> Message:
    """Decode one SIP2 message (terminator optional, see the module docstring)."""
    _check_encoding(encoding)
    if isinstance(data, str):
        try:
            raw = data.encode(encoding)
        except UnicodeEncodeError as exc:
            raise ProtocolError(f"message not encodable as {encoding}") from exc
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        raise ProtocolError(f"message must be bytes, not {type(data).__name__}")

    if len(raw) > MAX_MESSAGE:
        raise ProtocolError(f"message longer than {MAX_MESSAGE} bytes")
    if raw.endswith(b"\r\n"):
        raw = raw[:-2]
    elif raw.endswith(b"\r"):
        raw = raw[:-1]
    if b"\r" in raw or b"\n" in raw:
        raise ProtocolError("CR or LF inside the message")
    if not raw:
        raise ProtocolError("empty message")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"message is not valid {encoding}") from exc

    code = text[:2]
    spec = MESSAGES.get(code)
    if spec is None:
        raise ProtocolError(f"unknown message code {code!r}")
    end = 2 + spec.fixed_length
    if len(text) < end:
        raise ProtocolError(
            f"fixed part of message {code} too short: "
            f"{len(text) - 2} of {spec.fixed_length} characters"
        )
    fixed: dict[str, str] = {}
    pos = 2
    for name, length in spec.fixed:
        fixed[name] = text[pos : pos + length]
        pos += length
    if "|" in text[2:end]:
        raise ProtocolError(f"'|' inside the fixed part of message {code}")

    rest = text[end:]
    sequence: int | None = None
    trailer = _TRAILER.search(rest)
    if trailer is not None:
        # The trailer is ASCII and ends the message, so its 4 hex digits are
        # the last 4 bytes and everything before them is the checked payload.
        expected = checksum(raw[:-4])
        if int(trailer.group(2), 16) != int(expected, 16):
            raise ChecksumError(f"bad checksum {trailer.group(2)!r} (expected {expected!r})")
        if trailer.group(1) is not None:
            sequence = int(trailer.group(1))
        rest = rest[: trailer.start()]
    elif require_checksum:
        raise ChecksumError("message has no AZ checksum")

    return Message(code, fixed, _parse_fields(rest, code), sequence)


def _parse_fields(text: str, code: str) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        fid = text[pos : pos + 2]
        if not _FIELD_ID.fullmatch(fid):
            raise ProtocolError(
                f"bad field identifier {fid!r} at offset {pos} of the "
                f"variable part of message {code}"
            )
        if fid in ("AY", "AZ"):
            raise ProtocolError(f"{fid} is only allowed in the checksum trailer")
        bar = text.find("|", pos + 2)
        if bar == -1:  # a last field without its "|"
            bar = len(text)
        result.append((fid, text[pos + 2 : bar]))
        pos = bar + 1
    return result


def _check_value(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a str, not {type(value).__name__}")
    for bad in _FORBIDDEN:
        if bad in value:
            raise ProtocolError(f"{what} contains {bad!r}")
    return value


def build(
    msg: Message,
    *,
    encoding: str = "utf-8",
    error_detection: bool = True,
    terminator: bytes = b"\r",
) -> bytes:
    """Encode `msg`.

    With `error_detection`, ``AY<sequence>AZ<checksum>`` is appended (a
    sequence of None is sent as 0); without it no trailer is sent and
    `msg.sequence` is ignored.
    """
    _check_encoding(encoding)
    if terminator not in (b"\r", b"\r\n"):
        raise ValueError("the terminator must be CR or CR LF")
    spec = MESSAGES.get(msg.code)
    if spec is None:
        raise ProtocolError(f"unknown message code {msg.code!r}")
    names = [name for name, _ in spec.fixed]
    if set(msg.fixed) != set(names):
        missing = sorted(set(names) - set(msg.fixed))
        extra = sorted(set(msg.fixed) - set(names))
        raise ProtocolError(
            f"fixed fields of message {msg.code}: missing {missing}, unexpected {extra}"
        )
    parts = [msg.code]
    for name, length in spec.fixed:
        value = _check_value(f"fixed field {name}", msg.fixed[name])
        if len(value) != length:
            raise ProtocolError(
                f"fixed field {name} of message {msg.code} must be {length} "
                f"characters, not {len(value)}"
            )
        parts.append(value)
    for item in msg.fields:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise ProtocolError(f"field {item!r} is not an (identifier, value) pair")
        fid, value = item
        if not isinstance(fid, str) or not _FIELD_ID.fullmatch(fid):
            raise ProtocolError(f"bad field identifier {fid!r}")
        if fid in ("AY", "AZ"):
            raise ProtocolError(f"{fid} is added by build(), not a field")
        parts.append(fid + _check_value(f"field {fid}", value) + "|")
    try:
        payload = "".join(parts).encode(encoding)
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"message not encodable as {encoding}") from exc
    if error_detection:
        seq = 0 if msg.sequence is None else msg.sequence
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= 9:
            raise ProtocolError(f"sequence must be a digit 0-9, not {seq!r}")
        payload += f"AY{seq}AZ".encode("ascii")
        payload += checksum(payload).encode("ascii")
    payload += terminator
    if len(payload) > MAX_MESSAGE:
        raise ProtocolError(f"message longer than {MAX_MESSAGE} bytes")
    return payload


def resend() -> bytes:
    """A "request SC resend" (96) message, with its checksum."""
    return b"96AZ" + checksum(b"96AZ").encode("ascii") + b"\r"


def mask(msg: Message) -> str:
    """A log-safe, wire-like rendering of `msg` with `MASKED_FIELDS` hidden.

    Masked values become ``***`` whatever their length.
    """
    spec = MESSAGES.get(msg.code)
    order = [name for name, _ in spec.fixed] if spec else list(msg.fixed)
    fixed = "".join(str(msg.fixed.get(name, "")) for name in order)
    parts = [f"{msg.code} {fixed!r}"]
    for fid, value in msg.fields:
        parts.append(f"{fid}{MASK if fid in MASKED_FIELDS else value}|")
    if msg.sequence is not None:
        parts.append(f"AY{msg.sequence}")
    return " ".join(parts)


def format_date(dt: datetime) -> str:
    """`dt` (timezone-aware) as an 18-character SIP2 date in UTC."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("SIP2 dates need a timezone-aware datetime")
    utc = dt.astimezone(UTC)
    return utc.strftime("%Y%m%d") + "   Z" + utc.strftime("%H%M%S")


def parse_date(value: str, *, local_tz: tzinfo = UTC) -> datetime | None:
    """Parse an 18-character SIP2 date; all blanks give None.

    The zone ``   Z`` means UTC; four blanks mean the machine's local time,
    taken to be `local_tz`. Anything else raises ProtocolError.
    """
    if not isinstance(value, str) or len(value) != DATE_LEN:
        raise ProtocolError(f"a SIP2 date has {DATE_LEN} characters: {value!r}")
    if value.strip() == "":
        return None
    day, zone, clock = value[:8], value[8:12], value[12:]
    if zone == "   Z":
        tz: tzinfo = UTC
    elif zone == "    ":
        tz = local_tz
    else:
        raise ProtocolError(f"unsupported SIP2 time zone {zone!r}")
    if not (day.isascii() and day.isdigit() and clock.isascii() and clock.isdigit()):
        raise ProtocolError(f"bad SIP2 date {value!r}")
    try:
        naive = datetime.strptime(day + clock, "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise ProtocolError(f"bad SIP2 date {value!r}") from exc
    return naive.replace(tzinfo=tz)
