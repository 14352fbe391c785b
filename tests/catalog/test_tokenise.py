"""The tokeniser and query builder shared by both search backends (no database)."""

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelfguard.catalog.search import SearchError
from shelfguard.catalog.search.text import (
    Phrase,
    Query,
    build_document,
    fts5_match,
    isbn_tokens,
    normalise,
    parse_query,
    tokenise,
    tsquery,
    tsvector_literal,
)

LIMIT = 256


def parse(text: str) -> Query | None:
    return parse_query(text, max_length=LIMIT)


def phrase_in(phrase: Phrase, tokens: list[str]) -> bool:
    """What FTS5 and tsquery do with a phrase, in plain Python."""
    size = len(phrase.tokens)
    for start in range(len(tokens) - size + 1):
        window = tokens[start : start + size]
        if window[:-1] != list(phrase.tokens[:-1]):
            continue
        last, wanted = window[-1], phrase.tokens[-1]
        if last.startswith(wanted) if phrase.prefix else last == wanted:
            return True
    return False


def matches(query: Query, tokens: list[str]) -> bool:
    return all(phrase_in(phrase, tokens) for phrase in query.phrases)


def test_diacritics_and_case():
    assert tokenise("Étude in Ｂ MINOR") == ["etude", "in", "b", "minor"]
    assert tokenise("Việt Nam, Łódź, Encyclopædia") == ["viet", "nam", "lodz", "encyclopaedia"]


def test_hebrew_points_removed():
    assert tokenise("שָׁלוֹם") == tokenise("שלום")


def test_underscore_and_punctuation_split():
    assert tokenise("snake_case, dash-word (x)") == ["snake", "case", "dash", "word", "x"]


def test_indic_vowel_signs_stay_in_word():
    assert tokenise("हिन्दी साहित्य") == ["हिन्दी", "साहित्य"]


def test_chinese_bigrams_and_last_char():
    assert tokenise("图书馆") == ["图书", "书馆", "馆"]
    assert tokenise("书") == ["书"]


def test_japanese_kana_kept_and_middle_dot_separates():
    assert tokenise("が") == ["が"]
    assert tokenise("ジョン・スミス") == ["ジョ", "ョン", "ン", "スミ", "ミス", "ス"]


def test_hangul_survives_normalising():
    assert normalise("한국어") == "한국어"
    assert tokenise("한국어 교육") == ["한국", "국어", "어", "교육", "육"]


def test_mixed_scripts_split_into_runs():
    assert tokenise("Windows版2023年") == ["windows", "版", "2023", "年"]


def test_variation_selector_ignored():
    assert tokenise("葛\U000e0100城") == tokenise("葛城")


def test_isbn_both_forms():
    assert isbn_tokens(["9780306406157"]) == ["9780306406157", "0306406152"]
    assert isbn_tokens(["0-8044-2957-X"]) == ["9780804429573", "080442957x"]


def test_isbn_979_has_no_isbn10():
    assert isbn_tokens(["9791234567896"]) == ["9791234567896"]


def test_invalid_isbn_skipped():
    assert isbn_tokens(["9780306406158", "nonsense"]) == []


def test_isbn_query():
    for text in ["0-306-40615-2", "9780306406157", "978-0-306-40615-7", "ISBN 0306406152"]:
        query = parse(text)
        assert query is not None and query.isbn
    assert fts5_match(parse("0-306-40615-2")) == 'isbn : "0306406152"'
    assert tsquery(parse("978-0-306-40615-7")) == "('9780306406157':C)"


def test_isbn_x_lower_case():
    assert parse("080442957X").phrases[0].tokens == ("080442957x",)


def test_words_are_anded():
    assert fts5_match(parse("war peace")) == '"war" AND "peace"'
    assert tsquery(parse("war peace")) == "('war') & ('peace')"


def test_quoted_phrase():
    query = parse('"war and peace" tolstoy')
    assert query.phrases == (Phrase(("war", "and", "peace")), Phrase(("tolstoy",)))
    assert tsquery(query) == "('war' <-> 'and' <-> 'peace') & ('tolstoy')"


def test_unpaired_quote_is_literal():
    assert parse('war "peace') == parse("war peace")


def test_single_cjk_char_is_prefix():
    query = parse("字")
    assert query.phrases == (Phrase(("字",), prefix=True),)
    assert fts5_match(query) == '"字" *'
    assert tsquery(query) == "('字':*)"


def test_long_cjk_query_is_bigram_phrase():
    assert parse("人民共和").phrases == (Phrase(("人民", "民共", "共和")),)


def test_repeated_word_once():
    assert parse("the the").phrases == (Phrase(("the",)),)


def test_syntax_is_literal():
    query = parse("NEAR(a b) OR NOT c* ^d: 'e' -- \"f")
    assert (
        fts5_match(query)
        == '"near" AND "a" AND "b" AND "or" AND "not" AND "c" AND "d" AND "e" AND "f"'
    )


def test_empty_queries():
    for text in ["", "   ", "!!!", '""', "*", "()"]:
        assert parse(text) is None


def test_too_long():
    with pytest.raises(SearchError, match="limit is 256"):
        parse("a" * 257)
    assert parse("a" * 256) is not None


def test_tsvector_gap_between_columns():
    document = build_document(
        {
            "title": "War",
            "vernacular_title": "",
            "authors": ["Peace"],
            "subjects": [],
            "isbns": [],
            "publisher": "",
            "edition": "",
            "responsibility": "",
            "notes": "",
        }
    )
    assert tsvector_literal(document) == "'war':1A 'peace':3B"


WORDS = st.text(min_size=0, max_size=60)
# Characters users type that mean something to FTS5 or tsquery.
SYNTAX = set("\"*()':^&|!<>-+{}[],;\\%_ \t\n")
FTS5_EXPRESSION = re.compile(r'^(isbn : )?"[^"]+"( \*)?( AND "[^"]+"( \*)?)*$')
TSQUERY = re.compile(
    r"^\('[^']+'(:\*?C?)?( <-> '[^']+'(:\*)?)*\)( & \('[^']+'(:\*)?( <-> '[^']+'(:\*)?)*\))*$"
)


@given(WORDS)
def test_tokens_are_clean(text):
    for token in tokenise(text):
        assert token
        assert not SYNTAX & set(token)
        assert all(unicodedata.category(ch)[0] in "LNM" or ord(ch) > 0xFFFF for ch in token)


@given(WORDS)
def test_query_syntax_never_leaks(text):
    query = parse(text)
    if query is None:
        return
    for phrase in query.phrases:
        assert phrase.tokens
        for token in phrase.tokens:
            assert token and not SYNTAX & set(token)
    assert FTS5_EXPRESSION.match(fts5_match(query))
    assert TSQUERY.match(tsquery(query))


CJK = st.text(alphabet="中国人民历史文学书馆", min_size=1, max_size=12)


@given(CJK, st.data())
def test_cjk_substring_semantics(run, data):
    """A CJK query matches exactly the runs that contain it."""
    other = data.draw(CJK)
    tokens = tokenise(f"{run}。{other}")
    wanted = data.draw(st.text(alphabet="中国人民历史文学书馆", min_size=1, max_size=5))
    query = parse(wanted)
    assert matches(query, tokens) == (wanted in run or wanted in other)


@given(
    st.lists(
        st.sampled_from(["war", "peace", "and", "中国", "历史", "Étude"]), min_size=1, max_size=8
    ),
    st.data(),
)
def test_quoted_slice_matches(words, data):
    start = data.draw(st.integers(0, len(words) - 1))
    end = data.draw(st.integers(start + 1, len(words)))
    query = parse('"' + " ".join(words[start:end]) + '"')
    assert matches(query, tokenise(" ".join(words)))
