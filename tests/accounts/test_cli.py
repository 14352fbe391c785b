"""`shelfguard staff ...` and `init` creating no accounts."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.accounts import sessions
from shelfguard.accounts.models import StaffSession, StaffUser
from shelfguard.core import clock
from tests.accounts.helpers import branches, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(home, run_cli):
    assert run_cli("init").code == 0
    branches()


def test_init_creates_no_staff_accounts(home, run_cli):
    assert run_cli("init").code == 0
    assert not StaffUser.objects.exists()


def test_create_prints_a_one_time_enrolment_code(ready, run_cli):
    result = run_cli("staff", "create", "Ada", "--role", "circulation-desk", "--branch", "main")
    assert result.code == 0, result.err
    assert "One-time enrolment code: " in result.out
    staff = StaffUser.objects.get(username="ada")
    assert not staff.has_usable_password()
    code = result.out.split("One-time enrolment code: ")[1].split()[0]
    assert code not in repr(list(StaffUser.objects.values()))


def test_create_json_and_password_file(ready, run_cli, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("copper kettle on the hob\n")
    result = run_cli(
        "staff",
        "create",
        "bea",
        "--role",
        "cataloguer",
        "--role",
        "circulation-desk",
        "--branch",
        "EAST",
        "--password-file",
        str(secret),
        "--json",
    )
    data = result.json()
    assert data["username"] == "bea" and data["branch"] == "EAST"
    assert data["roles"] == ["cataloguer", "circulation-desk"]
    assert data["enrolment_code"] and data["second_factor"] is False
    assert StaffUser.objects.get(username="bea").check_password("copper kettle on the hob")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--role", "wizard", "--branch", "MAIN"], "Unknown role wizard"),
        (["--role", "cataloguer", "--branch", "NOWHERE"], "Unknown branch"),
    ],
)
def test_create_refusals_exit_non_zero_with_a_reason(ready, run_cli, args, message):
    result = run_cli("staff", "create", "cy", *args)
    assert result.code != 0 and message in result.err


def test_weak_password_file_refused_with_reason(ready, run_cli, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("library1\n")
    result = run_cli(
        "staff",
        "create",
        "dee",
        "--role",
        "cataloguer",
        "--branch",
        "MAIN",
        "--password-file",
        str(secret),
    )
    assert result.code != 0 and "anyone would guess" in result.err


def test_certify_and_list(ready, run_cli):
    run_cli("staff", "create", "ada", "--role", "circulation-desk", "--branch", "MAIN")
    until = (clock.today() + dt.timedelta(days=200)).isoformat()
    result = run_cli("staff", "certify", "ADA", "--course", "Privacy basics", "--until", until)
    assert result.code == 0, result.err
    listing = run_cli("staff", "list", "--json").json()
    assert listing == [
        {
            "username": "ada",
            "branch": "MAIN",
            "roles": ["circulation-desk"],
            "active": True,
            "second_factor": False,
            "certified_until": until,
            "created_at": listing[0]["created_at"],
        }
    ]
    bad = run_cli("staff", "certify", "ada", "--course", "X", "--until", "someday")
    assert bad.code != 0 and "not a date" in bad.err


def test_disable_ends_every_session(ready, run_cli):
    staff = make_staff("erin", "cataloguer")
    sessions.start(staff, "session-key-one")
    sessions.start(staff, "session-key-two")
    result = run_cli("staff", "disable", "erin", "--json")
    assert result.json() == {"username": "erin", "active": False, "sessions_ended": 2}
    assert not StaffSession.objects.filter(staff=staff, ended_at__isnull=True).exists()
    again = run_cli("staff", "disable", "erin")
    assert again.code != 0 and "already disabled" in again.err


def test_unknown_staff_member(ready, run_cli):
    result = run_cli("staff", "disable", "nobody")
    assert result.code != 0 and "No staff member" in result.err


def test_help_lists_staff_command(run_cli):
    assert "staff" in run_cli("--help").out
    assert run_cli("staff", "--help").code == 0


def test_enrol_issues_a_new_code_and_reset_removes_the_old_factor(ready, run_cli):
    from shelfguard.accounts import mfa

    fresh = run_cli("staff", "create", "fay", "--role", "cataloguer", "--branch", "MAIN", "--json")
    first = fresh.json()["enrolment_code"]
    again = run_cli("staff", "enrol", "fay", "--json").json()["enrolment_code"]
    assert again != first

    staff = make_staff("gus", "cataloguer")
    sessions.start(staff, "session-key-gus")
    refused = run_cli("staff", "enrol", "gus")
    assert refused.code != 0 and "--reset" in refused.err
    assert mfa.has_second_factor(staff)
    reset = run_cli("staff", "enrol", "gus", "--reset")
    assert reset.code == 0 and "New one-time enrolment code for gus: " in reset.out
    assert not mfa.has_second_factor(staff) and mfa.recovery_codes_left(staff) == 0
    assert StaffSession.objects.get(staff=staff).end_reason == "factor-reset"
