"""`shelfguard privacy register`: the record of processing, from the register and the config."""

from __future__ import annotations

import json

import pytest

from shelfguard.patrons import register as reg


@pytest.fixture(autouse=True)
def _config(home, settings):
    settings.CONFIG = {}


def test_json_lists_every_field_with_its_treatment(run_cli):
    result = run_cli("privacy", "register", "--format", "json")

    assert result.code == 0, result.err
    doc = json.loads(result.out)
    fields = {f["key"]: f for f in doc["fields"]}
    assert list(fields) == [f.key for f in reg.FIELDS]
    card = fields["card_number"]
    assert (card["class"], card["sealed"], card["blind_indexed"], card["requirement"]) == (
        "identifier",
        True,
        True,
        "required",
    )
    assert fields["email"]["class"] == "contact" and fields["email"]["blind_indexed"]
    assert fields["address"]["sealed"] and fields["address"]["blind_indexed"]
    assert fields["birth_year"]["collected"] and not fields["birth_date"]["collected"]
    assert fields["pin"]["protection"] == "hashed" and not fields["pin"]["exported"]
    assert fields["identity_verification"]["sealed"] is False
    for entry in doc["fields"]:
        assert entry["purpose"] and entry["legal_basis"] and entry["retention"]
    assert doc["collect"] == ["email", "phone", "address", "birth_year"]
    assert doc["guardian_age"] == 14
    assert [c["purpose"] for c in doc["consent_purposes"] if c["required"]] == ["service"]


def test_markdown_is_a_readable_record(run_cli):
    result = run_cli("privacy", "register")

    assert result.code == 0, result.err
    assert result.out.startswith("# Record of processing: patron data")
    assert "| Library card number (`card_number`) | identifier | yes | sealed | yes |" in result.out
    assert "### Date of birth (`birth_date`, not collected by this library)" in result.out
    assert "- `reading_history`: " in result.out


def test_the_library_choice_shows_in_the_register(run_cli, settings):
    settings.CONFIG = {"patrons": {"collect": ["email", "birth_date"], "guardian_age": 13}}

    doc = json.loads(run_cli("privacy", "register", "--format", "json").out)

    collected = {f["key"]: f["collected"] for f in doc["fields"]}
    assert collected["birth_date"] and not collected["birth_year"]
    assert not collected["phone"] and not collected["address"]
    assert doc["guardian_age"] == 13


@pytest.mark.parametrize(
    ("collect", "message"),
    [
        (["email", "ssn"], "ssn, which the library cannot choose"),
        (["email", "birth_year", "birth_date"], "both birth_year and birth_date"),
        (["birth_year"], "at least one contact channel"),
        ("email", "must be a list"),
    ],
)
def test_a_bad_collect_list_is_refused_with_the_rule(run_cli, settings, collect, message):
    settings.CONFIG = {"patrons": {"collect": collect}}

    result = run_cli("privacy", "register")

    assert result.code != 0
    assert message in result.err
