"""`shelfguard retention run`: dry runs change nothing, future dates need --dry-run, counts only."""

from __future__ import annotations

import pytest

from shelfguard.accounts.models import Throttle
from shelfguard.circulation import services as circulation
from shelfguard.circulation.models import Loan
from shelfguard.core.actors import Actor
from shelfguard.jobs.models import JobRun
from shelfguard.ledger.models import Entry
from shelfguard.lifecycle import retention
from shelfguard.patrons.models import Patron

from .conftest import BOTH_DATABASES, TODAY, at, days, frozen_on, table_counts

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]

DESK = Actor(kind="system", ident="tests", channel="job")


@pytest.fixture
def due_things(make_patron, copy):
    """One leftover loan link, one long-expired patron, one old sign-in failure."""
    borrower = make_patron()
    item = copy()
    with frozen_on(TODAY - days(7)):
        circulation.checkout(borrower, item.barcode, branch="MAIN", actor=DESK, purpose="test")
    Loan.objects.filter(item=item).update(outcome="returned", ended_on=TODAY - days(1))
    expired = make_patron()
    Patron.objects.filter(pk=expired.pk).update(expires_on=TODAY - days(800))
    Throttle.objects.create(
        scope="account", key="k" * 64, failures=3, last_failure_at=at(TODAY - days(60))
    )
    return expired


def test_dry_run_counts_and_changes_nothing(run_cli, due_things):
    before = table_counts()
    with frozen_on(TODAY):
        result = run_cli("retention", "run", "--dry-run", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["dry_run"] is True
    counts = {rule["rule"]: rule["counts"] for rule in report["rules"]}
    assert counts["loan-patron-link"]["due"] == 1
    assert counts["expired-patrons"]["due"] == 1
    assert counts["signin-failures"]["due"] == 1
    assert table_counts() == before


def test_dry_run_may_look_into_the_future(run_cli, due_things):
    before = table_counts()
    with frozen_on(TODAY):
        result = run_cli("retention", "run", "--dry-run", "--as-of", "2031-01-01", "--json")
    assert result.code == 0, result.err
    assert result.json()["as_of"] == "2031-01-01"
    assert table_counts() == before


def test_a_future_date_is_refused_without_dry_run(run_cli, due_things):
    before = table_counts()
    with frozen_on(TODAY):
        result = run_cli("retention", "run", "--as-of", (TODAY + days(1)).isoformat())
    assert result.code == 1
    assert "in the future" in result.err and "--dry-run" in result.err
    assert result.err.count("\n") == 1  # one line
    assert table_counts() == before
    assert not JobRun.objects.exists()


def test_a_bad_date_is_refused(run_cli):
    result = run_cli("retention", "run", "--as-of", "next tuesday")
    assert result.code != 0
    assert "not a date like" in result.err


def test_real_run_destroys_and_writes_one_counts_only_entry_per_rule(run_cli, due_things):
    first = Entry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    with frozen_on(TODAY):
        result = run_cli("retention", "run", "--json")
    assert result.code == 0, result.err
    assert not Loan.objects.filter(patron__isnull=False).exists()
    assert Patron.objects.get(pk=due_things.pk).status == "erased"
    assert not Throttle.objects.exists()

    sweeps = list(Entry.objects.filter(seq__gt=first, action="retention.sweep").order_by("seq"))
    ran = [r["rule"] for r in result.json()["rules"] if r["status"] == "done"]
    assert [e.detail["rule"] for e in sweeps] == ran
    for entry in sweeps:
        assert entry.patron_id is None and entry.fields == []
        assert (entry.actor_kind, entry.actor_id, entry.channel) == ("system", "retention", "job")
        assert set(entry.detail) - {"rule"} <= {
            "days",
            "destroyed",
            "kept_history",
            "kept_outstanding",
            "notices_sent",
            "notices_due",
            "waiting_for_notice",
        }
        assert all(isinstance(v, int) for k, v in entry.detail.items() if k != "rule")
    by_rule = {e.detail["rule"]: e.detail for e in sweeps}
    assert by_rule["loan-patron-link"]["destroyed"] == 1
    assert by_rule["expired-patrons"]["destroyed"] == 1

    run = JobRun.objects.get(job="retention")
    assert (run.trigger, run.outcome) == ("cli", "ok")
    assert run.summary["destroyed"] == 3
    assert run.summary["loan-patron-link"] == {"destroyed": 1, "kept_history": 0}

    # The next run finds nothing left to do.
    with frozen_on(TODAY):
        again = run_cli("retention", "run", "--json")
    assert again.code == 0
    assert all(r["counts"].get("destroyed", 0) == 0 for r in again.json()["rules"])


def test_text_output_and_rules_listing(run_cli, due_things):
    with frozen_on(TODAY):
        result = run_cli("retention", "run", "--dry-run")
    assert result.code == 0
    assert "Dry run as of 2026-06-10" in result.out
    assert "loan-patron-link" in result.out
    listing = run_cli("retention", "rules", "--json")
    rules = {row["rule"]: row for row in listing.json()["rules"]}
    assert rules["expired-patrons"]["days"] == 730
    assert rules["expired-patrons"]["setting"] == "[retention] expired_patron_days"
    assert set(rules) >= {r.name for r in retention.rules()}


def test_a_period_out_of_bounds_is_a_one_line_error(run_cli, settings):
    settings.CONFIG = {"retention": {"signin_failure_days": 0}}
    result = run_cli("retention", "run", "--dry-run")
    assert result.code == 1
    assert "[retention] signin_failure_days" in result.err and "between 1 and 365" in result.err
