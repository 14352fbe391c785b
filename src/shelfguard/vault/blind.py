"""Blind indexes: finding sealed values by exact match without unsealing them.

`blind_index(kind, value)` normalises the value for its kind, computes
HMAC-SHA256 with that kind's subkey of the index key (`keys/index.key`, not
the master key), and truncates it to the length planned for the kind
(`sizing.py`). Truncation is deliberate: many values share each index value
(the CipherSweet sizing rule keeps at least two records per index value on
average), so an index narrows a search to a few candidates, which the
patrons service then unseals and compares, but never proves that two
records hold the same value. `docs/privacy/blind-indexes.md` says what
blind indexes leak and why the lengths are what they are.

An index value is `kind code (1 byte) || key version mod 256 (1 byte) ||
truncated HMAC`. The kind code makes values of different kinds unequal by
construction; the version byte tells which index key version a stored value
was made with (during an index key rotation both are live).

Kinds and their normalisation (equivalent spellings give the same index):

card        NFKC; spaces, hyphens and invisible format characters removed;
            upper case.
email       NFKC; surrounding space removed; lower case.
phone       digits only (any script's digits); a leading "+" or "00" (the
            international prefix) becomes "+" and is kept with the country
            code, and a "(0)" trunk prefix after it is dropped.
name_token  NFKC; case folded; diacritics (combining accents, and the
            strokes of ł, ø, đ, ħ, ŧ) removed; apostrophes removed.
address     NFKC; case folded; every run of white space and punctuation
            becomes one space, trimmed ("1 Demo Street, Sampletown" and
            "1 demo street  sampletown" are the same).
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable

from shelfguard.vault import sizing
from shelfguard.vault.keys import IndexKey, require_index_keyring

KINDS = sizing.KINDS

_APOSTROPHES = dict.fromkeys(map(ord, "'\u2018\u2019\u02bc\u02bb`\uff07"))
# Letters whose "diacritic" is part of the letter in Unicode (no decomposition).
_STROKES = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ƀ": "b", "ɨ": "i", "ı": "i", "ð": "d"}
)
_DIACRITIC_RANGES = (
    (0x0300, 0x036F),  # Combining Diacritical Marks
    (0x1AB0, 0x1AFF),  # ... Extended
    (0x1DC0, 0x1DFF),  # ... Supplement
    (0x20D0, 0x20FF),  # ... for Symbols
    (0xFE20, 0xFE2F),  # Combining Half Marks
)
# Kana voicing marks (U+3099, U+309A) and the vowel signs of Indic scripts
# are not in these ranges: they change the letter, not decorate it.

_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul Compatibility Jamo
    (0x31F0, 0x31FF),  # Katakana Phonetic Extensions
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xAC00, 0xD7AF),  # Hangul Syllables
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x3134F),  # CJK Extensions B-H
)


def _in(ranges: tuple[tuple[int, int], ...], ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in ranges)


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _card(value: str) -> str:
    text = _nfkc(value)
    kept = "".join(
        ch
        for ch in text
        if not (ch.isspace() or ch == "\u2212" or unicodedata.category(ch) in ("Pd", "Cf"))
    )
    return _nfkc(kept.upper())


def _email(value: str) -> str:
    return _nfkc(_nfkc(value).strip().lower())


def _digits(text: str) -> str:
    return "".join(
        str(unicodedata.decimal(ch)) for ch in text if unicodedata.decimal(ch, None) is not None
    )


def _phone(value: str) -> str:
    text = _nfkc(value).strip()
    plus = text.startswith("+")
    digits = _digits(text)
    if not (plus or digits.startswith("00")):
        return digits
    # International form. "+44 (0)20 ..." writes the national trunk prefix that
    # callers from abroad leave out; the number is the same without it.
    digits = _digits(text.replace("(0)", "", 1))
    if not plus:
        digits = digits[2:]  # "00" is the international prefix, as "+" is
    return "+" + digits


def _fold_name(value: str) -> str:
    text = _nfkc(_nfkc(value).casefold())
    text = "".join(
        ch for ch in unicodedata.normalize("NFD", text) if not _in(_DIACRITIC_RANGES, ch)
    )
    return unicodedata.normalize("NFC", text).translate(_STROKES).translate(_APOSTROPHES)


def _name_token(value: str) -> str:
    return _fold_name(value).strip()


def _address(value: str) -> str:
    text = _nfkc(_nfkc(value).casefold())
    words: list[str] = []
    run: list[str] = []
    for ch in text:
        if _is_word(ch):
            run.append(ch)
        elif run:
            words.append("".join(run))
            run = []
    if run:
        words.append("".join(run))
    return " ".join(words)


_NORMALISERS: dict[str, Callable[[str], str]] = {
    "card": _card,
    "email": _email,
    "phone": _phone,
    "name_token": _name_token,
    "address": _address,
}


def normalise(kind: str, value: str) -> str:
    """The canonical form of `value` for `kind` (what the index is computed over).

    ValueError for an unknown kind, a non-text value, or a value that is
    empty once normalised (an index of "nothing" would match every empty
    value). Messages never contain the value.
    """
    try:
        normaliser = _NORMALISERS[kind]
    except KeyError:
        raise ValueError(f"unknown blind index kind {kind!r}; kinds: {', '.join(KINDS)}") from None
    if not isinstance(value, str):
        raise TypeError("a blind index is computed over text (str)")
    canonical = normaliser(value)
    if not canonical or canonical == "+":
        raise ValueError(f"the {kind} value is empty once normalised")
    return canonical


def compute(key: IndexKey, kind: str, canonical: str) -> bytes:
    """The index of an already normalised value under one index key version."""
    bits = key.bits[kind]
    mac = hmac.new(key.subkey(kind), canonical.encode("utf-8"), hashlib.sha256).digest()
    if bits > len(mac) * 8:
        raise ValueError(f"index length for {kind} exceeds HMAC-SHA256's 256 bits")
    size = (bits + 7) // 8
    truncated = bytearray(mac[:size])
    # Keep only the planned number of bits; the rest of the last byte is zero.
    truncated[-1] &= (0xFF << (size * 8 - bits)) & 0xFF
    return bytes([sizing.KIND_CODES[kind], key.version % 256]) + bytes(truncated)


def blind_index(kind: str, value: str) -> bytes:
    """The index to store for `value` of `kind`.

    Made with the newest index key: during an index key rotation that is the
    incoming (pending) version, so that rows written while the rebuild runs
    are already in the form the rebuild converges to. To look values up,
    use `blind_index_candidates`, which also covers rows not yet rebuilt.
    """
    canonical = normalise(kind, value)
    return compute(require_index_keyring().for_storage, kind, canonical)


def blind_index_candidates(kind: str, value: str) -> list[bytes]:
    """Every index `value` of `kind` may be stored under, for lookups.

    One value normally; two during an index key rotation (the incoming
    version first). Use as `WHERE email_index IN (...)`.
    """
    canonical = normalise(kind, value)
    return [compute(key, kind, canonical) for key in require_index_keyring().for_lookup]


def lookup_candidates(kind: str, value: str) -> tuple[list[bytes], bool]:
    """`blind_index_candidates`, and whether a match needs no confirmation.

    The flag is True when every index key in use gives `kind` at least 64
    bits: a coincidence between two different values is then so unlikely
    (under 2^-64 per pair) that a match need not be confirmed by unsealing.
    One keyring read for both, since a look-up at the desk is hot.
    """
    canonical = normalise(kind, value)
    keys = require_index_keyring().for_lookup
    return [compute(key, kind, canonical) for key in keys], all(k.bits[kind] >= 64 for k in keys)


def index_function(key: IndexKey) -> Callable[[str, str], bytes]:
    """`blind_index` bound to one index key version (what a rebuild is given)."""

    def index(kind: str, value: str) -> bytes:
        return compute(key, kind, normalise(kind, value))

    return index


def index_version(index: bytes) -> int:
    """The index key version (mod 256) a stored index value was made with."""
    if len(index) < 3 or index[0] not in sizing.KIND_CODES.values():
        raise ValueError("not a blind index value")
    return index[1]


def _is_word(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def name_tokens(name: str) -> list[str]:
    """The normalised tokens of a name, to index each with kind `name_token`.

    Words are split at spaces, hyphens and other punctuation ("Smith-Jones"
    gives "smith" and "jones"; "O'Brien" gives "obrien"). A run of CJK
    characters (Han, kana, Hangul) is a token of its own and also gives each
    of its character bigrams, because CJK names are written without spaces:
    "王小明" gives "王小明", "王小", "小明", so a search for the given name
    "小明" finds it. Tokens appear once, in order of first appearance.
    """
    if not isinstance(name, str):
        raise TypeError("name_tokens() takes text (str)")
    folded = _fold_name(name)
    tokens: list[str] = []
    seen: set[str] = set()

    def add(token: str) -> None:
        if token and token not in seen:
            seen.add(token)
            tokens.append(token)

    def flush(run: list[str], cjk: bool) -> None:
        token = "".join(run)
        add(token)
        if cjk and len(token) > 2:
            for start in range(len(token) - 1):
                add(token[start : start + 2])

    run: list[str] = []
    run_cjk = False
    for ch in folded:
        if not _is_word(ch):
            if run:
                flush(run, run_cjk)
                run = []
            continue
        cjk = _in(_CJK_RANGES, ch)
        if run and cjk != run_cjk:
            flush(run, run_cjk)
            run = []
        run.append(ch)
        run_cjk = cjk
    if run:
        flush(run, run_cjk)
    return tokens
