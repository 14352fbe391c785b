"""Self-check terminals: the services, `shelfguard sip2`, and the deploy check."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.hashers import identify_hasher

from shelfguard.core import checks as deploy_checks
from shelfguard.core.actors import Actor
from shelfguard.core.services import ensure_branch
from shelfguard.ledger.models import Entry
from shelfguard.sip2 import services
from shelfguard.sip2.models import ALL_REQUEST_CODES, Terminal

pytestmark = pytest.mark.django_db

OPERATOR = Actor(kind="cli", ident="tests", channel="cli")
PASSWORD = "synthetic-terminal-secret-1"
PRIVATE = services.Transport(peer_host="192.0.2.10", tls=True, loopback=False)


@pytest.fixture
def branches(home):
    ensure_branch("MAIN", "Main Library", actor=OPERATOR)
    ensure_branch("EAST", "East Branch", actor=OPERATOR)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "terminal-password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    return path


def add(login: str = "sc-main-1", **options) -> Terminal:
    options.setdefault("branch", "MAIN")
    options.setdefault("password", PASSWORD)
    return services.add_terminal(login, actor=OPERATOR, purpose="tests", **options)


def test_a_new_terminal_has_safe_defaults_and_an_argon2_hash(branches):
    terminal = add()
    assert terminal.enabled and not terminal.allow_plaintext
    assert terminal.encoding == "utf-8" and terminal.name_display == "first"
    assert terminal.allowed_codes == list(ALL_REQUEST_CODES) and terminal.allow_from == []
    assert identify_hasher(terminal.password_hash).algorithm == "argon2"
    assert PASSWORD not in terminal.password_hash
    entry = Entry.objects.get(action="sip2.terminal_add")
    assert entry.detail["terminal"] == "sc-main-1" and entry.actor_kind == "cli"


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"login": "bad login"}, "invalid_login"),
        ({"password": "short"}, "invalid_password"),
        ({"password": "a-long-password|with-a-bar"}, "invalid_password"),
        ({"encoding": "utf-16"}, "invalid_encoding"),
        ({"encoding": "no-such-codec"}, "invalid_encoding"),
        ({"allow_from": ["192.0.2.0/33"]}, "invalid_address"),
        ({"allow_from": ["library.example.org"]}, "invalid_address"),
        ({"name_display": "surname"}, "invalid_name_display"),
        ({"allowed_codes": ["11", "42"]}, "invalid_codes"),
        ({"branch": "NOPE"}, "unknown_branch"),
    ],
)
def test_unusable_values_are_refused_and_nothing_is_stored(branches, options, code):
    login = options.pop("login", "sc-main-1")
    with pytest.raises(services.TerminalError) as refused:
        add(login, **options)
    assert refused.value.code == code
    assert not Terminal.objects.exists()
    assert not Entry.objects.filter(action="sip2.terminal_add").exists()


def test_latin_1_is_accepted_under_its_other_names(branches):
    assert add(encoding="ISO-8859-1").encoding == "latin-1"
    assert add("sc-two", encoding="latin1").encoding == "latin-1"


def test_a_login_is_unique(branches):
    add()
    with pytest.raises(services.TerminalError) as refused:
        add()
    assert refused.value.code == "login_taken"


def test_authenticate_disable_enable_and_new_password(branches):
    add()
    assert services.authenticate_terminal("sc-main-1", PASSWORD, transport=PRIVATE).login == (
        "sc-main-1"
    )
    services.disable_terminal("sc-main-1", actor=OPERATOR, purpose="tests")
    with pytest.raises(services.TerminalRefused) as refused:
        services.authenticate_terminal("sc-main-1", PASSWORD, transport=PRIVATE)
    assert refused.value.code == "disabled"
    assert Terminal.objects.get().disabled_at is not None

    services.enable_terminal("sc-main-1", actor=OPERATOR, purpose="tests")
    services.set_terminal_password(
        "sc-main-1", "another-synthetic-secret", actor=OPERATOR, purpose="tests"
    )
    with pytest.raises(services.TerminalRefused):
        services.authenticate_terminal("sc-main-1", PASSWORD, transport=PRIVATE)
    assert services.authenticate_terminal(
        "sc-main-1", "another-synthetic-secret", transport=PRIVATE
    ).enabled
    actions = list(
        Entry.objects.filter(action__startswith="sip2.terminal_")
        .exclude(action="sip2.terminal_signin")
        .values_list("action", flat=True)
    )
    assert actions == [
        "sip2.terminal_add",
        "sip2.terminal_disable",
        "sip2.terminal_enable",
        "sip2.terminal_password",
    ]


def test_peer_allowlist_matches_addresses_and_networks(branches):
    terminal = add(allow_from=["192.0.2.0/24", "2001:db8::/64"])
    assert terminal.allow_from == ["192.0.2.0/24", "2001:db8::/64"]
    assert services.peer_allowed(terminal, "192.0.2.200")
    assert services.peer_allowed(terminal, "2001:db8::5")
    assert services.peer_allowed(terminal, "::ffff:192.0.2.1")
    assert not services.peer_allowed(terminal, "198.51.100.1")
    assert not services.peer_allowed(terminal, "not-an-address")


# --- the command ----------------------------------------------------------------------


def test_add_list_disable_enable_from_the_command_line(branches, run_cli, password_file):
    added = run_cli(
        "sip2",
        "add-terminal",
        "sc-east-2",
        "--branch",
        "east",
        "--password-file",
        str(password_file),
        "--encoding",
        "latin-1",
        "--allow-from",
        "192.0.2.0/24",
        "198.51.100.7",
        "--name-display",
        "none",
        "--json",
    )
    assert added.code == 0, added.err
    assert added.json()["branch"] == "EAST" and added.json()["name_display"] == "none"
    assert PASSWORD not in added.out

    listed = run_cli("sip2", "list-terminals", "--json")
    assert listed.code == 0
    [row] = listed.json()
    assert row["login"] == "sc-east-2" and row["encoding"] == "latin-1"
    assert row["allow_from"] == ["192.0.2.0/24", "198.51.100.7/32"]
    assert "password_hash" not in row

    disabled = run_cli("sip2", "disable-terminal", "sc-east-2")
    assert disabled.code == 0 and "disabled" in disabled.out
    assert run_cli("sip2", "list-terminals", "--json").json()[0]["enabled"] is False
    assert run_cli("sip2", "enable-terminal", "sc-east-2", "--json").json()["enabled"] is True
    new = password_file.parent / "new-password"
    new.write_text("a-new-synthetic-secret\n", encoding="utf-8")
    assert run_cli("sip2", "set-password", "sc-east-2", "--password-file", str(new)).code == 0


def test_command_refusals_are_one_line_and_non_zero(branches, run_cli, password_file, tmp_path):
    unknown = run_cli("sip2", "disable-terminal", "no-such-terminal")
    assert unknown.code != 0 and "list-terminals" in unknown.err
    missing = run_cli(
        "sip2", "add-terminal", "sc-x", "--branch", "MAIN", "--password-file", str(tmp_path / "x")
    )
    assert missing.code != 0 and "password file" in missing.err
    bad = run_cli(
        "sip2",
        "add-terminal",
        "sc-x",
        "--branch",
        "MAIN",
        "--password-file",
        str(password_file),
        "--allow-from",
        "nowhere",
    )
    assert bad.code != 0 and "CIDR" in bad.err
    assert not Terminal.objects.exists()


def test_help_lists_the_actions(run_cli):
    helped = run_cli("sip2", "--help")
    assert helped.code == 0
    for action in ("add-terminal", "list-terminals", "disable-terminal", "set-password", "serve"):
        assert action in helped.out


# --- check --deploy ---------------------------------------------------------------------


def test_deploy_check_warns_about_each_enabled_plaintext_terminal(branches):
    add("sc-safe")
    add("sc-clear", allow_plaintext=True)
    add("sc-clear-off", allow_plaintext=True)
    services.disable_terminal("sc-clear-off", actor=OPERATOR, purpose="tests")

    found = deploy_checks.check_sip2_terminals()
    assert [m.id for m in found] == ["shelfguard.W020"]
    assert "'sc-clear'" in found[0].msg
