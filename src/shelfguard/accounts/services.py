"""The doors to staff accounts: permissions, staff lifecycle, certification, break-glass.

`has_permission` is the single place that decides what a staff member may
do. A permission is granted by a role (branch-scoped roles only for their own
branch) or by a current break-glass grant; a permission that touches patron
data additionally needs a current privacy certification, checked against
the one clock on every call, so an expiry takes effect at once. Signing in
is in `signin`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from shelfguard.accounts import config, mfa, passwords, sessions, usernames
from shelfguard.accounts.models import (
    BreakGlassGrant,
    Certification,
    EnrolmentCode,
    Role,
    StaffUser,
)
from shelfguard.accounts.permissions import PATRON_DATA, PERMISSIONS, check_codes
from shelfguard.accounts.tokens import clean_code, keyed_hash, new_code
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.ledger import services as ledger

MAX_BREAKGLASS = dt.timedelta(hours=72)
MIN_JUSTIFICATION = 20


class AccountError(ValueError):
    """A request about staff accounts that cannot be carried out; says why."""


class AccessDenied(PermissionError):
    """`require` refused; `decision.reason` is fit to show the staff member."""

    def __init__(self, decision: Decision):
        super().__init__(decision.reason)
        self.decision = decision


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    grant_id: int | None = None

    def __bool__(self) -> bool:
        return self.allowed


def staff_actor(staff: StaffUser, channel: str = "web") -> Actor:
    return Actor(kind="staff", ident=staff.username, channel=channel)


# --- permissions -------------------------------------------------------------


def current_certification(staff: StaffUser) -> Certification | None:
    today = clock.today()
    return (
        Certification.objects.filter(staff=staff, passed_on__lte=today, expires_on__gte=today)
        .order_by("-expires_on")
        .first()
    )


def _certification_problem(staff: StaffUser) -> str:
    if current_certification(staff) is not None:
        return ""
    last = Certification.objects.filter(staff=staff).order_by("-expires_on").first()
    if last is not None and last.expires_on < clock.today():
        return _(
            "Your privacy certification expired on %(date)s. Patron data stays closed to you "
            "until the privacy officer records a current one; other work goes on."
        ) % {"date": last.expires_on.isoformat()}
    return _(
        "You have no current privacy certification. Patron data stays closed to you until "
        "the privacy officer records one; other work goes on."
    )


def _branch_id(branch: Branch | int | None) -> int | None:
    if branch is None or isinstance(branch, int):
        return branch
    return branch.pk


def has_permission(
    staff: StaffUser | None,
    code: str,
    *,
    branch: Branch | int | None = None,
    purpose: str = "break-glass access",
    channel: str = "web",
) -> Decision:
    """May `staff` use permission `code` (for something of `branch`) right now?

    Unknown codes raise `UnknownPermission`: a typo must not quietly deny (or
    allow) anything. A use of a break-glass grant is written to the access
    ledger, flagged for review, in its own transaction.
    """
    if code not in PERMISSIONS:
        check_codes([code])
    if staff is None or not getattr(staff, "is_authenticated", False) or not staff.pk:
        return Decision(False, _("Sign in first."))
    if not staff.is_active:
        return Decision(False, _("This account is disabled."))
    wanted_branch = _branch_id(branch)
    granted = False
    scoped_only = False
    for role in staff.roles.all():
        if code not in role.permissions:
            continue
        if role.scope == Role.Scope.LIBRARY or (
            wanted_branch is not None and wanted_branch == staff.branch_id
        ):
            granted = True
            break
        scoped_only = True
    grant = None
    if not granted:
        grant = _find_grant(staff, code, clock.now())
    if not granted and grant is None:
        if scoped_only:
            return Decision(False, _("Your role allows this only for your own branch."))
        return Decision(
            False,
            _("None of your roles includes the permission “%(perm)s”.") % {"perm": code},
        )
    if code in PATRON_DATA:
        problem = _certification_problem(staff)
        if problem:
            return Decision(False, problem)
    if grant is None:
        return Decision(True, _("Granted by your role."))
    with transaction.atomic():
        ledger.append(
            actor=staff_actor(staff, channel),
            action="accounts.breakglass_use",
            purpose=purpose,
            detail={"grant": grant.pk, "permission": code, "review": True},
        )
    return Decision(True, _("Granted by a break-glass grant (recorded for review)."), grant.pk)


def _find_grant(staff: StaffUser, code: str, now: dt.datetime) -> BreakGlassGrant | None:
    # JSON containment lookups differ between SQLite and PostgreSQL; a staff
    # member has at most a few current grants, so filter those in Python.
    for grant in BreakGlassGrant.objects.filter(
        staff=staff, starts__lte=now, ends__gt=now, revoked_at__isnull=True
    ).order_by("ends"):
        if code in grant.permissions:
            return grant
    return None


def require(
    staff: StaffUser | None,
    code: str,
    *,
    purpose: str,
    branch: Branch | int | None = None,
    channel: str = "web",
) -> Decision:
    """`has_permission`, raising `AccessDenied` with the reason when refused.

    Patron data is never read without a purpose, so an empty one is refused
    before anything else.
    """
    if not isinstance(purpose, str) or not purpose.strip():
        raise AccessDenied(Decision(False, _("Say why: every use needs a purpose.")))
    decision = has_permission(staff, code, branch=branch, purpose=purpose, channel=channel)
    if not decision.allowed:
        raise AccessDenied(decision)
    return decision


def permissions_of(staff: StaffUser) -> dict[str, Decision]:
    """Every permission code with its decision now (for the staff member's own page).

    Break-glass grants are only reported here, not used, so looking does not
    write ledger entries.
    """
    result = {}
    for code in PERMISSIONS:
        in_role = any(code in role.permissions for role in staff.roles.all())
        if not in_role:
            continue
        if code in PATRON_DATA and (problem := _certification_problem(staff)):
            result[code] = Decision(False, problem)
        else:
            result[code] = Decision(True, _("Granted by your role."))
    return result


# --- staff lifecycle -----------------------------------------------------------


def _authorise(by: StaffUser | None, code: str, *, purpose: str, branch=None) -> None:
    """Web callers name the staff member acting; the CLI operator is trusted (by=None)."""
    if by is not None:
        require(by, code, purpose=purpose, branch=branch)


def get_staff(username: str) -> StaffUser:
    try:
        name = usernames.normalise(username)
    except usernames.UsernameError as exc:
        raise AccountError(str(exc)) from None
    try:
        return StaffUser.objects.get(username=name)
    except StaffUser.DoesNotExist:
        raise AccountError(f"No staff member {name!r}.") from None


def _new_enrolment_code(staff: StaffUser) -> str:
    code = new_code(groups=5)
    now = clock.now()
    EnrolmentCode.objects.filter(staff=staff, used_at__isnull=True).delete()
    EnrolmentCode.objects.create(
        staff=staff,
        code_hash=keyed_hash("enrolment-code", clean_code(code)),
        created_at=now,
        expires_at=now + dt.timedelta(hours=config.value("enrolment_hours")),
    )
    return code


def create_staff(
    username: str,
    *,
    roles: Iterable[str],
    branch: str,
    password: str | None = None,
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "staff administration",
) -> tuple[StaffUser, str]:
    """Create a staff member; returns them and their one-time enrolment code.

    Without `password`, the staff member chooses one when they enrol. Either
    way they cannot sign in until they have enrolled a second factor, which
    needs the enrolment code.
    """
    try:
        name = usernames.normalise(username)
    except usernames.UsernameError as exc:
        raise AccountError(str(exc)) from None
    role_codes = sorted(set(roles))
    if not role_codes:
        raise AccountError("Give at least one role, e.g. --role circulation-desk.")
    found = {r.code: r for r in Role.objects.filter(code__in=role_codes)}
    missing = [c for c in role_codes if c not in found]
    if missing:
        known = ", ".join(Role.objects.values_list("code", flat=True)) or "none"
        raise AccountError(f"Unknown role {', '.join(missing)} (known: {known}).")
    home = Branch.objects.filter(code=branch.strip().upper()).first()
    if home is None:
        raise AccountError(f"Unknown branch {branch!r}; add it with `shelfguard branch add`.")
    _authorise(by, "staff.manage", purpose=purpose, branch=home)
    _check_may_hand_out(by, list(found.values()), branch=home.pk)
    if password is not None:
        reasons = passwords.problems(password, second_factor=True, username=name)
        if reasons:
            raise AccountError(" ".join(reasons))
    with transaction.atomic():
        if StaffUser.objects.filter(username=name).exists():
            raise AccountError(f"Staff member {name!r} already exists.")
        staff = StaffUser(username=name, branch=home, created_at=clock.now())
        staff.set_password(password)  # None: unusable until chosen at enrolment
        staff.save()
        staff.roles.set(found.values())
        code = _new_enrolment_code(staff)
        ledger.append(
            actor=actor,
            action="accounts.staff_create",
            purpose=purpose,
            detail={"staff": staff.pk, "roles": role_codes, "branch": home.code},
        )
    return staff, code


def issue_enrolment_code(
    staff: StaffUser,
    *,
    reset: bool = False,
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "staff administration",
) -> str:
    """A new one-time enrolment code (the old one stops working).

    For a staff member whose code expired unused, or who lost their phone and
    their recovery codes. If they have a second factor, `reset=True` must say
    so explicitly: their authenticator and recovery codes are removed and all
    their sessions end, so a stolen password still needs the new code.
    """
    _authorise(by, "staff.manage", purpose=purpose, branch=staff.branch_id)
    _check_may_manage(by, staff)
    if not staff.is_active:
        raise AccountError(f"{staff.username} is disabled.")
    has_factor = mfa.has_second_factor(staff)
    if has_factor and not reset:
        raise AccountError(
            f"{staff.username} already has a second factor; add --reset to remove it (and "
            "their recovery codes) and issue a new enrolment code."
        )
    with transaction.atomic():
        ended = 0
        if has_factor:
            removed = mfa.remove_all(staff)
            ended = sessions.end_all(staff, sessions.FACTOR_RESET)
        else:
            removed = 0
        code = _new_enrolment_code(staff)
        ledger.append(
            actor=actor,
            action="accounts.enrolment_code",
            purpose=purpose,
            detail={"staff": staff.pk, "devices_removed": removed, "sessions_ended": ended},
        )
    return code


def certify(
    staff: StaffUser,
    *,
    course: str,
    until: dt.date,
    passed_on: dt.date | None = None,
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "privacy certification",
) -> Certification:
    """Record a passed privacy course, valid through `until`."""
    _authorise(by, "certification.record", purpose=purpose)
    if by is not None and by.pk == staff.pk:
        raise AccountError("Nobody records their own certification; ask another privacy officer.")
    course = " ".join(str(course).split())
    if not course or len(course) > 200:
        raise AccountError("Name the course (at most 200 characters).")
    passed_on = passed_on or clock.today()
    if until < clock.today():
        raise AccountError(
            f"{until.isoformat()} is in the past; the certification would not count."
        )
    if until < passed_on:
        raise AccountError("The certification cannot expire before it was passed.")
    with transaction.atomic():
        cert = Certification.objects.create(
            staff=staff,
            course=course,
            passed_on=passed_on,
            expires_on=until,
            recorded_by=by,
            recorded_at=clock.now(),
        )
        ledger.append(
            actor=actor,
            action="accounts.certify",
            purpose=purpose,
            detail={"staff": staff.pk, "certification": cert.pk, "until": until.isoformat()},
        )
    return cert


def disable_staff(
    staff: StaffUser,
    *,
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "staff administration",
) -> int:
    """Disable the account and end all its sessions at once; returns how many ended."""
    _authorise(by, "staff.manage", purpose=purpose, branch=staff.branch_id)
    if by is not None and by.pk == staff.pk:
        raise AccountError("Nobody disables their own account; ask another administrator.")
    _check_may_manage(by, staff)
    with transaction.atomic():
        kept_before = _someone_keeps_role_manage()
        staff.is_active = False
        staff.disabled_at = clock.now()
        staff.save(update_fields=["is_active", "disabled_at"])
        if by is not None and kept_before and not _someone_keeps_role_manage():
            raise AccountError(
                f"{staff.username} is the last active staff member who can manage roles; "
                "give role.manage to someone else first."
            )
        ended = sessions.end_all(staff, sessions.DISABLED)
        EnrolmentCode.objects.filter(staff=staff, used_at__isnull=True).delete()
        ledger.append(
            actor=actor,
            action="accounts.staff_disable",
            purpose=purpose,
            detail={"staff": staff.pk, "sessions_ended": ended},
        )
    return ended


def grant_break_glass(
    staff: StaffUser,
    permissions: Iterable[str],
    *,
    justification: str,
    by: StaffUser,
    ends: dt.datetime,
    starts: dt.datetime | None = None,
    channel: str = "web",
) -> BreakGlassGrant:
    """Give `staff` permissions outside their roles until `ends` (at most 72 hours).

    Only a holder of `breakglass.grant` may, never for themselves, and only
    with a written justification; the grant is recorded and flagged for review.
    """
    justification = " ".join(str(justification).split())
    require(by, "breakglass.grant", purpose="break-glass grant", channel=channel)
    if by.pk == staff.pk:
        raise AccountError("Nobody can grant break-glass access to themselves.")
    codes = check_codes(permissions)
    if not codes:
        raise AccountError("Name the permissions the grant gives.")
    if len(justification) < MIN_JUSTIFICATION:
        raise AccountError(
            f"Write a justification of at least {MIN_JUSTIFICATION} characters; it is reviewed."
        )
    starts = starts or clock.now()
    if ends <= starts:
        raise AccountError("A grant must end after it starts.")
    if ends - starts > MAX_BREAKGLASS:
        raise AccountError("A break-glass grant lasts at most 72 hours.")
    with transaction.atomic():
        grant = BreakGlassGrant.objects.create(
            staff=staff,
            permissions=codes,
            justification=justification,
            granted_by=by,
            starts=starts,
            ends=ends,
        )
        ledger.append(
            actor=staff_actor(by, channel),
            action="accounts.breakglass_grant",
            purpose="break-glass grant",
            detail={
                "grant": grant.pk,
                "staff": staff.pk,
                "permissions": codes,
                "hours": int((ends - starts).total_seconds() // 3600),
                "review": True,
            },
        )
    return grant


# --- administration: who may hand out what --------------------------------------
#
# The rule against privilege escalation, in one place (docs/operators/staff.md,
# "Administration pages"):
#
# 1. Managing a staff member (creating, disabling, re-enabling, giving or
#    taking roles, moving, new enrolment codes, second-factor resets) needs
#    `staff.manage` for that staff member's branch (for a move: for both
#    branches). A branch manager therefore manages only their own branch.
# 2. Nobody changes their own roles, branch, certification or account state.
# 3. Holders of `role.manage` through a library-wide role can already write any
#    permission into any role, so for them rule 4 adds nothing; they may give
#    and take every role (and that is why `role.manage` belongs only to the
#    system administrator, and why they cannot add permissions to a role they
#    hold themselves, see `update_role`).
# 4. Everyone else may give or take a role only if their own roles grant them
#    every permission in it, for that staff member's branch, and may manage a
#    staff member only if their own roles cover every permission that staff
#    member holds. So a branch manager can make a desk assistant of their
#    branch, but never a privacy officer or an administrator, and cannot
#    reset the second factor of (or disable) a privacy officer who happens to
#    work at their branch. Break-glass grants lend access; they never count
#    as a power to hand access on.


def role_holdings(staff: StaffUser | None, *, branch: Branch | int | None = None) -> set[str]:
    """The codes the staff member's roles grant (for `branch`), ignoring certification.

    Break-glass grants are not included, and nothing is recorded: this is for
    deciding what someone may hand on, not for using a permission.
    """
    if staff is None or not getattr(staff, "pk", None) or not staff.is_active:
        return set()
    wanted = _branch_id(branch)
    held: set[str] = set()
    for role in staff.roles.all():
        if role.scope == Role.Scope.LIBRARY or (wanted is not None and wanted == staff.branch_id):
            held.update(role.permissions)
    return held


def manages_roles(staff: StaffUser | None) -> bool:
    """True for a staff member whose library-wide roles hold `role.manage`."""
    return "role.manage" in role_holdings(staff)


def _check_may_hand_out(by: StaffUser | None, roles: Iterable[Role], *, branch) -> None:
    if by is None or manages_roles(by):
        return
    held = role_holdings(by, branch=branch)
    for role in roles:
        beyond = sorted(set(role.permissions) - held)
        if beyond:
            raise AccessDenied(
                Decision(
                    False,
                    _(
                        "You cannot give or take the role “%(role)s”: it holds permissions "
                        "your own roles do not give you (%(perms)s)."
                    )
                    % {"role": role.code, "perms": ", ".join(beyond)},
                )
            )


def _check_may_manage(by: StaffUser | None, staff: StaffUser) -> None:
    """Rule 4 for actions on a person: their powers must not exceed the actor's."""
    if by is None or manages_roles(by):
        return
    held = role_holdings(by, branch=staff.branch_id)
    theirs: set[str] = set()
    for role in staff.roles.all():
        theirs.update(role.permissions)
    beyond = sorted(theirs - held)
    if beyond:
        raise AccessDenied(
            Decision(
                False,
                _(
                    "You cannot manage %(name)s: their roles hold permissions yours do not "
                    "(%(perms)s)."
                )
                % {"name": staff.username, "perms": ", ".join(beyond)},
            )
        )


def _not_self(by: StaffUser | None, staff: StaffUser, message: str) -> None:
    if by is not None and by.pk == staff.pk:
        raise AccountError(message)


def may(staff: StaffUser | None, code: str, *, branch: Branch | int | None = None) -> bool:
    """Whether a page about `code` is worth offering (links, buttons); records nothing.

    Never the decision itself: pages and services decide with `has_permission`.
    With `branch="any"` a branch-scoped role counts (for the own branch).
    """
    if staff is None or not getattr(staff, "is_authenticated", False) or not staff.pk:
        return False
    if branch == "any":
        branch = staff.branch_id
    held = code in role_holdings(staff, branch=branch)
    if not held:
        now = clock.now()
        held = any(
            code in g.permissions
            for g in BreakGlassGrant.objects.filter(
                staff=staff, starts__lte=now, ends__gt=now, revoked_at__isnull=True
            )
        )
    if held and code in PATRON_DATA:
        return current_certification(staff) is not None
    return held


# --- administration: staff ------------------------------------------------------


def _scope_of_list(by: StaffUser | None, purpose: str) -> int | None:
    """None when `by` may see every branch's staff, else the one branch id they may see."""
    if by is None:
        return None
    if has_permission(by, "staff.manage", purpose=purpose):
        return None
    require(by, "staff.manage", purpose=purpose, branch=by.branch_id)
    return by.branch_id


def list_staff(
    *,
    by: StaffUser | None,
    branch: Branch | int | str | None = None,
    include_disabled: bool = True,
    purpose: str = "staff administration",
) -> list[StaffUser]:
    """Staff the actor may manage, optionally of one branch (a Branch, its id or code).

    A library-wide `staff.manage` sees every branch; a branch-scoped one only
    their own, and asking for another branch is refused.
    """
    if isinstance(branch, str):
        found = Branch.objects.filter(code=branch.strip().upper()).first()
        if found is None:
            raise AccountError(f"Unknown branch {branch!r}.")
        branch = found
    wanted = _branch_id(branch)
    allowed = _scope_of_list(by, purpose)
    if allowed is not None:
        if wanted is not None and wanted != allowed:
            require(by, "staff.manage", purpose=purpose, branch=wanted)  # raises
        wanted = allowed
    rows = StaffUser.objects.select_related("branch").prefetch_related("roles")
    if wanted is not None:
        rows = rows.filter(branch_id=wanted)
    if not include_disabled:
        rows = rows.filter(is_active=True)
    return list(rows.order_by("username"))


@dataclass(frozen=True)
class StaffDetails:
    """What an administrator sees about a staff member: never a secret."""

    staff: StaffUser
    roles: list[Role]
    certification: Certification | None
    last_certification: Certification | None
    active_sessions: int
    second_factor: bool
    recovery_codes_left: int
    enrolment_pending: bool
    breakglass: list[BreakGlassGrant]


def staff_details(
    staff: StaffUser, *, by: StaffUser | None, purpose: str = "staff administration"
) -> StaffDetails:
    _authorise(by, "staff.manage", purpose=purpose, branch=staff.branch_id)
    now = clock.now()
    return StaffDetails(
        staff=staff,
        roles=list(staff.roles.all()),
        certification=current_certification(staff),
        last_certification=Certification.objects.filter(staff=staff)
        .order_by("-expires_on")
        .first(),
        active_sessions=len(sessions.active(staff)),
        second_factor=mfa.has_second_factor(staff),
        recovery_codes_left=mfa.recovery_codes_left(staff),
        enrolment_pending=EnrolmentCode.objects.filter(
            staff=staff, used_at__isnull=True, expires_at__gt=now
        ).exists(),
        breakglass=list(
            BreakGlassGrant.objects.filter(staff=staff, ends__gt=now, revoked_at__isnull=True)
        ),
    )


@dataclass(frozen=True)
class StaffAsSeenByPatron:
    """What a patron's "who looked at my record" page may say about a member of staff."""

    username: str
    #: Role names as they are now (roles are not kept per ledger entry).
    roles: list[str]
    branch: str


def staff_as_seen_by_patron(usernames: Iterable[str]) -> dict[str, StaffAsSeenByPatron]:
    """Roles and branch of each named staff member (unknown names are left out); two queries.

    No personal data of a patron is read, so nothing is recorded: the page
    that shows it records its own read of the ledger.
    """
    wanted = {name for name in usernames if name}
    rows = (
        StaffUser.objects.filter(username__in=wanted)
        .select_related("branch")
        .prefetch_related("roles")
    )
    return {
        staff.username: StaffAsSeenByPatron(
            username=staff.username,
            roles=[role.name for role in staff.roles.all()],
            branch=staff.branch.name,
        )
        for staff in rows
    }


def enable_staff(
    staff: StaffUser,
    *,
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "staff administration",
) -> None:
    """Re-enable a disabled account. Its old sessions stay ended; it signs in afresh."""
    _authorise(by, "staff.manage", purpose=purpose, branch=staff.branch_id)
    _not_self(by, staff, "Nobody re-enables their own account.")
    _check_may_manage(by, staff)
    if staff.is_active:
        raise AccountError(f"{staff.username} is not disabled.")
    with transaction.atomic():
        staff.is_active = True
        staff.disabled_at = None
        staff.save(update_fields=["is_active", "disabled_at"])
        ledger.append(
            actor=actor,
            action="accounts.staff_enable",
            purpose=purpose,
            detail={"staff": staff.pk},
        )


def _roles_by_code(codes: Iterable[str]) -> list[Role]:
    wanted = sorted({str(c) for c in codes})
    found = {r.code: r for r in Role.objects.filter(code__in=wanted)}
    missing = [c for c in wanted if c not in found]
    if missing:
        raise AccountError(f"Unknown role {', '.join(missing)}.")
    return [found[c] for c in wanted]


def assign_roles(
    staff: StaffUser,
    roles: Iterable[str],
    *,
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "staff administration",
) -> tuple[list[str], list[str]]:
    """Give the staff member exactly these roles (codes); returns (added, removed).

    See the rule against privilege escalation above: every role given or
    taken must be one the actor could hold out themselves.
    """
    _authorise(by, "staff.manage", purpose=purpose, branch=staff.branch_id)
    _not_self(by, staff, "Nobody changes their own roles; ask another administrator.")
    new = _roles_by_code(roles)
    if not new:
        raise AccountError("Give at least one role; to stop someone working, disable them.")
    with transaction.atomic():
        current = {r.code: r for r in staff.roles.select_for_update()}
        wanted = {r.code: r for r in new}
        added = sorted(set(wanted) - set(current))
        removed = sorted(set(current) - set(wanted))
        _check_may_hand_out(
            by, [wanted[c] for c in added] + [current[c] for c in removed], branch=staff.branch_id
        )
        if not added and not removed:
            return [], []
        kept_before = _someone_keeps_role_manage()
        staff.roles.set(new)
        if by is not None and kept_before and not _someone_keeps_role_manage():
            raise AccountError(
                "After this change no active staff member could manage roles; give "
                "role.manage to someone else first."
            )
        ledger.append(
            actor=actor,
            action="accounts.staff_roles",
            purpose=purpose,
            detail={"staff": staff.pk, "added": added, "removed": removed},
        )
    return added, removed


def move_staff(
    staff: StaffUser,
    branch: str,
    *,
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "staff administration",
) -> None:
    """Move a staff member to another home branch (needs `staff.manage` for both)."""
    target = Branch.objects.filter(code=str(branch).strip().upper()).first()
    if target is None:
        raise AccountError(f"Unknown branch {branch!r}.")
    _authorise(by, "staff.manage", purpose=purpose, branch=staff.branch_id)
    _authorise(by, "staff.manage", purpose=purpose, branch=target)
    _not_self(by, staff, "Nobody moves themselves to another branch.")
    _check_may_manage(by, staff)
    if target.pk == staff.branch_id:
        raise AccountError(f"{staff.username} already belongs to {target.code}.")
    old = Branch.objects.get(pk=staff.branch_id)
    with transaction.atomic():
        staff.branch = target
        staff.save(update_fields=["branch"])
        ledger.append(
            actor=actor,
            action="accounts.staff_move",
            purpose=purpose,
            detail={"staff": staff.pk, "from": old.code, "to": target.code},
        )


def reset_second_factor(
    staff: StaffUser,
    *,
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "staff administration",
) -> str:
    """Remove the authenticator and recovery codes, end every session; returns a new code.

    The password is left alone and the staff member cannot sign in again until
    they enrol a new second factor with the returned one-time code: a reset
    never leaves an account with a password only.
    """
    _not_self(by, staff, "Reset your own second factor by asking another administrator.")
    if not mfa.has_second_factor(staff):
        raise AccountError(
            f"{staff.username} has no second factor to reset; issue an enrolment code instead."
        )
    return issue_enrolment_code(staff, reset=True, actor=actor, by=by, purpose=purpose)


def reissue_enrolment_code(
    staff: StaffUser,
    *,
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "staff administration",
) -> str:
    """A new enrolment code for someone who has not enrolled yet (never a reset)."""
    _not_self(by, staff, "Ask another administrator for your enrolment code.")
    return issue_enrolment_code(staff, reset=False, actor=actor, by=by, purpose=purpose)


# --- administration: roles --------------------------------------------------------


def _clean_role_fields(name: str, description: str, permissions, scope: str):
    name = " ".join(str(name).split())
    if not name or len(name) > 200:
        raise AccountError("Name the role (at most 200 characters).")
    description = str(description or "").strip()
    if len(description) > 2000:
        raise AccountError("Keep the description under 2000 characters.")
    if scope not in Role.Scope.values:
        raise AccountError(f"Scope must be one of {', '.join(Role.Scope.values)}.")
    from shelfguard.accounts.permissions import UnknownPermission

    try:
        codes = check_codes(permissions)
    except UnknownPermission as exc:
        raise AccountError(str(exc)) from None
    return name, description, codes


def _someone_keeps_role_manage(changed: Role | None = None) -> bool:
    """Whether an active staff member holds `role.manage` library-wide (after `changed`)."""
    for role in Role.objects.all():
        if changed is not None and role.pk == changed.pk:
            role = changed
        if (
            role.scope == Role.Scope.LIBRARY
            and "role.manage" in role.permissions
            and role.staff.filter(is_active=True).exists()
        ):
            return True
    return False


def create_role(
    code: str,
    *,
    name: str,
    permissions: Iterable[str],
    scope: str = Role.Scope.LIBRARY,
    description: str = "",
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "role administration",
) -> Role:
    _authorise(by, "role.manage", purpose=purpose)
    from django.utils.text import slugify

    code = str(code).strip().lower()
    if not code or slugify(code) != code or len(code) > 64:
        raise AccountError("A role code is lower-case letters, digits and hyphens, e.g. desk-lead.")
    name, description, codes = _clean_role_fields(name, description, permissions, scope)
    with transaction.atomic():
        if Role.objects.filter(code=code).exists():
            raise AccountError(f"Role {code!r} already exists.")
        role = Role.objects.create(
            code=code, name=name, description=description, permissions=codes, scope=scope
        )
        ledger.append(
            actor=actor,
            action="accounts.role_create",
            purpose=purpose,
            detail={"role": role.code, "permissions": codes, "scope": scope},
        )
    return role


def update_role(
    role: Role,
    *,
    name: str,
    permissions: Iterable[str],
    scope: str,
    description: str = "",
    actor: Actor,
    by: StaffUser | None = None,
    purpose: str = "role administration",
) -> tuple[list[str], list[str]]:
    """Change a role; every holder's permissions change at once. Returns (added, removed).

    Nobody adds permissions to (or widens the scope of) a role they hold
    themselves, and some active staff member always keeps `role.manage`.
    """
    _authorise(by, "role.manage", purpose=purpose)
    name, description, codes = _clean_role_fields(name, description, permissions, scope)
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=role.pk)
        added = sorted(set(codes) - set(role.permissions))
        removed = sorted(set(role.permissions) - set(codes))
        widened = role.scope == Role.Scope.BRANCH and scope == Role.Scope.LIBRARY
        if by is not None and (added or widened) and role.staff.filter(pk=by.pk).exists():
            raise AccountError(
                "Nobody adds permissions to a role they hold themselves; ask another administrator."
            )
        before = (role.name, role.description, role.scope)
        kept_before = _someone_keeps_role_manage()
        role.name, role.description, role.permissions, role.scope = (
            name,
            description,
            codes,
            scope,
        )
        if kept_before and not _someone_keeps_role_manage(role):
            raise AccountError(
                "After this change no active staff member could manage roles; keep "
                "role.manage in a library-wide role someone holds."
            )
        if not added and not removed and before == (name, description, scope):
            return [], []
        role.save()
        ledger.append(
            actor=actor,
            action="accounts.role_change",
            purpose=purpose,
            detail={"role": role.code, "added": added, "removed": removed, "scope": scope},
        )
    return added, removed


def list_roles(*, by: StaffUser | None, purpose: str = "role administration") -> list[Role]:
    _authorise(by, "role.manage", purpose=purpose)
    return list(Role.objects.order_by("code"))


# --- administration: certifications ------------------------------------------------


@dataclass(frozen=True)
class CertificationRow:
    staff: StaffUser
    current: Certification | None
    latest: Certification | None
    needs_one: bool  # their roles hold patron-data permissions

    @property
    def status(self) -> str:
        if self.current is not None:
            return "current"
        if self.latest is not None:
            return "expired"
        return "none"


def list_certifications(
    *, by: StaffUser | None, purpose: str = "privacy certification"
) -> list[CertificationRow]:
    """Every active staff member with their current and latest certification."""
    _authorise(by, "certification.record", purpose=purpose)
    today = clock.today()
    rows = []
    for staff in (
        StaffUser.objects.filter(is_active=True)
        .select_related("branch")
        .prefetch_related("roles", "certifications")
        .order_by("username")
    ):
        certs = sorted(staff.certifications.all(), key=lambda c: c.expires_on, reverse=True)
        current = next((c for c in certs if c.passed_on <= today <= c.expires_on), None)
        needs = any(set(r.permissions) & PATRON_DATA for r in staff.roles.all())
        rows.append(CertificationRow(staff, current, certs[0] if certs else None, needs))
    return rows


def certifications_of(
    staff: StaffUser, *, by: StaffUser | None, purpose: str = "privacy certification"
) -> list[Certification]:
    _authorise(by, "certification.record", purpose=purpose)
    return list(Certification.objects.filter(staff=staff).order_by("-expires_on"))


# --- administration: break-glass ---------------------------------------------------


@dataclass(frozen=True)
class BreakGlassUse:
    seq: int
    at: dt.datetime
    permission: str
    purpose: str
    reviewed_by: str
    outcome: str

    @property
    def reviewed(self) -> bool:
        return bool(self.reviewed_by)


@dataclass(frozen=True)
class BreakGlassRow:
    grant: BreakGlassGrant
    uses: list[BreakGlassUse]
    state: str  # "current", "future", "ended", "revoked"

    @property
    def unreviewed(self) -> int:
        return sum(1 for u in self.uses if not u.reviewed)


REVIEW_OUTCOMES = ("justified", "concern")


def _grant_state(grant: BreakGlassGrant, now: dt.datetime) -> str:
    if grant.revoked_at is not None:
        return "revoked"
    if now < grant.starts:
        return "future"
    if now >= grant.ends:
        return "ended"
    return "current"


def _reviews_since(seq: int) -> dict[int, tuple[str, str]]:
    """Reviews recorded after ledger entry `seq`: use seq -> (reviewer, outcome).

    Review entries hold only ids and an outcome code (no patron, no free
    text), so they are read directly rather than through a recorded query.
    """
    from shelfguard.ledger.models import Entry

    found: dict[int, tuple[str, str]] = {}
    for entry in Entry.objects.filter(action="accounts.breakglass_review", seq__gt=seq).only(
        "actor_id", "detail"
    ):
        use = entry.detail.get("use")
        if isinstance(use, int):
            found.setdefault(use, (entry.actor_id, str(entry.detail.get("outcome", ""))))
    return found


def _uses_of(grants: list[BreakGlassGrant], *, by: StaffUser | None, purpose: str):
    """The ledger's `accounts.breakglass_use` entries per grant id (a recorded query)."""
    actor = staff_actor(by) if by is not None else Actor.system("breakglass-review")
    per_staff: dict[str, dt.datetime] = {}
    for grant in grants:
        name = grant.staff.username
        per_staff[name] = min(per_staff.get(name, grant.starts), grant.starts)
    wanted = {g.pk for g in grants}
    uses: dict[int, list] = {g.pk: [] for g in grants}
    entries = []
    for name, since in sorted(per_staff.items()):
        entries.extend(
            e
            for e in ledger.query(actor=actor, purpose=purpose, actor_id=name, since=since)
            if e.action == "accounts.breakglass_use" and e.detail.get("grant") in wanted
        )
    reviews = _reviews_since(min((e.seq for e in entries), default=0) - 1)
    for e in sorted(entries, key=lambda e: e.seq):
        reviewer, outcome = reviews.get(e.seq, ("", ""))
        uses[e.detail["grant"]].append(
            BreakGlassUse(
                e.seq, e.at, str(e.detail.get("permission", "")), e.purpose, reviewer, outcome
            )
        )
    return uses


def list_break_glass(
    *,
    by: StaffUser | None,
    staff: StaffUser | None = None,
    limit: int = 50,
    purpose: str = "break-glass review",
) -> list[BreakGlassRow]:
    """The newest grants (of one staff member, or all) with every recorded use.

    Reading the uses reads the access ledger, which is itself recorded.
    """
    _authorise(by, "breakglass.grant", purpose=purpose)
    grants = BreakGlassGrant.objects.select_related("staff", "granted_by").order_by("-starts")
    if staff is not None:
        grants = grants.filter(staff=staff)
    grants = list(grants[:limit])
    if not grants:
        return []
    with transaction.atomic():
        uses = _uses_of(grants, by=by, purpose=purpose)
    now = clock.now()
    return [BreakGlassRow(g, uses[g.pk], _grant_state(g, now)) for g in grants]


def get_break_glass(
    grant_id: int, *, by: StaffUser | None, purpose: str = "break-glass review"
) -> BreakGlassRow:
    _authorise(by, "breakglass.grant", purpose=purpose)
    grant = (
        BreakGlassGrant.objects.select_related("staff", "granted_by").filter(pk=grant_id).first()
    )
    if grant is None:
        raise AccountError("No such break-glass grant.")
    with transaction.atomic():
        uses = _uses_of([grant], by=by, purpose=purpose)
    return BreakGlassRow(grant, uses[grant.pk], _grant_state(grant, clock.now()))


def revoke_break_glass(
    grant: BreakGlassGrant,
    *,
    by: StaffUser | None,
    actor: Actor | None = None,
    purpose: str = "break-glass revocation",
    channel: str = "web",
) -> None:
    """End a grant now (it stops working at the grantee's next request)."""
    if by is not None:
        require(by, "breakglass.grant", purpose=purpose, channel=channel)
    actor = actor or (staff_actor(by, channel) if by is not None else None)
    if actor is None:
        raise AccountError("Say who revokes the grant (actor=).")
    with transaction.atomic():
        grant = BreakGlassGrant.objects.select_for_update().get(pk=grant.pk)
        if grant.revoked_at is not None:
            raise AccountError("This grant was already revoked.")
        now = clock.now()
        if grant.ends <= now:
            raise AccountError("This grant has already ended.")
        grant.revoked_at = now
        grant.save(update_fields=["revoked_at"])
        ledger.append(
            actor=actor,
            action="accounts.breakglass_revoke",
            purpose=purpose,
            detail={"grant": grant.pk, "staff": grant.staff_id},
        )


def review_break_glass_use(
    grant: BreakGlassGrant,
    use_seq: int,
    *,
    outcome: str,
    by: StaffUser | None,
    actor: Actor | None = None,
    purpose: str = "break-glass review",
    channel: str = "web",
) -> None:
    """Record that one use of a grant was reviewed (`justified` or `concern`).

    Ledger entries are never changed, so the review is a new entry naming the
    use's sequence number. Nobody reviews their own use, and each use is
    reviewed once.
    """
    if by is not None:
        require(by, "breakglass.grant", purpose=purpose, channel=channel)
        if by.pk == grant.staff_id:
            raise AccountError("Nobody reviews their own use of a break-glass grant.")
    if outcome not in REVIEW_OUTCOMES:
        raise AccountError(f"The outcome is one of: {', '.join(REVIEW_OUTCOMES)}.")
    actor = actor or (staff_actor(by, channel) if by is not None else None)
    if actor is None:
        raise AccountError("Say who reviews the use (actor=).")
    from shelfguard.ledger.models import Entry

    use = Entry.objects.filter(seq=use_seq, action="accounts.breakglass_use").first()
    if use is None or use.detail.get("grant") != grant.pk:
        raise AccountError("That is not a recorded use of this grant.")
    with transaction.atomic():
        # Lock the grant so two reviewers of the same use queue, then check.
        BreakGlassGrant.objects.select_for_update().filter(pk=grant.pk).first()
        if use_seq in _reviews_since(use_seq):
            raise AccountError("That use has already been reviewed.")
        ledger.append(
            actor=actor,
            action="accounts.breakglass_review",
            purpose=purpose,
            detail={"grant": grant.pk, "use": use_seq, "outcome": outcome},
        )
