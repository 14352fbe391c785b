"""Usernames: NFKC, case-folded, one writing system, bounded."""

from __future__ import annotations

import pytest

from shelfguard.accounts import services
from shelfguard.accounts.usernames import UsernameError, normalise
from tests.accounts.helpers import ADMIN, branches


def test_compatibility_forms_and_case_collapse():
    assert normalise("  Ｍａｒｙ.Ｌｅｅ ") == "mary.lee"
    assert normalise("ANNA_2") == "anna_2"


def test_single_script_names_are_fine():
    assert normalise("Мария") == "мария"
    assert normalise("李小龙") == "李小龙"


@pytest.mark.parametrize("name", ["pаul", "аdmin", "ρaul"])  # Cyrillic а, Greek ρ
def test_mixed_scripts_refused(name):
    with pytest.raises(UsernameError, match="one writing system"):
        normalise(name)


@pytest.mark.parametrize(
    "name, message",
    [
        ("a", "at least"),
        ("x" * 65, "at most"),
        ("x" * 10_000, "at most"),
        ("bob smith", "only"),
        ("bob\u202e", "only"),
        (".bob", "start and end"),
        ("bob@example", "only"),
    ],
)
def test_bad_names_refused(name, message):
    with pytest.raises(UsernameError, match=message):
        normalise(name)


@pytest.mark.django_db
def test_look_alike_of_an_existing_name_is_the_same_account():
    branches()
    services.create_staff("paul", roles=["cataloguer"], branch="MAIN", actor=ADMIN)
    with pytest.raises(services.AccountError, match="already exists"):
        services.create_staff("ＰＡＵＬ", roles=["cataloguer"], branch="MAIN", actor=ADMIN)
    with pytest.raises(services.AccountError, match="one writing system"):
        services.create_staff("pаul", roles=["cataloguer"], branch="MAIN", actor=ADMIN)
