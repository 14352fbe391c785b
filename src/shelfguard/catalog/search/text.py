"""Normalising, tokenising and query building shared by both search backends.

Both backends index exactly the tokens made here and are queried with exactly
the tokens made here, which is what lets SQLite and PostgreSQL find the same
records for the same query. The databases' own text machinery is kept out of
the way: FTS5's unicode61 tokenizer is configured to split on spaces only (see
the migration), and on PostgreSQL the tsvector and tsquery are written as
literals, so neither the text-search parser nor the database locale can split
or alter a token.

A user's query is always literal text. It is reduced to tokens first and the
FTS5 MATCH expression or tsquery is then written from those tokens, each one
quoted, so no character the user types can reach either query language.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stdnum import isbn as stdnum_isbn
from stdnum.exceptions import ValidationError

from shelfguard.catalog.search import SearchError

# The indexed columns, in FTS5 column order. What goes into each is decided by
# `build_document`.
COLUMNS: tuple[str, ...] = ("title", "authors", "subjects", "isbn", "notes")

# Relative importance of a match in each column: bm25 weights on SQLite and,
# scaled to 0..1, the ts_rank_cd weights on PostgreSQL. Title matters most.
RANK_WEIGHTS: dict[str, float] = {
    "title": 10.0,
    "authors": 4.0,
    "subjects": 4.0,
    "isbn": 4.0,
    "notes": 1.0,
}

# PostgreSQL has four weight labels for five columns. The ISBN column gets a
# label of its own (C) because an ISBN query is restricted to it by label;
# authors and subjects, which rank alike, share B.
PG_WEIGHT_LABELS: dict[str, str] = {
    "title": "A",
    "authors": "B",
    "subjects": "B",
    "isbn": "C",
    "notes": "D",
}

# A token longer than this is cut to this length, in documents and queries
# alike. It keeps a PostgreSQL lexeme far below its 2 KB limit; no real word
# comes near it.
MAX_TOKEN_CHARS = 64

# At most this many tokens of each column are indexed. PostgreSQL clamps word
# positions at 16383, which would make phrase matching near the end of a huge
# record behave differently from SQLite; these caps (plus one gap position per
# column) keep every position below that, and both backends apply them.
COLUMN_TOKEN_LIMITS: dict[str, int] = {
    "title": 512,
    "authors": 512,
    "subjects": 1024,
    "isbn": 64,
    "notes": 8192,
}

# Characters of the scripts written without spaces between words, which are
# tokenised as overlapping bigrams (see `_cjk_tokens`). Only letters and marks
# are listed: punctuation inside these blocks, such as the katakana middle dot
# that separates the parts of a foreign name, stays a separator.
_CJK_CHARS = (
    "\u1100-\u11ff"  # Hangul Jamo
    "\u3005-\u3007"  # ideographic iteration mark, closing mark, number zero
    "\u3021-\u3029\u3038-\u303c"  # Hangzhou numerals, more iteration marks
    "\u3041-\u3096\u3099\u309a\u309d-\u309f"  # Hiragana, combining voicing marks
    "\u30a1-\u30fa\u30fc-\u30ff"  # Katakana (without the double hyphen and middle dot)
    "\u3105-\u312f\u31a0-\u31bf"  # Bopomofo
    "\u3131-\u318e"  # Hangul compatibility Jamo
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK unified ideographs extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\ua960-\ua97c"  # Hangul Jamo extended A
    "\uac00-\ud7a3"  # Hangul syllables
    "\ud7b0-\ud7c6\ud7cb-\ud7fb"  # Hangul Jamo extended B
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U0001b000-\U0001b16f"  # Kana supplement and extensions
    "\U00020000-\U0003fffd"  # extensions B and later, compatibility supplement
)

# Combining marks that are diacritics to be removed after canonical
# decomposition, so that "Étude" matches "etude", "Việt" matches "viet" and
# pointed Hebrew or vowelled Arabic matches the plain spelling. Only marks of
# these blocks are removed: the vowel signs of Indic scripts and the kana
# voicing marks are parts of letters, not decoration, and are kept.
_DIACRITIC_BLOCKS = (
    (0x0300, 0x036F),  # combining diacritical marks
    (0x0591, 0x05C7),  # Hebrew points and cantillation
    (0x0610, 0x061A),  # Arabic honorifics
    (0x064B, 0x065F),  # Arabic vowel marks (harakat)
    (0x0670, 0x0670),  # Arabic superscript alef
    (0x06D6, 0x06ED),  # Arabic Quranic annotation marks
    (0x1AB0, 0x1AFF),  # combining diacritical marks extended
    (0x1DC0, 0x1DFF),  # combining diacritical marks supplement
    (0x20D0, 0x20FF),  # combining marks for symbols
    (0xFE00, 0xFE0F),  # variation selectors: same letter, another glyph
    (0xFE20, 0xFE2F),  # combining half marks
    (0xE0100, 0xE01EF),  # ideographic variation selectors
)

# Letters with a built-in stroke or ligature that canonical decomposition does
# not split, folded the way catalogue users type them.
_LETTER_FOLDS = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ŧ": "t", "æ": "ae", "œ": "oe"}
)

# "ISBN", "ISBN-10", "ISBN13:" and the like before a number typed as a query.
_ISBN_LABEL = re.compile(r"^isbn(?:[-\s]?1[03])?\s*:?\s*", re.IGNORECASE)

# A word of normalised (hence lower-case) ASCII text.
_ASCII_WORD = re.compile(r"[a-z0-9]+")


def _ranges(pairs: Iterable[tuple[int, int]]) -> str:
    """A regular-expression character class body for these code point ranges."""
    return "".join(f"{chr(lo)}-{chr(hi)}" if lo != hi else chr(lo) for lo, hi in pairs)


def _collapse(code_points: Iterable[int]) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    for cp in code_points:
        if pairs and pairs[-1][1] == cp - 1:
            pairs[-1] = (pairs[-1][0], cp)
        else:
            pairs.append((cp, cp))
    return pairs


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(diacritics to strip, token scanner), built on first use.

    Python's `re` has no Unicode category classes, so the combining marks are
    collected from `unicodedata` once (about 10 ms) rather than at import time.
    """
    diacritics = [
        cp
        for lo, hi in _DIACRITIC_BLOCKS
        for cp in range(lo, hi + 1)
        if unicodedata.category(chr(cp)) == "Mn"
    ]
    # Marks (vowel signs, viramas, ...) belong to the word they are written in,
    # though `\w` leaves them out. Every mark left after stripping diacritics
    # is in the first two planes. The possessive quantifiers stop the engine
    # from backtracking through the alternatives of a long word.
    marks = [cp for cp in range(0x20000) if unicodedata.category(chr(cp)).startswith("M")]
    strip = re.compile(f"[{_ranges(_collapse(diacritics))}]+")
    scanner = re.compile(
        f"(?P<cjk>[{_CJK_CHARS}]+)"
        f"|(?P<word>(?:[^\\W_{_CJK_CHARS}]++[{_ranges(_collapse(marks))}]*+)++)"
    )
    return strip, scanner


def normalise(text: str) -> str:
    """NFKC, case-folded, without diacritics: the form every token is taken from."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return text
    strip, _ = _patterns()
    # Decompose so diacritics become separate marks, drop them, and compose
    # again: Hangul syllables and voiced kana decompose too and must come back.
    text = strip.sub("", unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFC", text).translate(_LETTER_FOLDS)


def _pieces(normalised: str) -> Iterator[tuple[str, bool]]:
    """The words and CJK runs of normalised text, in order: (text, is_cjk)."""
    if normalised.isascii():
        # Most catalogue text is plain ASCII, for which this is several times
        # faster and gives the same words.
        for word in _ASCII_WORD.findall(normalised):
            yield word, False
        return
    _, scanner = _patterns()
    for match in scanner.finditer(normalised):
        yield match.group(), match.lastgroup == "cjk"


def _cjk_tokens(run: str) -> list[str]:
    """Overlapping bigrams of a CJK run, then its last character alone.

    Chinese and Japanese are written without spaces and there is no
    dictionary here to find word boundaries, so every pair of neighbouring
    characters is indexed instead. A query of two or more characters becomes
    the phrase of its own bigrams, which matches exactly the runs that contain
    it (substring semantics) without a dictionary. The lone last character
    makes the token stream one token per character, so every character starts
    some token, and a one-character query can be the prefix query `字*`.
    """
    return [run[i : i + 2] for i in range(len(run))]


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def tokenise(text: str) -> list[str]:
    """The tokens of a text as indexed: words, and bigrams for CJK runs."""
    tokens: list[str] = []
    for piece, cjk in _pieces(normalise(text)):
        if cjk:
            tokens.extend(_cjk_tokens(piece))
        else:
            tokens.append(piece[:MAX_TOKEN_CHARS])
    return tokens


def isbn_tokens(isbns: Iterable[str]) -> list[str]:
    """Each valid ISBN in its ISBN-13 form and, where one exists, its ISBN-10 form."""
    tokens: list[str] = []
    for value in isbns:
        try:
            thirteen = stdnum_isbn.validate(str(value), convert=True)
        except ValidationError:
            continue
        tokens.append(thirteen)
        # Only 978 ISBNs have a 10-digit form; 979 ones were never issued as ISBN-10.
        if thirteen.startswith("978"):
            tokens.append(_isbn10(thirteen))
    return tokens


def _isbn10(isbn13: str) -> str:
    """The ISBN-10 of a valid 978 ISBN-13, lower case.

    Computed here because the library's own conversion validates the number
    again and costs more than the rest of a record's tokenising.
    """
    body = isbn13[3:12]
    check = sum(weight * int(digit) for weight, digit in enumerate(body, start=1)) % 11
    return body + ("x" if check == 10 else str(check))


# The Record fields a document is made from (besides the id).
DOCUMENT_FIELDS: tuple[str, ...] = (
    "title",
    "vernacular_title",
    "authors",
    "subjects",
    "isbns",
    "publisher",
    "edition",
    "responsibility",
    "notes",
)


def build_document(record: Mapping[str, Any]) -> dict[str, list[str]]:
    """The tokens of one record, per column (see COLUMNS), from its DOCUMENT_FIELDS."""
    columns = {
        # The 880 vernacular title (e.g. the Chinese script form of a
        # romanised title) is searched as title.
        "title": tokenise(f"{record['title']}\n{record['vernacular_title']}"),
        "authors": tokenise("\n".join(str(a) for a in record["authors"])),
        "subjects": tokenise("\n".join(str(s) for s in record["subjects"])),
        "isbn": isbn_tokens(record["isbns"]),
        "notes": tokenise(
            "\n".join(record[name] for name in ("publisher", "edition", "responsibility", "notes"))
        ),
    }
    return {name: tokens[: COLUMN_TOKEN_LIMITS[name]] for name, tokens in columns.items()}


@dataclass(frozen=True)
class Phrase:
    """Tokens that must follow one another in one column; the last may be a prefix."""

    tokens: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query: every phrase must match. `isbn`: match the ISBN column only."""

    phrases: tuple[Phrase, ...]
    isbn: bool = False


def _phrase(pieces: Sequence[tuple[str, bool]]) -> Phrase:
    tokens: list[str] = []
    prefix = False
    for index, (piece, cjk) in enumerate(pieces):
        if not cjk:
            tokens.append(piece[:MAX_TOKEN_CHARS])
        elif index < len(pieces) - 1:
            # More of the phrase follows, so the document's run must end where
            # this one does: match its closing single character too.
            tokens.extend(_cjk_tokens(piece))
        elif len(piece) == 1:
            # A lone character may start a longer run in the document: any
            # token beginning with it (a bigram, or the run's last character).
            tokens.append(piece)
            prefix = True
        else:
            # After a bigram the document always has a token starting with its
            # second character, so the bigrams alone give substring matching.
            tokens.extend(_bigrams(piece))
    return Phrase(tuple(tokens), prefix)


def _segments(text: str) -> Iterator[tuple[str, bool]]:
    """Split on double quotes: (segment, quoted). An unpaired quote is just a separator."""
    parts = text.split('"')
    unpaired = len(parts) % 2 == 0
    for index, part in enumerate(parts):
        quoted = index % 2 == 1 and not (unpaired and index == len(parts) - 1)
        yield part, quoted


def parse_query(text: str, *, max_length: int) -> Query | None:
    """The query a user typed, as phrases of tokens; None when it has no tokens.

    A query that is a valid ISBN (with or without hyphens or an "ISBN" label)
    looks in the ISBN column only. Otherwise every word, and every CJK run,
    must occur somewhere in the record; text in double quotes must occur as a
    phrase. Nothing else the user types has any meaning.
    """
    if len(text) > max_length:
        raise SearchError(
            f"The search text is {len(text)} characters long; the limit is {max_length}. "
            "Use fewer words."
        )
    text = unicodedata.normalize("NFKC", text).strip()
    candidate = _ISBN_LABEL.sub("", text)
    if stdnum_isbn.is_valid(candidate):
        number = stdnum_isbn.compact(candidate).lower()
        return Query(phrases=(Phrase((number,)),), isbn=True)

    phrases: list[Phrase] = []
    for segment, quoted in _segments(text):
        pieces = list(_pieces(normalise(segment)))
        if quoted and pieces:
            phrases.append(_phrase(pieces))
        else:
            phrases.extend(_phrase([piece]) for piece in pieces)
    if not phrases:
        return None
    # The same word twice adds nothing but work.
    return Query(phrases=tuple(dict.fromkeys(phrases)))


def _fts5_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def fts5_match(query: Query) -> str:
    """The FTS5 MATCH expression for a query: each phrase one quoted string.

    Inside an FTS5 string every character is literal, and the spaces between
    our tokens are the only separators the index's tokenizer knows, so the
    string is exactly the phrase of our tokens. `*` after a string makes its
    last token a prefix.
    """
    terms = [
        _fts5_string(" ".join(phrase.tokens)) + (" *" if phrase.prefix else "")
        for phrase in query.phrases
    ]
    expression = " AND ".join(terms)
    return f"isbn : {expression}" if query.isbn else expression


def pg_quote(token: str) -> str:
    """A token as a quoted tsvector/tsquery lexeme."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery(query: Query) -> str:
    """The tsquery literal for a query: quoted lexemes, `<->` within a phrase, `:*` prefix.

    It is cast with `::tsquery`, not passed to to_tsquery(), so the lexemes
    are taken as written and never re-parsed.
    """
    isbn_label = PG_WEIGHT_LABELS["isbn"] if query.isbn else ""
    terms: list[str] = []
    for phrase in query.phrases:
        lexemes = [pg_quote(token) for token in phrase.tokens]
        if phrase.prefix or isbn_label:
            lexemes[-1] += ":" + ("*" if phrase.prefix else "") + isbn_label
        terms.append("(" + " <-> ".join(lexemes) + ")")
    return " & ".join(terms)


def tsvector_literal(document: dict[str, list[str]]) -> str:
    """The tsvector literal for a document: each lexeme with its weighted positions.

    Positions run on from column to column with one unused position between
    columns, so a phrase (`<->`, distance exactly 1) never spans two columns,
    as in FTS5 where a phrase matches within one column.
    """
    positions: dict[str, list[str]] = {}
    position = 1
    for column in COLUMNS:
        label = PG_WEIGHT_LABELS[column]
        for token in document[column]:
            positions.setdefault(token, []).append(f"{position}{label}")
            position += 1
        position += 1
    # PostgreSQL keeps at most 256 positions of one lexeme; a word repeated
    # more often than that in one record only loses phrase matches after it.
    return " ".join(f"{pg_quote(token)}:{','.join(found)}" for token, found in positions.items())
