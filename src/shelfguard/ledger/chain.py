"""The chain's arithmetic: validating an entry, encoding it canonically, hashing it.

Pure functions, no database: `services.append` uses them to write an entry and
`verify` uses the very same ones to recompute it, so the two cannot drift.

An entry's hash is SHA-256 over the previous entry's hash (64 hex digits, so
the concatenation is unambiguous) followed by the entry's canonical encoding:
sorted-key JSON with no whitespace, every string JSON-escaped and ASCII-only,
the time in UTC with microseconds. Because every value is escaped rather than
concatenated, no value (an origin with a newline, a terminal name with ANSI
escapes) can forge a second entry or a field boundary, in the hash input or
in anything printed from it.

`fields` and `detail` are stored as their canonical JSON text (see
`models.CanonicalJSONField`), so the bytes in the database are exactly the
bytes that were hashed: no database-side normalisation (PostgreSQL's jsonb
reorders keys and rewrites numbers) can change them, and verification splices
the stored text in without parsing it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring_ascii as _quote  # the C implementation when built
from typing import Any

from shelfguard.ledger.errors import InvalidEntry

#: The `prev_hash` of entry 1.
GENESIS = "0" * 64
#: Bumped if the canonical encoding ever changes; it is part of every hashed entry.
FORMAT_VERSION = 1

CHANNELS = frozenset({"web", "api", "sip2", "cli", "job"})

ACTION_MAX = 64
ACTOR_KIND_MAX = 16
ACTOR_ID_MAX = 150
PURPOSE_MAX = 200
ORIGIN_MAX = 255
FIELD_MAX = 64
DETAIL_MAX_CHARS = 2048
DETAIL_STRING_MAX = 200
DETAIL_LIST_MAX = 50
# Integers beyond 64 bits would not survive every JSON reader the ledger is shipped to.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1

_ACTION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+\Z")
_ACTOR_KIND = re.compile(r"[a-z][a-z0-9_-]*\Z")
_FIELD = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*\Z")
_DETAIL_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")

# Characters refused in codes and identities: controls (newline, ESC, ...), format
# characters (bidirectional overrides that make text display in another order),
# surrogates, and the Unicode line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _invalid(message: str) -> InvalidEntry:
    return InvalidEntry(message)


def _has_refused_character(value: str) -> bool:
    return any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in value)


def storable_text(value: str) -> str:
    """`value` with what neither database can store as text replaced by U+FFFD.

    PostgreSQL text cannot hold NUL and neither database accepts unpaired
    surrogates (they are not UTF-8). Text from outside (origins, terminal
    names) is kept as given otherwise: control characters stay in the data and
    are escaped wherever it is shown, so an attacker gains nothing by sending
    them and a refused value cannot make an action go unrecorded.
    """
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
    return value


def check_action(action: Any) -> str:
    if not isinstance(action, str) or len(action) > ACTION_MAX or not _ACTION.match(action):
        raise _invalid(
            f"Ledger action {action!r} is not a code like 'patron.reveal' "
            f"(lower-case words joined by dots, at most {ACTION_MAX} characters)."
        )
    return action


def check_purpose(purpose: Any) -> str:
    if not isinstance(purpose, str) or not purpose.strip():
        raise _invalid("A ledger entry needs a purpose: nobody reads patron data without one.")
    if len(purpose) > PURPOSE_MAX or _has_refused_character(purpose):
        raise _invalid(
            f"Ledger purpose {purpose!r} must be at most {PURPOSE_MAX} printable characters "
            "(no control, format or line-separator characters)."
        )
    return purpose


def check_actor(actor: Any) -> tuple[str, str, str]:
    """(kind, ident, channel) of an `Actor`, refused if any part could mislead a reader."""
    kind = getattr(actor, "kind", None)
    ident = getattr(actor, "ident", None)
    channel = getattr(actor, "channel", None)
    if not isinstance(kind, str) or len(kind) > ACTOR_KIND_MAX or not _ACTOR_KIND.match(kind):
        raise _invalid(f"Actor kind {kind!r} is not a short lower-case code such as 'staff'.")
    if not isinstance(ident, str) or len(ident) > ACTOR_ID_MAX or _has_refused_character(ident):
        raise _invalid(f"Actor ident must be text of at most {ACTOR_ID_MAX} printable characters.")
    if channel not in CHANNELS:
        raise _invalid(f"Actor channel {channel!r} is not one of {', '.join(sorted(CHANNELS))}.")
    return kind, ident, channel


def check_patron_id(patron_id: Any) -> int | None:
    if patron_id is None:
        return None
    # bool is an int subclass; True as a patron id is always a bug.
    if (
        isinstance(patron_id, bool)
        or not isinstance(patron_id, int)
        or not 0 < patron_id <= _INT_MAX
    ):
        raise _invalid(f"patron_id must be a positive integer id or None, not {patron_id!r}.")
    return patron_id


def fields_json(fields: Iterable[str]) -> str:
    """The canonical JSON of a set of field names: sorted, without repeats."""
    if isinstance(fields, (str, bytes)):
        # A bare string would be read as a list of one-letter fields.
        raise _invalid("fields must be a list of field names, not a single string.")
    names = set()
    for name in fields:
        if not isinstance(name, str) or len(name) > FIELD_MAX or not _FIELD.match(name):
            raise _invalid(
                f"Field name {name!r} is not a lower-case identifier such as 'email' or "
                "'address.postcode'."
            )
        names.add(name)
    return json.dumps(sorted(names), separators=(",", ":"), ensure_ascii=True)


def _detail_scalar(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise _invalid(f"detail[{key!r}] is outside the 64-bit integer range.")
        return value
    if isinstance(value, str):
        if len(value) > DETAIL_STRING_MAX:
            raise _invalid(f"detail[{key!r}] is longer than {DETAIL_STRING_MAX} characters.")
        return storable_text(value)
    # Floats are refused: their text form is not the same in every JSON reader,
    # so a shipped copy of an entry could hash differently.
    raise _invalid(
        f"detail[{key!r}] must be text, an integer, true/false or null, not {type(value).__name__}."
    )


def detail_json(detail: Mapping[str, Any] | None) -> str:
    """The canonical JSON of an entry's non-personal extras (counts, codes, ids)."""
    if detail is None:
        return "{}"
    if not isinstance(detail, Mapping):
        raise _invalid("detail must be a mapping of short keys to simple values.")
    clean: dict[str, Any] = {}
    for key, value in detail.items():
        if not isinstance(key, str) or not _DETAIL_KEY.match(key):
            raise _invalid(f"detail key {key!r} is not a lower-case identifier (max 32).")
        if isinstance(value, (list, tuple)):
            if len(value) > DETAIL_LIST_MAX:
                raise _invalid(f"detail[{key!r}] has more than {DETAIL_LIST_MAX} items.")
            clean[key] = [_detail_scalar(key, item) for item in value]
        else:
            clean[key] = _detail_scalar(key, value)
    text = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if len(text) > DETAIL_MAX_CHARS:
        raise _invalid(f"detail is larger than {DETAIL_MAX_CHARS} characters encoded.")
    return text


def clean_origin(origin: Any) -> str:
    """The request's origin as stored: outside input, so kept (escaped) rather than refused."""
    if origin is None:
        return ""
    if not isinstance(origin, str):
        raise _invalid("origin must be text (an IP address, terminal or host name).")
    return storable_text(origin[:ORIGIN_MAX])


def timestamp(at: dt.datetime) -> str:
    """The canonical time: UTC, ISO 8601, always with six fractional digits."""
    if at.tzinfo is None:
        raise _invalid("Ledger times must be timezone-aware (take them from core.clock).")
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def encode(
    seq: int,
    at: str,
    actor_kind: str,
    actor_id: str,
    channel: str,
    action: str,
    patron_id: int | None,
    fields: str,
    purpose: str,
    origin: str,
    detail: str,
) -> str:
    """The canonical encoding of one entry.

    `at` is `timestamp(...)`; `fields` and `detail` are already canonical JSON
    text. The result equals `json.dumps(entry, sort_keys=True,
    separators=(",", ":"), ensure_ascii=True)` of the entry as a dict (a test
    holds it to that). It is assembled by hand, positionally, because
    verification runs it a million times and re-parsing the stored JSON would
    triple its cost.
    """
    return (
        f'{{"action":{_quote(action)},"actor_id":{_quote(actor_id)},'
        f'"actor_kind":{_quote(actor_kind)},"at":{_quote(at)},"channel":{_quote(channel)},'
        f'"detail":{detail},"fields":{fields},"origin":{_quote(origin)},'
        f'"patron_id":{"null" if patron_id is None else int(patron_id)},'
        f'"purpose":{_quote(purpose)},"seq":{int(seq)},"v":{FORMAT_VERSION}}}'
    )


def link(prev_hash: str, encoded: str) -> str:
    """SHA-256 (hex) of the previous hash followed by this entry's canonical encoding."""
    return hashlib.sha256((prev_hash + encoded).encode("ascii")).hexdigest()
