"""`shelfguard branch add` and `shelfguard branch list`."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.core import clock
from shelfguard.core.models import Branch

pytestmark = pytest.mark.usefixtures("home", "db")


def test_add_branch(run_cli):
    result = run_cli("branch", "add", "EAST", "--name", "East Branch")

    assert result.code == 0, result.err
    assert result.out.strip() == "Added branch EAST (East Branch)."
    assert Branch.objects.get(code="EAST").name == "East Branch"


def test_add_branch_normalises_the_code(run_cli):
    result = run_cli("branch", "add", " east-2 ", "--name", "  East Annexe  ")

    assert result.code == 0, result.err
    branch = Branch.objects.get()
    assert (branch.code, branch.name) == ("EAST-2", "East Annexe")


def test_add_branch_json(run_cli):
    moment = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)
    with clock.frozen(moment):
        result = run_cli("branch", "add", "WEST", "--name", "West Branch", "--json")

    assert result.code == 0, result.err
    assert result.json() == {
        "code": "WEST",
        "name": "West Branch",
        "created_at": "2025-03-01T09:30:00+00:00",
    }


def test_duplicate_branch_is_refused_in_one_line(run_cli):
    assert run_cli("branch", "add", "EAST", "--name", "East Branch").code == 0

    result = run_cli("branch", "add", "east", "--name", "Another East")

    assert result.code != 0
    assert result.err.strip() == "CommandError: Branch EAST already exists."
    assert Branch.objects.get(code="EAST").name == "East Branch"


@pytest.mark.parametrize("code", ["", "E AST", "ÉST", "A" * 17, "_EAST"])
def test_malformed_code_is_refused_with_the_rule(run_cli, code):
    result = run_cli("branch", "add", code, "--name", "Somewhere")

    assert result.code != 0
    assert "1–16 capital letters, digits" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not Branch.objects.exists()


def test_blank_name_is_refused(run_cli):
    result = run_cli("branch", "add", "EAST", "--name", "   ")

    assert result.code != 0
    assert "needs a name" in result.err
    assert not Branch.objects.exists()


def test_add_without_name_is_a_usage_error(run_cli):
    result = run_cli("branch", "add", "EAST")

    assert result.code != 0
    assert "--name" in result.err
    assert not Branch.objects.exists()


def test_branch_without_subcommand_is_a_usage_error(run_cli):
    result = run_cli("branch")

    assert result.code != 0
    assert "add" in result.err and "list" in result.err


def test_list_branches_in_code_order(run_cli):
    run_cli("branch", "add", "WEST", "--name", "West Branch")
    run_cli("branch", "add", "EAST-ANNEXE", "--name", "East Annexe")

    result = run_cli("branch", "list")

    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "CODE         NAME",
        "EAST-ANNEXE  East Annexe",
        "WEST         West Branch",
    ]


def test_list_without_branches_says_how_to_add_one(run_cli):
    result = run_cli("branch", "list")

    assert result.code == 0
    assert "shelfguard branch add" in result.out


def test_list_branches_json(run_cli):
    run_cli("branch", "add", "WEST", "--name", "West Branch")
    run_cli("branch", "add", "EAST", "--name", "东区分馆")

    result = run_cli("branch", "list", "--json")

    assert result.code == 0, result.err
    listed = result.json()
    assert [(b["code"], b["name"]) for b in listed] == [
        ("EAST", "东区分馆"),
        ("WEST", "West Branch"),
    ]
    assert all(dt.datetime.fromisoformat(b["created_at"]).tzinfo is not None for b in listed)


def test_list_json_when_empty_is_an_empty_array(run_cli):
    result = run_cli("branch", "list", "--json")

    assert result.code == 0
    assert result.json() == []


def test_help_describes_both_subcommands(run_cli):
    result = run_cli("branch", "--help")

    assert result.code == 0
    assert "add" in result.out and "list" in result.out
