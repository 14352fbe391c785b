"""Each rule fires on a crafted ledger and stays quiet on a normal desk day."""

from __future__ import annotations

import datetime as dt

from shelfguard.accounts import services as accounts
from shelfguard.accounts import throttle
from shelfguard.circulation import services as circulation
from shelfguard.core import clock
from shelfguard.monitoring import services
from shelfguard.monitoring.models import Alert
from tests.accounts.helpers import make_staff
from tests.monitoring.conftest import BOTH_DATABASES, MONDAY, SETUP, at

pytestmark = BOTH_DATABASES


def scan_at(moment: dt.datetime):
    with clock.frozen(moment):
        return services.scan()


def rules_raised() -> list[str]:
    return sorted(Alert.objects.values_list("rule", flat=True))


def test_a_normal_desk_day_raises_nothing(desk, desk_day):
    desk_day()
    report = scan_at(at(MONDAY, 18))
    assert report.scanned > 40
    assert rules_raised() == []


# --- 1. volume ------------------------------------------------------------------------------


def test_many_patrons_in_an_hour_alert_above_the_floor(desk, desk_day, record):
    desk_day()
    for n in range(8):
        record(at(MONDAY, 16, n), "patron.reveal", patron_id=700_000 + n)
        record(at(MONDAY, 16, n + 1), "circulation.checkout", patron_id=700_000 + n)
    scan_at(at(MONDAY, 18))
    alert = Alert.objects.get()
    assert (alert.rule, alert.actor_id, alert.count, alert.threshold) == (
        "volume",
        "desk-one",
        8,
        8,
    )
    assert alert.window_start == at(MONDAY, 16)


def test_the_threshold_follows_the_roles_baseline(desk, desk_day, record, settings):
    settings.CONFIG["monitoring"] = {"volume_floor": 2, "volume_factor": 2.0}
    for back in range(3, 8):  # the five weekdays of the week before
        desk_day(MONDAY - dt.timedelta(days=back), per_hour=3)
    # Seven distinct patrons in one hour: more than twice the usual three.
    for n in range(7):
        record(at(MONDAY, 11, n), "patron.reveal", patron_id=710_000 + n)
        record(at(MONDAY, 11, n + 1), "circulation.checkout", patron_id=710_000 + n)
    scan_at(at(MONDAY, 12))
    state = services.thresholds_in_force()
    assert [(r["role"], r["percentile_value"], r["threshold"]) for r in state["roles"]] == [
        ("circulation-desk", 3.0, 6)
    ]
    alert = Alert.objects.get(rule="volume")
    assert (alert.count, alert.threshold) == (7, 6)
    # The earlier days, at three an hour, raised nothing.
    assert Alert.objects.count() == 1


def test_the_same_patron_many_times_is_not_many_patrons(desk, record):
    for n in range(20):
        record(at(MONDAY, 10, n), "patron.reveal", patron_id=720_000)
        record(at(MONDAY, 10, n + 1), "circulation.renew", patron_id=720_000)
    scan_at(at(MONDAY, 12))
    assert rules_raised() == []


# --- 2. outside opening hours ---------------------------------------------------------------


def test_access_outside_opening_hours_alerts_once_per_day(desk, record):
    record(at(MONDAY, 17, 20), "patron.reveal", patron_id=730_001)  # within the grace
    record(at(MONDAY, 17, 21), "circulation.checkout", patron_id=730_001)
    record(at(MONDAY, 22), "patron.reveal", patron_id=730_002)
    record(at(MONDAY, 22, 5), "circulation.checkout", patron_id=730_002)
    saturday = MONDAY + dt.timedelta(days=5)
    record(at(saturday, 11), "patron.reveal", patron_id=730_003)
    record(at(saturday, 11, 2), "circulation.checkout", patron_id=730_003)
    scan_at(at(saturday, 12))
    found = list(Alert.objects.order_by("window_start").values_list("rule", "count"))
    assert found == [("after_hours", 2), ("after_hours", 2)]


def test_a_closed_day_counts_as_outside_hours(desk, record):
    tuesday = MONDAY + dt.timedelta(days=1)
    with clock.frozen(at(MONDAY, 8)):
        circulation.add_closed_day(tuesday, branch="MAIN", reason="Staff training", actor=SETUP)
    record(at(tuesday, 11), "patron.reveal", patron_id=731_000)
    record(at(tuesday, 11, 1), "circulation.checkout", patron_id=731_000)
    scan_at(at(tuesday, 12))
    assert rules_raised() == ["after_hours"]


def test_the_grace_period_is_configurable(desk, record, settings):
    settings.CONFIG["monitoring"] = {"after_hours_grace_minutes": 0}
    record(at(MONDAY, 17, 20), "patron.reveal", patron_id=732_000)
    record(at(MONDAY, 17, 21), "circulation.checkout", patron_id=732_000)
    scan_at(at(MONDAY, 18))
    assert rules_raised() == ["after_hours"]


# --- 3. household ----------------------------------------------------------------------------

# Household indexes are short on purpose (they must not identify anyone on their
# own), so an unrelated patron's indexes can coincide with the staff member's
# under a given key. The rule then says "may share", as designed; the tests
# expect an alert for the unrelated patron exactly when the indexes coincide.


def indexes_coincide(staff, patron) -> bool:
    from shelfguard.monitoring.rules import split_tokens
    from shelfguard.patrons.models import Patron, PatronNameToken

    staff.refresh_from_db()
    surname = {bytes(t) for t in split_tokens(staff.household_surname_index)}
    tokens = {
        bytes(t)
        for t in PatronNameToken.objects.filter(patron=patron).values_list("token", flat=True)
    }
    if surname and surname <= tokens:
        return True
    address = Patron.objects.get(pk=patron.pk).address_index
    return (
        staff.household_address_index is not None
        and address is not None
        and bytes(staff.household_address_index) == bytes(address)
    )


def household_alerts() -> set[int]:
    return set(Alert.objects.filter(rule="household").values_list("patron_id", flat=True))


def test_a_patron_sharing_the_staff_surname_alerts(desk, record, make_patron):
    relative = make_patron(name="Ada Quillfeather-Brooks")
    stranger = make_patron(name="Ada Stranger")
    with clock.frozen(at(MONDAY, 8)):
        assert (
            services.set_household(
                desk, surname="QUILLFEATHER-brooks", actor=SETUP, purpose="tests"
            )
            == 2
        )
    desk.refresh_from_db()
    assert b"quill" not in bytes(desk.household_surname_index).lower()
    for patron in (relative, stranger):
        record(at(MONDAY, 10), "patron.reveal", patron_id=patron.pk)
        record(at(MONDAY, 10, 2), "circulation.checkout", patron_id=patron.pk)
    scan_at(at(MONDAY, 12))
    expected = {relative.pk} | ({stranger.pk} if indexes_coincide(desk, stranger) else set())
    assert household_alerts() == expected
    alert = Alert.objects.get(patron_id=relative.pk)
    assert (alert.rule, alert.actor_id, alert.patron_id) == ("household", "desk-one", relative.pk)


def test_without_a_household_index_nothing_is_compared(desk, record, make_patron):
    relative = make_patron(name="Ada Quillfeather")
    record(at(MONDAY, 10), "patron.reveal", patron_id=relative.pk)
    record(at(MONDAY, 10, 2), "circulation.checkout", patron_id=relative.pk)
    scan_at(at(MONDAY, 12))
    assert rules_raised() == []


def set_address(staff, address: str) -> None:
    with clock.frozen(at(MONDAY, 8)):
        services.set_household_address(staff, address=address, actor=SETUP, purpose="tests")


def test_a_patron_sharing_the_staff_address_alerts_and_says_which(desk, record, make_patron):
    neighbour = make_patron(name="Ada Unrelated")  # the fixture's first address: 1 Synthetic St.
    stranger = make_patron(name="Bea Unrelated")
    set_address(desk, "1 SYNTHETIC street,  Sampletown.")
    desk.refresh_from_db()
    assert bytes(desk.household_address_index) == bytes(
        type(neighbour).objects.get(pk=neighbour.pk).address_index
    )
    assert b"synthetic" not in bytes(desk.household_address_index).lower()
    assert desk.household_surname_index is None
    for patron in (neighbour, stranger):
        record(at(MONDAY, 10), "patron.reveal", patron_id=patron.pk)
        record(at(MONDAY, 10, 2), "circulation.checkout", patron_id=patron.pk)
    scan_at(at(MONDAY, 12))
    expected = {neighbour.pk} | ({stranger.pk} if indexes_coincide(desk, stranger) else set())
    assert household_alerts() == expected
    alert = Alert.objects.get(patron_id=neighbour.pk)
    assert (alert.rule, alert.actor_id, alert.patron_id) == ("household", "desk-one", neighbour.pk)
    assert alert.detail == {"shared": ["address"]}
    assert "ynthetic" not in str(alert.detail).lower()


def test_sharing_both_is_one_alert_naming_both(desk, record, make_patron):
    relative = make_patron(name="Ada Quillfeather")  # 1 Synthetic Street
    with clock.frozen(at(MONDAY, 8)):
        services.set_household(desk, surname="Quillfeather", actor=SETUP, purpose="tests")
    set_address(desk, "1 Synthetic Street Sampletown")
    record(at(MONDAY, 10), "patron.reveal", patron_id=relative.pk)
    record(at(MONDAY, 10, 2), "circulation.checkout", patron_id=relative.pk)
    scan_at(at(MONDAY, 12))
    alert = Alert.objects.get()
    assert (alert.rule, alert.patron_id, alert.count) == ("household", relative.pk, 2)
    assert alert.detail == {"shared": ["address", "surname"]}


def test_a_different_address_stays_quiet(desk, record, make_patron):
    patron = make_patron(name="Ada Unrelated")  # 1 Synthetic Street
    set_address(desk, "1 Synthetic Street, Othertown")
    record(at(MONDAY, 10), "patron.reveal", patron_id=patron.pk)
    record(at(MONDAY, 10, 2), "circulation.checkout", patron_id=patron.pk)
    scan_at(at(MONDAY, 12))
    assert household_alerts() == ({patron.pk} if indexes_coincide(desk, patron) else set())
    # Cleared, the address is no longer compared at all.
    set_address(desk, "")
    desk.refresh_from_db()
    assert desk.household_address_index is None


# --- 4. reveals without a following circulation action ------------------------------------


def test_idle_reveals_alert_once_their_window_has_passed(desk, record, settings):
    settings.CONFIG["monitoring"] = {"idle_reveals_per_day": 3, "idle_reveal_minutes": 30}
    for n in range(3):
        record(at(MONDAY, 10, n * 10), "patron.reveal", patron_id=740_000 + n)
    # A checkout more than 30 minutes later does not count as following.
    record(at(MONDAY, 11, 30), "circulation.checkout", patron_id=740_000)
    scan_at(at(MONDAY, 10, 25))
    assert rules_raised() == []  # the window has not passed for any of them
    scan_at(at(MONDAY, 12))
    alert = Alert.objects.get()
    assert (alert.rule, alert.count, alert.threshold) == ("idle_reveal", 3, 3)


def test_reveals_followed_by_circulation_are_not_idle(desk, desk_day, settings):
    settings.CONFIG["monitoring"] = {"idle_reveals_per_day": 3}
    desk_day()
    scan_at(at(MONDAY, 18))
    assert rules_raised() == []


# --- 5. bulk exports -------------------------------------------------------------------------


def test_many_exports_in_a_window_alert(desk, record, settings):
    settings.CONFIG["monitoring"] = {"export_max": 3, "export_window_minutes": 60}
    for n in range(3):
        record(at(MONDAY, 10, n), "portal.export.download", actor="750001", kind="patron")
    for n in range(2):
        record(at(MONDAY, 11, n), "portal.export.download", actor="750002", kind="patron")
    scan_at(at(MONDAY, 12))
    alert = Alert.objects.get()
    assert (alert.rule, alert.actor_kind, alert.actor_id, alert.count) == (
        "bulk_export",
        "patron",
        "750001",
        3,
    )


# --- 6. failed sign-ins ----------------------------------------------------------------------


def test_repeated_failed_patron_sign_ins_alert(desk, record, settings):
    settings.CONFIG["monitoring"] = {"failed_signin_max": 4}
    for n in range(4):
        record(
            at(MONDAY, 10, n), "portal.signin_failure", kind="public", actor="", patron_id=760_001
        )
    for n in range(3):
        record(
            at(MONDAY, 10, n), "sip2.pin_failure", kind="terminal", actor="sc-1", patron_id=760_002
        )
    scan_at(at(MONDAY, 12))
    alert = Alert.objects.get()
    assert (alert.rule, alert.patron_id, alert.count) == ("failed_signin", 760_001, 4)


def test_a_staff_lockout_alerts_naming_the_account(desk):
    with clock.frozen(at(MONDAY, 10)):
        for _ in range(10):
            throttle.failure("desk-one", "", subject=f"staff:{desk.pk}")
    scan_at(at(MONDAY, 10, 5))  # while locked: the lockout's alert stands for the failures
    alert = Alert.objects.get()
    assert (alert.rule, alert.actor_id, alert.count) == ("failed_signin", "desk-one", 10)


def test_repeated_failed_staff_sign_ins_alert_before_the_lockout(desk, settings):
    settings.CONFIG["monitoring"] = {"failed_signin_max": 4}
    with clock.frozen(at(MONDAY, 10)):
        for _ in range(3):
            throttle.failure("desk-one", "", subject=f"staff:{desk.pk}")
    scan_at(at(MONDAY, 10, 5))
    assert rules_raised() == []
    with clock.frozen(at(MONDAY, 10, 10)):
        throttle.failure("desk-one", "", subject=f"staff:{desk.pk}")
        throttle.failure("nobody-at-all", "", subject=None)
    scan_at(at(MONDAY, 10, 15))
    with clock.frozen(at(MONDAY, 10, 20)):
        throttle.failure("desk-one", "", subject=f"staff:{desk.pk}")
    scan_at(at(MONDAY, 10, 25))
    alert = Alert.objects.get()
    assert (alert.rule, alert.actor_id, alert.count, alert.threshold) == (
        "failed_signin",
        "desk-one",
        4,
        4,
    )


# --- 7. break-glass --------------------------------------------------------------------------


def test_every_break_glass_use_alerts(desk):
    with clock.frozen(at(MONDAY, 9)):
        officer = make_staff("officer-one", "privacy-officer", branch="EAST", enrol=False)
        accounts.grant_break_glass(
            desk,
            ["patron.view_history"],
            justification="Checking a disputed loan for a complaint",
            by=officer,
            ends=at(MONDAY, 17),
        )
    with clock.frozen(at(MONDAY, 10)):
        accounts.require(desk, "patron.view_history", purpose="complaint 7")
        accounts.require(desk, "patron.view_history", purpose="complaint 7")
    scan_at(at(MONDAY, 10, 30))
    alert = Alert.objects.get()
    assert (alert.rule, alert.actor_id, alert.count) == ("break_glass", "desk-one", 2)
    assert alert.detail["permission"] == "patron.view_history"


# --- 8. decoys -------------------------------------------------------------------------------


def test_any_access_to_a_decoy_alerts(desk, desk_day, record, make_patron):
    decoy = make_patron(name="Testa Decoy", card="29559990001")
    with clock.frozen(at(MONDAY, 8, 30)):
        services.add_decoy("2955 999 0001", actor=SETUP, purpose="tests")
    desk_day()
    scan_at(at(MONDAY, 18))
    assert rules_raised() == []  # the registration and the marking are not alerts
    record(at(MONDAY, 16, 30), "patron.reveal", patron_id=decoy.pk)
    record(at(MONDAY, 16, 31), "circulation.checkout", patron_id=decoy.pk)
    scan_at(at(MONDAY, 18, 5))
    alert = Alert.objects.get()
    assert (alert.rule, alert.actor_id, alert.patron_id, alert.count) == (
        "decoy",
        "desk-one",
        decoy.pk,
        2,
    )
