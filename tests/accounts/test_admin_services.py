"""Staff administration services: branch scope, no privilege escalation, ledger entries."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.accounts import mfa, services
from shelfguard.accounts.models import BreakGlassGrant, Role, StaffSession, StaffUser
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from tests.accounts.helpers import make_staff

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
WHY = "Patron complaint 42: check the loans the desk disputes"


@pytest.fixture(autouse=True)
def _home(home):
    """Authenticator secrets are sealed with the vault, which needs a data home."""
    yield


CAST = {
    "admin": ("admin", "system-administrator", "MAIN"),
    "admin2": ("admin2", "system-administrator", "MAIN"),
    "manager": ("manager", "branch-manager", "MAIN"),
    "desk": ("desk", "circulation-desk", "MAIN"),
    "east": ("east-desk", "circulation-desk", "EAST"),
    "officer": ("officer", "privacy-officer", "MAIN"),
    "officer2": ("officer2", "privacy-officer", "EAST"),
    "cataloguer": ("cat", "cataloguer", "MAIN"),
}


class Cast(dict):
    """Staff made on first use (each costs a password hash and an enrolment)."""

    def __missing__(self, key):
        username, role, branch = CAST[key]
        with clock.frozen(START):
            self[key] = make_staff(username, role, branch=branch)
        return self[key]


@pytest.fixture
def people():
    return Cast()


def actor(staff):
    return services.staff_actor(staff)


def last(action):
    return Entry.objects.filter(action=action).order_by("-seq").first()


def roles_of(staff):
    return sorted(StaffUser.objects.get(pk=staff.pk).roles.values_list("code", flat=True))


# --- listing and details ----------------------------------------------------------------


def test_list_staff_is_scoped_by_branch(people):
    for key in CAST:
        people[key]
    manager, admin = people["manager"], people["admin"]
    with clock.frozen(START):
        mine = {s.username for s in services.list_staff(by=manager)}
        assert "desk" in mine and "east-desk" not in mine
        assert {s.branch.code for s in services.list_staff(by=manager)} == {"MAIN"}
        with pytest.raises(services.AccessDenied):
            services.list_staff(by=manager, branch="EAST")
        everyone = {s.username for s in services.list_staff(by=admin)}
        assert {"desk", "east-desk", "officer2"} <= everyone
        assert {s.username for s in services.list_staff(by=admin, branch="EAST")} == {
            "east-desk",
            "officer2",
        }
        with pytest.raises(services.AccessDenied):
            services.list_staff(by=people["desk"])
        with pytest.raises(services.AccountError):
            services.list_staff(by=admin, branch="NOWHERE")


def test_details_show_no_secrets_and_respect_scope(people):
    with clock.frozen(START):
        details = services.staff_details(people["desk"], by=people["manager"])
        assert details.second_factor is True
        assert details.certification is not None
        assert details.active_sessions == 0
        # Nothing in the details is a secret: no hashes, keys or codes.
        assert not hasattr(details, "code") and not hasattr(details, "key")
        with pytest.raises(services.AccessDenied):
            services.staff_details(people["east"], by=people["manager"])


# --- roles: no privilege escalation -----------------------------------------------------


def test_branch_manager_gives_roles_they_hold_to_their_own_branch(people):
    manager, desk = people["manager"], people["desk"]
    with clock.frozen(START):
        added, removed = services.assign_roles(
            desk, ["circulation-desk", "branch-manager"], actor=actor(manager), by=manager
        )
    assert added == ["branch-manager"] and removed == []
    entry = last("accounts.staff_roles")
    assert entry.actor_id == "manager"
    assert entry.detail == {"staff": desk.pk, "added": ["branch-manager"], "removed": []}


@pytest.mark.parametrize("role", ["privacy-officer", "system-administrator", "cataloguer"])
def test_branch_manager_never_gives_a_role_beyond_their_own(people, role):
    manager, desk = people["manager"], people["desk"]
    before = Entry.objects.count()
    with clock.frozen(START), pytest.raises(services.AccessDenied) as refused:
        services.assign_roles(desk, ["circulation-desk", role], actor=actor(manager), by=manager)
    assert role in str(refused.value)
    assert roles_of(desk) == ["circulation-desk"]
    assert Entry.objects.count() == before


def test_branch_manager_cannot_take_a_role_beyond_their_own(people):
    manager, officer = people["manager"], people["officer"]
    with clock.frozen(START), pytest.raises(services.AccessDenied):
        services.assign_roles(officer, ["circulation-desk"], actor=actor(manager), by=manager)
    assert roles_of(officer) == ["privacy-officer"]


def test_branch_manager_cannot_touch_another_branch(people):
    manager, east = people["manager"], people["east"]
    with clock.frozen(START):
        for call in (
            lambda: services.assign_roles(
                east, ["branch-manager"], actor=actor(manager), by=manager
            ),
            lambda: services.disable_staff(east, actor=actor(manager), by=manager),
            lambda: services.reset_second_factor(east, actor=actor(manager), by=manager),
            lambda: services.move_staff(east, "MAIN", actor=actor(manager), by=manager),
        ):
            with pytest.raises(services.AccessDenied) as refused:
                call()
            assert "own branch" in str(refused.value)
        # Nor move someone of their own branch away to one they do not manage.
        with pytest.raises(services.AccessDenied):
            services.move_staff(people["desk"], "EAST", actor=actor(manager), by=manager)
    assert StaffUser.objects.get(pk=east.pk).is_active


def test_branch_manager_cannot_create_a_privacy_officer(people):
    manager = people["manager"]
    with clock.frozen(START):
        with pytest.raises(services.AccessDenied):
            services.create_staff(
                "new-officer",
                roles=["privacy-officer"],
                branch="MAIN",
                actor=actor(manager),
                by=manager,
            )
        _staff, code = services.create_staff(
            "new-desk",
            roles=["circulation-desk"],
            branch="MAIN",
            actor=actor(manager),
            by=manager,
        )
        assert code
        with pytest.raises(services.AccessDenied):
            services.create_staff(
                "east-new",
                roles=["circulation-desk"],
                branch="EAST",
                actor=actor(manager),
                by=manager,
            )
    assert not StaffUser.objects.filter(username="new-officer").exists()


def test_branch_manager_cannot_manage_a_more_powerful_colleague_of_their_branch(people):
    manager, officer = people["manager"], people["officer"]
    with clock.frozen(START):
        with pytest.raises(services.AccessDenied):
            services.disable_staff(officer, actor=actor(manager), by=manager)
        with pytest.raises(services.AccessDenied):
            services.reset_second_factor(officer, actor=actor(manager), by=manager)
    assert mfa.has_second_factor(officer)
    assert StaffUser.objects.get(pk=officer.pk).is_active


def test_role_managers_give_library_wide_roles(people):
    admin, desk = people["admin"], people["desk"]
    with clock.frozen(START):
        services.assign_roles(desk, ["privacy-officer"], actor=actor(admin), by=admin)
    assert roles_of(desk) == ["privacy-officer"]
    assert last("accounts.staff_roles").detail["removed"] == ["circulation-desk"]


def test_nobody_changes_their_own_roles_or_account(people):
    admin = people["admin"]
    with clock.frozen(START):
        with pytest.raises(services.AccountError, match="own roles"):
            services.assign_roles(admin, ["privacy-officer"], actor=actor(admin), by=admin)
        with pytest.raises(services.AccountError):
            services.disable_staff(admin, actor=actor(admin), by=admin)
        with pytest.raises(services.AccountError):
            services.reset_second_factor(admin, actor=actor(admin), by=admin)
        with pytest.raises(services.AccountError):
            services.move_staff(admin, "EAST", actor=actor(admin), by=admin)


def test_break_glass_never_counts_as_a_power_to_hand_on(people):
    officer, desk, cat = people["officer"], people["desk"], people["cataloguer"]
    with clock.frozen(START):
        services.grant_break_glass(
            desk,
            ["staff.manage"],
            justification=WHY,
            by=officer,
            ends=START + dt.timedelta(hours=2),
        )
        # The grant lets the desk manage staff, but hand out nothing beyond their roles.
        with pytest.raises(services.AccessDenied):
            services.assign_roles(cat, ["cataloguer", "branch-manager"], actor=actor(desk), by=desk)
        # Within their own roles' reach, the borrowed staff.manage does work (recorded).
        services.assign_roles(people["east"], ["circulation-desk"], actor=actor(desk), by=desk)
        assert last("accounts.breakglass_use").detail["permission"] == "staff.manage"


def test_assign_roles_needs_known_roles_and_at_least_one(people):
    admin, desk = people["admin"], people["desk"]
    with clock.frozen(START):
        with pytest.raises(services.AccountError, match="Unknown role"):
            services.assign_roles(desk, ["no-such-role"], actor=actor(admin), by=admin)
        with pytest.raises(services.AccountError, match="at least one"):
            services.assign_roles(desk, [], actor=actor(admin), by=admin)
        assert services.assign_roles(desk, ["circulation-desk"], actor=actor(admin), by=admin) == (
            [],
            [],
        )


# --- disable, enable, move, second factor -----------------------------------------------


def test_disable_ends_sessions_and_enable_brings_the_account_back(people):
    manager, desk = people["manager"], people["desk"]
    with clock.frozen(START):
        from shelfguard.accounts import sessions

        sessions.start(desk, "session-one")
        sessions.start(desk, "session-two")
        assert services.disable_staff(desk, actor=actor(manager), by=manager) == 2
        assert not StaffSession.objects.filter(staff=desk, ended_at__isnull=True).exists()
        desk.refresh_from_db()
        assert not desk.is_active
        with pytest.raises(services.AccountError):
            services.enable_staff(people["east"], actor=actor(people["admin"]), by=people["admin"])
        services.enable_staff(desk, actor=actor(manager), by=manager)
    desk.refresh_from_db()
    assert desk.is_active and desk.disabled_at is None
    assert last("accounts.staff_enable").detail == {"staff": desk.pk}


def test_move_needs_both_branches_and_is_recorded(people):
    admin, desk = people["admin"], people["desk"]
    with clock.frozen(START):
        services.move_staff(desk, "east", actor=actor(admin), by=admin)
        with pytest.raises(services.AccountError, match="already"):
            services.move_staff(desk, "EAST", actor=actor(admin), by=admin)
        with pytest.raises(services.AccountError, match="Unknown branch"):
            services.move_staff(desk, "NOWHERE", actor=actor(admin), by=admin)
    desk.refresh_from_db()
    assert desk.branch.code == "EAST"
    assert last("accounts.staff_move").detail == {"staff": desk.pk, "from": "MAIN", "to": "EAST"}


def test_reset_second_factor_ends_sessions_and_needs_a_new_code(people):
    manager, desk = people["manager"], people["desk"]
    with clock.frozen(START):
        from shelfguard.accounts import sessions

        sessions.start(desk, "desk-session")
        code = services.reset_second_factor(desk, actor=actor(manager), by=manager)
    assert code
    assert not mfa.has_second_factor(desk)
    assert not StaffSession.objects.filter(staff=desk, ended_at__isnull=True).exists()
    # The password is unchanged, but it alone signs nobody in any more.
    assert StaffUser.objects.get(pk=desk.pk).has_usable_password()
    entry = last("accounts.enrolment_code")
    assert entry.detail["sessions_ended"] == 1 and entry.detail["devices_removed"] >= 1
    with clock.frozen(START), pytest.raises(services.AccountError, match="no second factor"):
        services.reset_second_factor(desk, actor=actor(manager), by=manager)
    with clock.frozen(START):
        assert services.reissue_enrolment_code(desk, actor=actor(manager), by=manager)


def test_reissue_never_resets_an_enrolled_factor(people):
    manager, desk = people["manager"], people["desk"]
    with clock.frozen(START), pytest.raises(services.AccountError, match="second factor"):
        services.reissue_enrolment_code(desk, actor=actor(manager), by=manager)
    assert mfa.has_second_factor(desk)


# --- roles themselves -------------------------------------------------------------------


def test_create_and_edit_roles_need_role_manage_and_known_codes(people):
    admin, manager = people["admin"], people["manager"]
    with clock.frozen(START):
        with pytest.raises(services.AccessDenied):
            services.create_role(
                "desk-lead", name="Desk lead", permissions=[], actor=actor(manager), by=manager
            )
        with pytest.raises(services.AccountError, match="patron.everything"):
            services.create_role(
                "desk-lead",
                name="Desk lead",
                permissions=["patron.everything"],
                actor=actor(admin),
                by=admin,
            )
        with pytest.raises(services.AccountError, match="role code"):
            services.create_role(
                "Desk Lead!", name="Desk lead", permissions=[], actor=actor(admin), by=admin
            )
        role = services.create_role(
            "desk-lead",
            name="Desk lead",
            permissions=["circulation.loan", "patron.view_name"],
            scope="branch",
            actor=actor(admin),
            by=admin,
        )
        assert last("accounts.role_create").detail == {
            "role": "desk-lead",
            "permissions": ["circulation.loan", "patron.view_name"],
            "scope": "branch",
        }
        added, removed = services.update_role(
            role,
            name="Desk lead",
            permissions=["circulation.loan", "patron.view_status"],
            scope="branch",
            actor=actor(admin),
            by=admin,
        )
    assert (added, removed) == (["patron.view_status"], ["patron.view_name"])
    assert Role.objects.get(code="desk-lead").permissions == [
        "circulation.loan",
        "patron.view_status",
    ]
    assert last("accounts.role_change").actor_id == "admin"


def test_nobody_adds_permissions_to_a_role_they_hold(people):
    admin = people["admin"]
    role = Role.objects.get(code="system-administrator")
    with clock.frozen(START), pytest.raises(services.AccountError, match="hold themselves"):
        services.update_role(
            role,
            name=role.name,
            permissions=[*role.permissions, "patron.view_history"],
            scope=role.scope,
            actor=actor(admin),
            by=admin,
        )
    assert "patron.view_history" not in Role.objects.get(pk=role.pk).permissions


def test_someone_always_keeps_role_manage(people):
    admin = people["admin"]
    role = Role.objects.get(code="system-administrator")
    kept = [c for c in role.permissions if c != "role.manage"]
    with clock.frozen(START), pytest.raises(services.AccountError, match="manage roles"):
        services.update_role(
            role, name=role.name, permissions=kept, scope=role.scope, actor=actor(admin), by=admin
        )


# --- certifications --------------------------------------------------------------------


def test_certification_list_and_no_self_certification(people):
    people["cataloguer"], people["admin"]
    officer, desk = people["officer"], people["desk"]
    with clock.frozen(START):
        with pytest.raises(services.AccessDenied):
            services.list_certifications(by=people["admin"])
        rows = {r.staff.username: r for r in services.list_certifications(by=officer)}
        assert rows["desk"].status == "current" and rows["desk"].needs_one
        assert not rows["cat"].needs_one
        with pytest.raises(services.AccountError, match="own certification"):
            services.certify(
                officer,
                course="Privacy",
                until=START.date() + dt.timedelta(days=9),
                actor=actor(officer),
                by=officer,
            )
        services.certify(
            desk,
            course="Privacy refresher",
            until=START.date().replace(year=2027),
            actor=actor(officer),
            by=officer,
        )
    assert last("accounts.certify").actor_id == "officer"


# --- break-glass -----------------------------------------------------------------------


def _grant(people, hours=2):
    return services.grant_break_glass(
        people["desk"],
        ["patron.view_history"],
        justification=WHY,
        by=people["officer"],
        ends=START + dt.timedelta(hours=hours),
    )


def test_break_glass_uses_are_listed_and_reviewed_once_by_someone_else(people):
    officer, officer2, desk = people["officer"], people["officer2"], people["desk"]
    with clock.frozen(START):
        grant = _grant(people)
        services.require(desk, "patron.view_history", purpose="complaint 42")
        services.require(desk, "patron.view_history", purpose="complaint 42, second look")
        rows = services.list_break_glass(by=officer2)
        assert [r.grant.pk for r in rows] == [grant.pk]
        uses = rows[0].uses
        assert [u.purpose for u in uses] == ["complaint 42", "complaint 42, second look"]
        assert rows[0].unreviewed == 2 and rows[0].state == "current"
        # Reading the uses read the ledger, which is recorded.
        assert last("ledger.query").actor_id == "officer2"

        services.review_break_glass_use(grant, uses[0].seq, outcome="justified", by=officer2)
        review = last("accounts.breakglass_review")
        assert review.detail == {"grant": grant.pk, "use": uses[0].seq, "outcome": "justified"}
        with pytest.raises(services.AccountError, match="already"):
            services.review_break_glass_use(grant, uses[0].seq, outcome="concern", by=officer)
        with pytest.raises(services.AccountError, match="not a recorded use"):
            services.review_break_glass_use(grant, review.seq, outcome="concern", by=officer)
        with pytest.raises(services.AccountError, match="outcome"):
            services.review_break_glass_use(grant, uses[1].seq, outcome="fine", by=officer)
        row = services.get_break_glass(grant.pk, by=officer)
        assert [u.reviewed_by for u in row.uses] == ["officer2", ""]
        assert row.unreviewed == 1
        with pytest.raises(services.AccessDenied):
            services.list_break_glass(by=people["admin"])


def test_nobody_reviews_their_own_use(people):
    officer, desk = people["officer"], people["desk"]
    with clock.frozen(START):
        grant = services.grant_break_glass(
            officer,
            ["patron.change"],
            justification=WHY,
            by=people["officer2"],
            ends=START + dt.timedelta(hours=1),
        )
        services.require(officer, "patron.change", purpose="fix an address")
        use = services.get_break_glass(grant.pk, by=people["officer2"]).uses[0]
        with pytest.raises(services.AccountError, match="own use"):
            services.review_break_glass_use(grant, use.seq, outcome="justified", by=officer)
        with pytest.raises(services.AccessDenied):
            services.review_break_glass_use(grant, use.seq, outcome="justified", by=desk)


def test_revoked_grant_stops_at_once(people):
    officer, desk = people["officer"], people["desk"]
    with clock.frozen(START):
        grant = _grant(people)
        assert services.has_permission(desk, "patron.view_history")
        with pytest.raises(services.AccessDenied):
            services.revoke_break_glass(grant, by=desk)
        services.revoke_break_glass(grant, by=officer)
        assert not services.has_permission(desk, "patron.view_history")
        with pytest.raises(services.AccountError, match="already"):
            services.revoke_break_glass(grant, by=officer)
        assert services.get_break_glass(grant.pk, by=officer).state == "revoked"
    assert BreakGlassGrant.objects.get(pk=grant.pk).revoked_at is not None
    assert last("accounts.breakglass_revoke").detail == {"grant": grant.pk, "staff": desk.pk}


def test_may_records_nothing_and_follows_certification(people):
    officer, desk = people["officer"], people["desk"]
    with clock.frozen(START):
        _grant(people)
        people["manager"], people["admin"]
        before = Entry.objects.count()
        assert services.may(desk, "patron.view_history")
        assert services.may(people["manager"], "staff.manage", branch="any")
        assert not services.may(people["manager"], "staff.manage")
        assert not services.may(people["admin"], "patron.view_name")
        assert Entry.objects.count() == before
    with clock.frozen(START + dt.timedelta(days=400)):
        assert not services.may(officer, "ledger.read")
        assert services.may(officer, "breakglass.grant")


def test_admin_entries_keep_the_chain_whole(people):
    from shelfguard.ledger.verify import verify

    admin, desk = people["admin"], people["desk"]
    with clock.frozen(START):
        services.assign_roles(desk, ["cataloguer"], actor=actor(admin), by=admin)
        services.disable_staff(desk, actor=actor(admin), by=admin)
        services.enable_staff(desk, actor=actor(admin), by=admin)
    assert verify().ok


def test_an_administrator_is_beyond_a_branch_managers_reach(people):
    admin, admin2 = people["admin"], people["admin2"]
    with clock.frozen(START):
        with pytest.raises(services.AccessDenied):
            services.disable_staff(admin, actor=actor(people["manager"]), by=people["manager"])
        # Another administrator may; one with role.manage remains.
        services.disable_staff(admin2, actor=actor(admin), by=admin)
    assert not StaffUser.objects.get(pk=admin2.pk).is_active
