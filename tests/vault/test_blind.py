"""Blind indexes: normalisation, domain separation, truncation, CJK tokens, sizing."""

from __future__ import annotations

import math
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shelfguard.vault import blind, keyfiles, sizing
from shelfguard.vault.keys import index_keyring
from tests.vault.conftest import KEYSTORE

pytestmark = pytest.mark.django_db(databases=KEYSTORE)

reuse_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

card_chars = st.sampled_from("0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz")
separators = st.sampled_from([" ", "-", "\u2010", "\u2013", "\u00a0", "\u3000", "\u200b", "\u2212"])


@st.composite
def spelled(draw, alphabet, noise, min_size=1, max_size=20):
    """A value and a noisy spelling of it (noise characters inserted anywhere)."""
    chars = draw(st.lists(alphabet, min_size=min_size, max_size=max_size))
    noisy = []
    for ch in chars:
        noisy.extend(draw(st.lists(noise, max_size=2)))
        noisy.append(ch)
    noisy.extend(draw(st.lists(noise, max_size=2)))
    return "".join(chars), "".join(noisy)


# --- normalisation ---------------------------------------------------------------------------


@reuse_fixtures
@given(pair=spelled(card_chars, separators), upper=st.booleans())
def test_card_ignores_spacing_hyphens_and_case(keys, pair, upper):
    value, noisy = pair
    noisy = noisy.upper() if upper else noisy.lower()

    assert blind.normalise("card", noisy) == value.upper()
    assert blind.blind_index("card", noisy) == blind.blind_index("card", value)


def test_card_full_width_digits_equal_ascii(keys):
    assert blind.blind_index("card", "２９０１２ ３４５") == blind.blind_index("card", "29012345")


@reuse_fixtures
@given(
    local=st.from_regex(r"[A-Za-z0-9._%+-]{1,20}", fullmatch=True),
    domain=st.from_regex(r"[A-Za-z0-9-]{1,15}\.[A-Za-z]{2,6}", fullmatch=True),
    before=st.sampled_from(["", " ", "\t", "\u3000", "  "]),
    after=st.sampled_from(["", " ", "\n", "\u3000"]),
)
def test_email_ignores_surrounding_space_and_case(keys, local, domain, before, after):
    address = f"{local}@{domain}"
    variant = f"{before}{address.swapcase()}{after}"

    assert blind.blind_index("email", variant) == blind.blind_index("email", address.lower())


def test_email_nfkc_folds_full_width_forms(keys):
    assert blind.normalise("email", "ＡＤＡ＠ＥＸＡＭＰＬＥ．ＯＲＧ") == "ada@example.org"


@reuse_fixtures
@given(
    pair=spelled(st.sampled_from("0123456789"), st.sampled_from([" ", "-", ".", "(", ")", "/"])),
)
def test_phone_keeps_digits_only(keys, pair):
    digits, noisy = pair
    assume(not digits.startswith("00"))

    assert blind.normalise("phone", noisy) == digits
    assert blind.blind_index("phone", noisy) == blind.blind_index("phone", digits)


@pytest.mark.parametrize(
    "spelling",
    [
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "0044 20 7946 0958",
        "+44-20-7946-0958",
        "＋４４ ２０ ７９４６ ０９５８",
    ],
)
def test_phone_international_forms_agree(keys, spelling):
    assert blind.normalise("phone", spelling) == "+442079460958"


def test_phone_international_and_national_forms_stay_distinct(keys):
    # Turning a national number into an international one needs the country,
    # which the vault does not know: "020 ..." is not "+44 20 ...".
    assert blind.normalise("phone", "020 7946 0958") == "02079460958"
    assert blind.blind_index("phone", "020 7946 0958") != blind.blind_index(
        "phone", "+44 20 7946 0958"
    )


def test_phone_digits_of_other_scripts_count(keys):
    assert blind.normalise("phone", "٠١٢٣ ٤٥٦") == "0123456"


@reuse_fixtures
@given(word=st.from_regex(r"[a-z]{1,15}", fullmatch=True), data=st.data())
def test_name_token_ignores_case_and_accents(keys, word, data):
    accents = ["\u0301", "\u0300", "\u0308", "\u0302", "\u030c", "\u0327", "\u0303"]
    decorated = "".join(ch + data.draw(st.sampled_from(["", *accents])) for ch in word)
    decorated = unicodedata.normalize("NFC", decorated)
    decorated = decorated.upper() if data.draw(st.booleans()) else decorated

    assert blind.normalise("name_token", decorated) == word
    assert blind.blind_index("name_token", decorated) == blind.blind_index("name_token", word)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("Łukasz", "lukasz"),
        ("Søren", "soren"),
        ("STRAßE", "strasse"),
        ("O'Brien", "obrien"),
        ("O’Brien", "obrien"),
        ("İpek", "ipek"),
        ("Nguyễn", "nguyen"),
        ("ｶﾞｸ", "ガク"),
    ],
)
def test_name_token_folding(spelling, canonical):
    assert blind.normalise("name_token", spelling) == canonical


def test_name_token_keeps_kana_voicing_marks():
    # Dakuten make different sounds (が is not か); they are not accents.
    assert blind.normalise("name_token", "が") == "が"
    assert blind.normalise("name_token", "が") != blind.normalise("name_token", "か")


@given(kind=st.sampled_from(sizing.KINDS), value=st.text(max_size=30))
def test_normalisation_is_idempotent(kind, value):
    try:
        once = blind.normalise(kind, value)
    except ValueError:
        return
    assert blind.normalise(kind, once) == once


@pytest.mark.parametrize(
    ("kind", "value"),
    [(kind, blank) for kind in sizing.KINDS for blank in ("", "   ", "\u3000")]
    + [("card", "- -"), ("card", "\u200b"), ("phone", "+"), ("phone", "( ) -"), ("phone", "ext")],
)
def test_empty_values_are_refused(keys, kind, value):
    with pytest.raises(ValueError) as error:
        blind.blind_index(kind, value)
    assert "empty" in str(error.value)


def test_unknown_kind_is_refused(keys):
    with pytest.raises(ValueError):
        blind.blind_index("surname", "Smith")


# --- index values ------------------------------------------------------------------------------


@reuse_fixtures
@given(value=st.text(min_size=1, max_size=30))
def test_kinds_never_collide_on_the_same_value(keys, value):
    indexes = {}
    for kind in sizing.KINDS:
        try:
            indexes[kind] = blind.blind_index(kind, value)
        except ValueError:
            continue
    assert len(set(indexes.values())) == len(indexes)
    for kind, index in indexes.items():
        assert index[0] == sizing.KIND_CODES[kind]


def test_per_kind_subkeys_are_independent(keys):
    ring = index_keyring()
    key = ring.current
    assert len({key.subkey(kind) for kind in sizing.KINDS}) == len(sizing.KINDS)


@reuse_fixtures
@given(
    kind=st.sampled_from(sizing.KINDS),
    value=st.from_regex(r"[1-9][A-Za-z0-9]{0,19}", fullmatch=True),
)
def test_index_is_truncated_to_the_planned_bits(keys, kind, value):
    key = index_keyring().current
    bits = key.bits[kind]
    index = blind.blind_index(kind, value)

    body = index[2:]
    assert index[1] == key.version % 256
    assert len(body) == math.ceil(bits / 8)
    spare = len(body) * 8 - bits
    assert body[-1] & ((1 << spare) - 1) == 0


def test_index_key_file_holds_the_planned_lengths(keys):
    text = (keys / "index.key").read_text()
    version, _, params = keyfiles.parse_key_text(text, where="index.key", with_params=True)
    assert version == 1
    assert params == sizing.plan_bits(sizing.DEFAULT_POPULATION)
    assert oct((keys / "index.key").stat().st_mode & 0o777) == "0o600"


def test_indexes_spread_over_the_planned_space(keys):
    # With 12 bits there are 4096 index values: 20,000 distinct addresses must
    # share them (coincidences), using most of the space.
    bits = index_keyring().current.bits["email"]
    values = {blind.blind_index("email", f"reader{n}@example.org") for n in range(20_000)}
    assert len(values) > 0.9 * 2**bits
    assert len(values) <= 2**bits


def test_index_depends_on_the_index_key(home, monkeypatch, django_db_blocker):
    from shelfguard.vault.keys import ensure_keys

    ensure_keys(home)
    first = blind.blind_index("email", "ada@example.org")
    (home / "keys" / "index.key").unlink()
    monkeypatch.setenv(
        "SHELFGUARD_INDEX_KEY",
        keyfiles.format_key(1, b"\x07" * 32, sizing.plan_bits(sizing.DEFAULT_POPULATION)),
    )
    assert blind.blind_index("email", "ada@example.org") != first


def test_index_version_reads_the_version_byte(keys):
    index = blind.blind_index("card", "29012345")
    assert blind.index_version(index) == 1
    with pytest.raises(ValueError):
        blind.index_version(b"\x00\x01\x02")


def test_candidates_is_the_stored_index_when_no_rotation_runs(keys):
    assert blind.blind_index_candidates("email", "ada@example.org") == [
        blind.blind_index("email", "ada@example.org")
    ]


# --- name tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("Ada Lovelace", ["ada", "lovelace"]),
        ("  José   María  Núñez ", ["jose", "maria", "nunez"]),
        ("Smith-Jones, Mary-Ann", ["smith", "jones", "mary", "ann"]),
        ("O'Brien", ["obrien"]),
        ("J. R. R. Tolkien", ["j", "r", "tolkien"]),
        ("王小明", ["王小明", "王小", "小明"]),
        ("欧阳 娜娜", ["欧阳", "娜娜"]),
        ("山田 太郎", ["山田", "太郎"]),
        ("김민준", ["김민준", "김민", "민준"]),
        ("Lee王小明", ["lee", "王小明", "王小", "小明"]),
        ("ジョン・スミス", ["ジョン", "ジョ", "ョン", "スミス", "スミ", "ミス"]),
        ("", []),
        ("--", []),
    ],
)
def test_name_tokens(name, tokens):
    assert blind.name_tokens(name) == tokens


def test_a_given_name_search_finds_a_cjk_full_name(keys):
    stored = {blind.blind_index("name_token", t) for t in blind.name_tokens("王小明")}
    searched = {blind.blind_index("name_token", t) for t in blind.name_tokens("小明")}

    assert searched <= stored


@given(name=st.text(max_size=40))
def test_name_tokens_are_normalised_and_unique(name):
    tokens = blind.name_tokens(name)
    assert len(tokens) == len(set(tokens))
    for token in tokens:
        assert token
        assert blind.normalise("name_token", token) == token
        assert not any(ch.isspace() for ch in token)


@given(name=st.text(max_size=40))
def test_name_tokens_ignore_case_and_accents(name):
    decorated = unicodedata.normalize("NFD", name.upper())
    assert blind.name_tokens(decorated) == blind.name_tokens(name.upper())


# --- sizing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("population", "single", "name"),
    [(1_000, 8, 2), (10_000, 12, 4), (100_000, 15, 5), (1_000_000, 18, 6), (10_000_000, 22, 7)],
)
def test_plan_bits(population, single, name):
    plan = sizing.plan_bits(population)
    assert plan == {
        "card": sizing.UNIQUE_CARD_BITS,
        "email": single,
        "phone": single,
        "name_token": name,
        "address": single,
    }


def test_card_indexes_do_not_coincide(keys):
    values = {blind.blind_index("card", f"2901{n:08d}") for n in range(20_000)}
    assert len(values) == 20_000


@given(population=st.integers(min_value=sizing.MIN_POPULATION, max_value=10**9))
def test_plans_keep_at_least_two_coincidences(population):
    plan = sizing.plan_bits(population)
    assert sizing.coincidences(population, [plan["email"]]) >= 2
    assert sizing.coincidences(population, [plan["phone"]]) >= 2
    names = [plan["name_token"]] * sizing.NAME_TOKENS_PER_NAME
    assert sizing.coincidences(population, names) >= 2


@given(population=st.integers(min_value=8_192, max_value=16_000_000))
def test_the_default_plan_is_safe_and_useful_over_a_wide_range(population):
    bits = sizing.plan_bits(sizing.DEFAULT_POPULATION)["email"]
    c = sizing.coincidences(population, [bits])
    assert 2 <= c < math.sqrt(population)


def test_expected_population_comes_from_config_or_environment(home, monkeypatch):
    from shelfguard.vault.keys import expected_population

    assert expected_population(home) == sizing.DEFAULT_POPULATION
    (home / "shelfguard.toml").write_text("[privacy]\nexpected_patrons = 250_000\n")
    assert expected_population(home) == 250_000
    monkeypatch.setenv("SHELFGUARD_EXPECTED_PATRONS", "1000000")
    assert expected_population(home) == 1_000_000
