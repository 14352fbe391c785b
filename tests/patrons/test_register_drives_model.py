"""The register and the model agree, and masking follows the register."""

from __future__ import annotations

import pytest
from django.core import checks

from shelfguard.patrons import register as reg
from shelfguard.patrons.apps import check_register_matches_model
from shelfguard.patrons.models import Patron


def test_every_sealed_field_has_a_column_and_no_column_lacks_a_field():
    assert check_register_matches_model() == []
    columns = {f.name for f in Patron._meta.get_fields() if f.name.endswith("_sealed")}
    assert columns == {f.column for f in reg.SEALED}


def test_a_column_outside_the_register_is_an_error(monkeypatch):
    monkeypatch.setattr(reg, "SEALED", tuple(f for f in reg.SEALED if f.key != "phone"))

    errors = check_register_matches_model()

    assert [e.id for e in errors] == ["patrons.E002"]
    assert "phone_sealed" in errors[0].msg


def test_django_checks_pass():
    assert [m for m in checks.run_checks() if m.id and m.id.startswith("patrons.")] == []


def test_blind_indexed_fields_have_index_columns():
    for field in reg.SEALED:
        if field.blind_index and field.blind_index != "name_token":
            assert hasattr(Patron, f"{field.blind_index}_index"), field.key


@pytest.mark.parametrize(
    ("key", "value", "masked"),
    [
        ("card_number", "29001234567", "••••4567"),
        ("name", "Testa Person", "T. P."),
        ("email", "reader@example.org", "r•••@example.org"),
        ("phone", "+1 555 010 1234", "••••34"),
        ("address", "1 Synthetic Street", "••••"),
        ("birth_year", "1980", "••••"),
        ("category", "adult", "adult"),
        ("name", None, ""),
    ],
)
def test_masking_follows_the_register(key, value, masked):
    assert reg.mask(key, value) == masked


def test_exported_fields_leave_out_the_pin(settings):
    settings.CONFIG = {}
    exported = reg.exported_keys()
    assert "pin" not in exported
    assert {"card_number", "name", "email", "consents"} <= set(exported)
    assert "birth_date" not in exported  # not collected by default
