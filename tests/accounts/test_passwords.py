"""Password rules: length by second factor, known-bad lists, reasons shown, Argon2id."""

from __future__ import annotations

import pytest
from django.test import override_settings

from shelfguard.accounts import passwords, services
from tests.accounts.helpers import ADMIN, branches


def problems(password, second_factor=True, username=""):
    return passwords.problems(password, second_factor=second_factor, username=username)


def test_minimum_depends_on_a_second_factor():
    assert problems("tulip-rain", second_factor=True) == []
    reasons = problems("tulip-rain", second_factor=False)
    assert reasons == ["A password needs at least 15 characters (this one has 10)."]
    assert problems("tulip rain on the fen", second_factor=False) == []
    assert "at least 8" in problems("tulip-r")[0]


def test_long_passwords_welcome_and_no_composition_rules():
    assert problems("moss " * 12 + "lantern") == []  # 67 characters
    assert problems("lantern moss " * 19) == []  # 247 characters
    assert problems("all lower case words here") == []
    assert problems("lantern-moss" + "é" * 300) == ["A password is at most 256 characters."]


def test_common_passwords_refused_with_the_reason():
    assert problems("password123") == ["This password is on the list of commonly used passwords."]
    assert problems("QWERTYUIOP") == ["This password is on the list of commonly used passwords."]


@override_settings(LIBRARY_NAME="Riverside Public Library")
def test_library_words_refused():
    for guess in ("Library2024!", "shelfguard", "ShelfGuard1!", "riverside99", "LibraryLibrary"):
        reasons = problems(guess)
        assert any("anyone would guess" in r for r in reasons), guess
    assert problems("river stones and library cards") == []


def test_username_inside_the_password_refused():
    assert "must not contain the username" in problems("hello-marguerite", username="marguerite")[0]


@pytest.mark.django_db
def test_staff_passwords_are_argon2id_and_nfkc_normalised():
    branches()
    staff, _ = services.create_staff(
        "hasher",
        roles=["cataloguer"],
        branch="MAIN",
        password="ｆｕｌｌ ｗｉｄｔｈ moss",
        actor=ADMIN,
    )
    assert staff.password.startswith("argon2$argon2id$")
    assert staff.check_password("full width moss")


@pytest.mark.django_db
def test_create_staff_refuses_a_bad_password_with_reasons():
    branches()
    with pytest.raises(services.AccountError, match="commonly used"):
        services.create_staff(
            "weak", roles=["cataloguer"], branch="MAIN", password="password1", actor=ADMIN
        )
