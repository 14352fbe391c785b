"""`shelfguard audit ...`: exit codes and JSON a script can rely on."""

from __future__ import annotations

import datetime as dt
import json

from shelfguard.core import clock
from shelfguard.ledger.models import Entry

from .conftest import append_one, sql


def test_verify_exits_0_on_a_clean_chain(db, chain_of, run_cli):
    chain_of(5)

    result = run_cli("audit", "verify", "--json")

    assert result.code == 0, result.err
    report = result.json()
    assert report["ok"] is True
    assert (report["entries"], report["last_seq"], report["first_problem"]) == (5, 5, None)


def test_verify_exits_3_and_names_the_first_bad_entry(db, chain_of, run_cli):
    chain_of(9)
    sql("DELETE FROM ledger_entry WHERE seq = 4")
    sql("UPDATE ledger_entry SET origin = 'x' WHERE seq = 7")

    result = run_cli("audit", "verify", "--json")

    assert result.code == 3
    report = result.json()
    assert report["ok"] is False
    assert report["first_problem"]["kind"] == "missing"
    assert report["first_problem"]["seq"] == 4
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("missing", 4), ("altered", 7)]
    assert "missing at #4" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_verify_text_output(db, chain_of, run_cli):
    chain_of(3)
    assert "Ledger verified: 3 entries (#1–#3)" in run_cli("audit", "verify").out

    sql("UPDATE ledger_entry SET purpose = 'x' WHERE seq = 2")
    result = run_cli("audit", "verify")

    assert result.code == 3
    assert "does NOT verify" in result.out and "altered" in result.out


def test_checkpoint_command_writes_and_reports(db, chain_of, signing_home, run_cli):
    chain_of(3)

    result = run_cli("audit", "checkpoint", "--json")

    assert result.code == 0, result.err
    summary = result.json()
    assert summary["seq"] == 3 and summary["hook"] == "no hook configured"
    assert json.loads((signing_home / "ledger-checkpoints" / "3.json").read_text())["seq"] == 3
    assert run_cli("audit", "verify", "--json").json()["checkpoints"] == 1


def test_checkpoint_command_fails_when_the_hook_fails(db, signing_home, run_cli, settings):
    settings.CONFIG = {"ledger": {"checkpoint_hook": "false"}}

    result = run_cli("audit", "checkpoint", "--json")

    assert result.code == 1
    assert result.json()["hook"] == "failed"
    assert "checkpoint hook exited with status 1" in result.err


def test_checkpoint_command_refuses_a_tampered_chain_with_exit_3(
    db, chain_of, signing_home, run_cli
):
    chain_of(3)
    sql("UPDATE ledger_entry SET purpose = 'x' WHERE seq = 2")

    result = run_cli("audit", "checkpoint")

    assert result.code == 3
    assert "altered at #2" in result.err


def test_prune_command_uses_the_retention_period(db, run_cli, settings):
    settings.CONFIG = {"ledger": {"retention_days": 365}}
    with clock.frozen(dt.datetime(2024, 1, 15, tzinfo=dt.UTC)):
        append_one(1)
    with clock.frozen(dt.datetime(2026, 6, 2, tzinfo=dt.UTC)):
        append_one(2)
        result = run_cli("audit", "prune", "--json")

    assert result.code == 0, result.err
    assert result.json() == {"before": "2025-06-02", "retention_days": 365, "pruned": 1}
    assert list(Entry.objects.values_list("action", flat=True)) == ["patron.reveal", "ledger.prune"]
    assert run_cli("audit", "verify", "--json").code == 0


def test_every_subcommand_has_help(run_cli):
    for action in ("verify", "checkpoint", "query", "prune"):
        result = run_cli("audit", action, "--help")
        assert result.code == 0
        assert "--json" in result.out
