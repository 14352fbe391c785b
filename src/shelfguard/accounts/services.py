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
    with transaction.atomic():
        staff.is_active = False
        staff.disabled_at = clock.now()
        staff.save(update_fields=["is_active", "disabled_at"])
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
