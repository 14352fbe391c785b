"""Four eyes on the retention register: a period changed in shelfguard.toml waits for approval.

The sweep destroys by the periods last accepted; a changed period applies
only once a second staff member with `config.change` approves it, and the
approval is used up by the sweep that applies it. Synthetic data only.
"""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.accounts import services as accounts
from shelfguard.accounts.models import Throttle
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry
from shelfguard.lifecycle import approvals, retention, retention_changes
from shelfguard.lifecycle.models import AcceptedPeriod, ApprovalRequest
from tests.accounts.helpers import make_staff

from .conftest import BOTH_DATABASES, TODAY, at, days, frozen_on

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]

OPERATOR = Actor.cli_operator()


def failure_row(day: dt.date) -> Throttle:
    return Throttle.objects.create(
        scope=Throttle.Scope.ACCOUNT,
        key="synthetic-account-key",
        failures=1,
        last_failure_at=at(day),
    )


def sweep_on(day: dt.date) -> retention.RuleResult:
    with frozen_on(day):
        report = retention.sweep(only=["signin-failures"])
    (result,) = report.rules
    return result


def test_the_first_run_accepts_the_configured_period_as_the_baseline(settings):
    settings.CONFIG = {"retention": {"signin_failure_days": 30}}
    sweep_on(TODAY)
    assert AcceptedPeriod.objects.get(rule="signin-failures").days == 30
    assert Entry.objects.filter(action="retention.period_accepted").exists()


def test_a_dry_run_accepts_nothing(settings):
    settings.CONFIG = {"retention": {"signin_failure_days": 30}}
    with frozen_on(TODAY):
        retention.sweep(only=["signin-failures"], dry_run=True)
    assert not AcceptedPeriod.objects.exists()


def test_a_shortened_period_waits_for_a_second_person_then_applies(settings):
    settings.CONFIG = {"retention": {"signin_failure_days": 30}}
    sweep_on(TODAY)  # baseline: 30 days
    row = failure_row(TODAY)

    # One person edits the file to keep failures 5 days instead of 30 ...
    settings.CONFIG = {"retention": {"signin_failure_days": 5}}
    result = sweep_on(TODAY + days(10))
    # ... which changes nothing until someone else approves.
    assert (result.days, result.waiting_days) == (30, 5)
    assert Throttle.objects.filter(pk=row.pk).exists()

    configured = {"signin-failures": 5}
    assert retention_changes.pending(configured) == {"signin-failures": 5}
    with frozen_on(TODAY + days(10)):
        request = retention_changes.request_change(
            configured=configured, actor=OPERATOR, reason="shorter throttle records"
        )
    assert request.action == approvals.RETENTION_CHANGE
    assert request.params == {"signin-failures": 5}

    # The person who asked cannot approve; an administrator can.
    with pytest.raises(approvals.ApprovalError), frozen_on(TODAY + days(10)):
        approvals.approve(request.pk, actor=OPERATOR, purpose="tests")
    admin = accounts.staff_actor(make_staff("admin-4e", "system-administrator"))
    with frozen_on(TODAY + days(10)):
        approvals.approve(request.pk, actor=admin, purpose="tests")

    result = sweep_on(TODAY + days(10))
    assert (result.days, result.waiting_days) == (5, None)
    assert result.counts["destroyed"] == 1
    assert not Throttle.objects.filter(pk=row.pk).exists()
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalRequest.Status.USED
    accepted = AcceptedPeriod.objects.get(rule="signin-failures")
    assert (accepted.days, accepted.approval_id) == (5, request.pk)


def test_an_approval_for_other_periods_is_not_used(settings):
    settings.CONFIG = {"retention": {"signin_failure_days": 30}}
    sweep_on(TODAY)
    settings.CONFIG = {"retention": {"signin_failure_days": 10}}
    with frozen_on(TODAY):
        request = retention_changes.request_change(
            configured={"signin-failures": 10}, actor=OPERATOR, reason="ten days"
        )
        admin = accounts.staff_actor(make_staff("admin-4f", "system-administrator"))
        approvals.approve(request.pk, actor=admin, purpose="tests")
    # The file changes again after the approval: the approved 10 no longer matches.
    settings.CONFIG = {"retention": {"signin_failure_days": 3}}
    result = sweep_on(TODAY + days(1))
    assert (result.days, result.waiting_days) == (30, 3)
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalRequest.Status.APPROVED


def test_nothing_pending_refuses_a_request(settings):
    settings.CONFIG = {"retention": {"signin_failure_days": 30}}
    sweep_on(TODAY)
    with pytest.raises(approvals.ApprovalError):
        retention_changes.request_change(
            configured={"signin-failures": 30}, actor=OPERATOR, reason="no change"
        )


def test_the_changes_command_lists_and_requests(settings, run_cli):
    settings.CONFIG = {"retention": {"signin_failure_days": 30}}
    sweep_on(TODAY)
    settings.CONFIG = {"retention": {"signin_failure_days": 7}}
    listed = run_cli("retention", "changes", "--json")
    assert listed.code == 0, listed.err
    assert {"rule": "signin-failures", "accepted_days": 30, "configured_days": 7} in listed.json()[
        "waiting"
    ]
    refused = run_cli("retention", "changes", "--request")
    assert refused.code != 0 and "--reason" in refused.err
    filed = run_cli("retention", "changes", "--request", "--reason", "a week", "--json")
    assert filed.code == 0, filed.err
    assert ApprovalRequest.objects.filter(pk=filed.json()["request"]).exists()
