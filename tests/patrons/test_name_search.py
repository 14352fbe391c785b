"""Search by name: every token must match, whatever the case, accents, order or spacing."""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shelfguard.patrons import services

from .conftest import BOTH_DATABASES, DESK, adult_values

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]

_cards = itertools.count(1)

# Name parts from Latin letters with and without accents, and CJK characters.
LATIN = "abcdefghijklmnopqrstuvwxyzàáâäçèéêëíîïñóôöøúûüłß"
word = st.text(alphabet=LATIN, min_size=2, max_size=10)
cjk_name = st.text(alphabet="王李张刘陈杨黄赵吴周小明华丽", min_size=2, max_size=4)


def register_named(name: str):
    values = adult_values(name=name, card_number=f"2901{next(_cards):07d}")
    return services.register(**values, actor=DESK)


def respell(text: str, data) -> str:
    """The same name as staff might type it: other case, decomposed accents, extra spaces."""
    case = data.draw(st.sampled_from([str.upper, str.lower, str.title, str]))
    form = data.draw(st.sampled_from(["NFC", "NFD"]))
    return unicodedata.normalize(form, case(text))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(word, min_size=1, max_size=3, unique=True), data=st.data())
def test_a_name_is_found_by_any_spelling_and_order_of_its_tokens(parts, data):
    patron = register_named(" ".join(parts))

    shuffled = data.draw(st.permutations(parts))
    query = "  ".join(respell(part, data) for part in shuffled)

    assert patron in services.search_by_name(query, limit=1000)
    some = data.draw(st.lists(st.sampled_from(parts), min_size=1, unique=True))
    assert patron in services.search_by_name(" ".join(some), limit=1000)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(word, min_size=1, max_size=3, unique=True))
def test_every_token_must_match(parts):
    patron = register_named(" ".join(parts))

    # "zz"+"q" cannot be a token of any generated name: the search must not return it.
    assert patron not in services.search_by_name(" ".join([*parts, "zzq"]), limit=1000)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=cjk_name)
def test_a_cjk_name_is_found_by_its_given_name(name):
    patron = register_named(name)

    assert patron in services.search_by_name(name, limit=1000)
    assert patron in services.search_by_name(name[-2:], limit=1000)


def test_examples(library):
    renee = register_named("Renée O'Brien-Smith")
    register_named("Rene Smith")

    assert services.search_by_name("renee obrien") == [renee]
    assert services.search_by_name("SMITH renée") == [renee]
    assert services.search_by_name("   ") == []
    assert services.search_by_name("!!!") == []


def test_search_limit(library):
    common = [register_named(f"Commonname Person{i}") for i in range(5)]

    assert services.search_by_name("commonname", limit=3) == common[:3]
