"""`shelfguard token create|list|revoke`."""

from __future__ import annotations

import pytest

from shelfguard.api import services
from shelfguard.api.models import ApiToken
from shelfguard.ledger.models import Entry
from tests.accounts.helpers import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(home, run_cli):
    assert run_cli("init").code == 0
    make_staff("desk1", "circulation-desk", enrol=False)


def test_create_prints_the_token_once_and_it_works(ready, run_cli, client):
    result = run_cli(
        "token", "create", "--staff", "Desk1", "--scope", "items", "--name", "Desk scanner 1"
    )
    assert result.code == 0, result.err
    secret = result.out.split("Token: ")[1].split()[0]
    token = ApiToken.objects.get()
    assert secret.startswith(f"sgt_{token.prefix}_")
    assert token.name == "Desk scanner 1" and token.scopes == ["items"]
    assert (token.expires_at - token.created_at).days == 90
    assert services.authenticate(secret, source="").staff.username == "desk1"
    entry = Entry.objects.get(action="api.token_create")
    assert entry.actor_kind == "cli" and entry.channel == "cli"
    listing = run_cli("token", "list")
    assert secret not in listing.out and f"sgt_{token.prefix}" in listing.out


def test_create_json_with_several_scopes_and_expiry(ready, run_cli):
    result = run_cli(
        "token",
        "create",
        "--staff",
        "desk1",
        "--scope",
        "circulation",
        "--scope",
        "items",
        "--expires",
        "30",
        "--json",
    )
    assert result.code == 0, result.err
    data = result.json()
    assert data["scopes"] == ["circulation", "items"]
    assert data["token"].startswith(data["id"] + "_")
    assert data["state"] == "active" and data["staff"] == "desk1"
    token = ApiToken.objects.get()
    assert (token.expires_at - token.created_at).days == 30


@pytest.mark.parametrize(
    "args, message",
    [
        (("--staff", "nobody", "--scope", "items"), "No staff member"),
        (("--staff", "desk1", "--scope", "items", "--expires", "400"), "1 to 365"),
        (("--staff", "desk1", "--scope", "items", "--expires", "soon"), "number of days"),
    ],
)
def test_create_refusals_are_one_line(ready, run_cli, args, message):
    result = run_cli("token", "create", *args)
    assert result.code != 0
    assert message in result.err
    assert not ApiToken.objects.exists()


def test_unknown_scope_is_refused(ready, run_cli):
    result = run_cli("token", "create", "--staff", "desk1", "--scope", "everything")
    assert result.code != 0
    assert "invalid choice" in result.err
    assert not ApiToken.objects.exists()


def test_list_json_and_revoke(ready, run_cli):
    make_staff("cat1", "cataloguer", enrol=False)
    run_cli("token", "create", "--staff", "desk1", "--scope", "items")
    run_cli("token", "create", "--staff", "cat1", "--scope", "items")
    rows = run_cli("token", "list", "--json").json()
    assert {r["staff"] for r in rows} == {"desk1", "cat1"}
    assert all("token" not in r for r in rows)
    only = run_cli("token", "list", "--staff", "cat1", "--json").json()
    assert [r["staff"] for r in only] == ["cat1"]
    revoked = run_cli("token", "revoke", only[0]["id"], "--json")
    assert revoked.code == 0, revoked.err
    assert revoked.json()["state"] == "revoked"
    again = run_cli("token", "revoke", str(only[0]["number"]))
    assert again.code != 0 and "already revoked" in again.err
    assert run_cli("token", "revoke", "sgt_000000000000").code != 0
    states = {r["staff"]: r["state"] for r in run_cli("token", "list", "--json").json()}
    assert states == {"desk1": "active", "cat1": "revoked"}


def test_empty_list_says_how_to_create_one(ready, run_cli):
    result = run_cli("token", "list")
    assert result.code == 0
    assert "shelfguard token create" in result.out
