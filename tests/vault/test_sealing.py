"""Sealing: round trips for any text, binding to owner/field/key, fresh nonces, tamper evidence."""

from __future__ import annotations

import pickle
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shelfguard.vault import keystore, sealing
from shelfguard.vault.errors import KeyDestroyed, SealBroken, VaultError
from tests.vault.conftest import KEYSTORE

pytestmark = pytest.mark.django_db(databases=KEYSTORE)

# Hypothesis reuses the test's key across examples on purpose.
reuse_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

owners = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,40}", fullmatch=True)
fields = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:-]{0,30}", fullmatch=True)


@pytest.fixture
def key_id(keys) -> str:
    return keystore.new_data_key()


@reuse_fixtures
@given(text=st.text(), owner=owners, field=fields)
def test_any_text_round_trips(key_id, text, owner, field):
    sealed = sealing.seal(key_id, owner, field, text)

    assert sealing.unseal(key_id, owner, field, sealed) == text


@reuse_fixtures
@given(text=st.text(min_size=1, alphabet=st.characters(codec="utf-8")), owner=owners, field=fields)
def test_ciphertext_shows_nothing_of_the_text(key_id, text, owner, field):
    sealed = sealing.seal(key_id, owner, field, text)

    encoded = text.encode("utf-8")
    if len(encoded) >= 4:
        assert encoded not in sealed
    # format byte + 96-bit nonce + ciphertext (same length as the text) + 128-bit tag
    assert len(sealed) == 1 + 12 + len(encoded) + 16
    assert sealed[0] == sealing.SEAL_FORMAT


def test_empty_text_round_trips(key_id):
    sealed = sealing.seal(key_id, "patron:1", "name", "")
    assert sealing.unseal(key_id, "patron:1", "name", sealed) == ""


@reuse_fixtures
@given(owner=owners, other=owners, field=fields, text=st.text())
def test_a_value_moved_to_another_owner_does_not_open(key_id, owner, other, field, text):
    sealed = sealing.seal(key_id, owner, field, text)
    if other == owner:
        other = owner + "x" if len(owner) < 128 else owner[:-1]

    with pytest.raises(SealBroken):
        sealing.unseal(key_id, other, field, sealed)


@reuse_fixtures
@given(owner=owners, field=fields, other=fields, text=st.text())
def test_a_value_moved_to_another_field_does_not_open(key_id, owner, field, other, text):
    sealed = sealing.seal(key_id, owner, field, text)
    if other == field:
        other = field + "x" if len(field) < 64 else field[:-1]

    with pytest.raises(SealBroken):
        sealing.unseal(key_id, owner, other, sealed)


def test_owner_and_field_boundaries_are_unambiguous(key_id):
    # Without length prefixes "ab"+"c" and "a"+"bc" would give the same binding.
    sealed = sealing.seal(key_id, "ab", "c", "secret")

    with pytest.raises(SealBroken):
        sealing.unseal(key_id, "a", "bc", sealed)


def test_a_value_moved_to_another_owners_key_does_not_open(keys):
    first, second = keystore.new_data_key(), keystore.new_data_key()
    sealed = sealing.seal(first, "patron:1", "email", "ada@example.org")

    with pytest.raises(SealBroken):
        sealing.unseal(second, "patron:1", "email", sealed)


@reuse_fixtures
@given(text=st.text(max_size=40), position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_bit_breaks_the_seal(key_id, text, position, bit):
    sealed = bytearray(sealing.seal(key_id, "patron:7", "phone", text))
    sealed[position % len(sealed)] ^= 1 << bit

    with pytest.raises(SealBroken):
        sealing.unseal(key_id, "patron:7", "phone", bytes(sealed))


@reuse_fixtures
@given(cut=st.integers(min_value=0, max_value=40))
def test_truncated_or_empty_values_break_the_seal(key_id, cut):
    sealed = sealing.seal(key_id, "patron:7", "phone", "+44 20 7946 0958")

    with pytest.raises(SealBroken):
        sealing.unseal(key_id, "patron:7", "phone", sealed[:cut])


def test_every_seal_has_a_fresh_nonce(key_id):
    key = sealing.open_key(key_id)
    sealed = [key.seal("patron:1", "name", "Ada Lovelace") for _ in range(2000)]

    assert len({value[1:13] for value in sealed}) == len(sealed)
    assert len(set(sealed)) == len(sealed)
    assert {key.unseal("patron:1", "name", value) for value in sealed} == {"Ada Lovelace"}


def test_error_messages_never_contain_the_plaintext(key_id):
    secret = "Very Secret Street 221B"
    sealed = sealing.seal(key_id, "patron:3", "address", secret)

    with pytest.raises(SealBroken) as moved:
        sealing.unseal(key_id, "patron:4", "address", sealed)
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(SealBroken) as broken:
        sealing.unseal(key_id, "patron:3", "address", bytes(tampered))

    for error in (moved.value, broken.value):
        assert secret not in str(error)
        assert "Secret" not in repr(error)
        assert "patron:" in str(error)  # names the owner and field, by id


def test_memoryview_from_the_database_is_accepted(key_id):
    sealed = sealing.seal(key_id, "patron:1", "email", "ada@example.org")

    assert sealing.unseal(key_id, "patron:1", "email", memoryview(sealed)) == "ada@example.org"


@pytest.mark.parametrize("owner", ["", "ada@example.org", "Ada Lovelace", "x" * 129, "-lead"])
def test_owner_must_be_an_opaque_id(key_id, owner):
    with pytest.raises(ValueError) as error:
        sealing.seal(key_id, owner, "name", "Ada")
    assert owner not in str(error.value) or owner == ""


def test_unseal_refuses_a_lone_surrogate_when_sealing(key_id):
    with pytest.raises(ValueError):
        sealing.seal(key_id, "patron:1", "name", "\ud800")


def test_open_key_is_cached_and_cannot_be_pickled(key_id):
    key = sealing.open_key(key_id)

    assert sealing.open_key(key_id) is key
    assert str(key.key_id) == key_id
    assert repr(key) == f"<SealingKey {key_id}>"
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_destroyed_key_raises_key_destroyed_even_when_cached(key_id):
    sealed = sealing.seal(key_id, "patron:9", "name", "Grace Hopper")
    sealing.open_key(key_id)  # now cached

    keystore.destroy_data_key(key_id, owner="patron:9")

    with pytest.raises(KeyDestroyed) as error:
        sealing.unseal(key_id, "patron:9", "name", sealed)
    assert "destroyed" in str(error.value)
    assert "Grace" not in str(error.value)
    assert isinstance(error.value, VaultError)


def test_unknown_key_raises_key_destroyed(keys):
    with pytest.raises(KeyDestroyed):
        sealing.open_key(str(uuid.uuid4()))


def test_malformed_key_id_is_a_value_error(keys):
    with pytest.raises(ValueError):
        sealing.open_key("not-a-uuid")
