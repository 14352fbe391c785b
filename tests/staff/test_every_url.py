"""Every staff URL with every role: allowed exactly when `has_permission` says so.

The URL list is not written down here: it is read from Django's resolver, so a
page added anywhere under /staff/ is tried the day it lands. Each staff view
carries its rule as `staff_access` (set by the decorators in staff/access.py):
"public", "signed-in" or a permission code. A view without one fails
`test_every_staff_view_declares_its_access`, so an unguarded page cannot land.

For each subject (the five shipped roles, no role, an expired certification,
no second factor, and a break-glass grant) the test signs in through the real
pages, then requests every URL with GET and with an empty POST, with URL
arguments filled from real objects of the subject's own branch and of another
branch. A view's branch is found with the same `staff_branch_of` function the
page uses (see staff/admin_views.guarded), so per-object branch scope is
checked, not just the permission code.

Empty POSTs must never change anything (every form needs its fields and
destructive ones a confirmation box), so one subject's requests do not
disturb the next.

Pages under /account/ (the patron portal) are collected the same way: no
staff member, and no visitor, may open a patron's page unless it is marked
public, and, once the portal test helpers exist, patron B may not open
patron A's objects (see `test_patron_pages_refuse_other_patrons`).
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from shelfguard.accounts import services
from shelfguard.accounts.models import Role, StaffUser
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from tests.accounts.helpers import PASSWORD, make_staff
from tests.staff.signin import sign_in

SETUP = Actor(kind="staff", ident="setup", channel="web")
T0 = dt.datetime(2026, 10, 5, 9, 0, 5, tzinfo=dt.UTC)

SHIPPED_ROLES = [
    "circulation-desk",
    "cataloguer",
    "branch-manager",
    "privacy-officer",
    "system-administrator",
]
SUBJECTS = [*SHIPPED_ROLES, "no-role", "certification-expired", "no-second-factor", "break-glass"]


# --- walking the resolver -------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    route: str  # the full route, e.g. "staff/admin/staff/<int:staff_id>/"
    name: str  # "staff:admin_staff_detail", or the route when unnamed
    view: Callable
    converters: dict[str, str]  # kwarg name -> converter name ("int", "str", ...)


_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>\w+)>")


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in resolver.url_patterns:
        text = str(entry.pattern)
        if text.startswith("^"):
            # A regular-expression route: keep it readable for the message and
            # fillable only when it has no groups.
            text = text.lstrip("^").rstrip("$").replace("\\Z", "")
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry, prefix + text, ns)
        elif isinstance(entry, URLPattern):
            full = prefix + text
            converters = {m["name"]: m["conv"] or "str" for m in _PARAM.finditer(full)}
            name = f"{namespace}:{entry.name}" if entry.name else full
            yield Route(full, name, entry.callback, converters)


def routes_under(prefix: str) -> list[Route]:
    return sorted(
        (r for r in _walk(get_resolver()) if r.route.startswith(prefix)), key=lambda r: r.route
    )


def staff_routes() -> list[Route]:
    return routes_under("staff/")


def portal_routes() -> list[Route]:
    return routes_under("account/")


def _path(route: Route, kwargs: dict) -> str:
    def fill(match: re.Match) -> str:
        return str(kwargs[match["name"]])

    return "/" + _PARAM.sub(fill, route.route)


# --- the every-staff-view-is-classified test ---------------------------------------------------


def test_every_staff_view_declares_its_access():
    missing = [r.name for r in staff_routes() if not getattr(r.view, "staff_access", None)]
    assert not missing, (
        f"Staff views without staff_access (wrap them in staff_required, "
        f"permission_required or public_page from shelfguard.staff.access): {missing}"
    )


def test_the_walk_finds_the_admin_pages():
    names = {r.name for r in staff_routes()}
    assert {"staff:home", "staff:admin_staff_detail", "staff:admin_breakglass_review"} <= names


# --- the world each subject is tested in ------------------------------------------------------


@dataclass
class World:
    subject: StaffUser
    signed_in: bool  # fully, with a second factor
    fillers: dict[str, list] = field(default_factory=dict)


def _make_subject(kind: str) -> tuple[StaffUser, bool]:
    if kind in SHIPPED_ROLES:
        return make_staff("subject", kind, branch="MAIN"), True
    if kind == "no-role":
        staff = make_staff("subject", "cataloguer", branch="MAIN")
        staff.roles.clear()
        return staff, True
    if kind == "certification-expired":
        staff = make_staff("subject", "privacy-officer", branch="MAIN", certified=False)
        with clock.frozen(T0 - dt.timedelta(days=400)):
            services.certify(
                staff,
                course="Patron privacy basics",
                until=(T0 - dt.timedelta(days=35)).date(),
                passed_on=(T0 - dt.timedelta(days=400)).date(),
                actor=services.staff_actor(staff, "cli"),
            )
        return staff, True
    if kind == "no-second-factor":
        return make_staff("subject", "system-administrator", branch="MAIN", enrol=False), False
    if kind == "break-glass":
        # A desk assistant lent staff administration and history reading for a few hours.
        staff = make_staff("subject", "circulation-desk", branch="MAIN")
        granter = make_staff("lender", "privacy-officer", branch="EAST")
        services.grant_break_glass(
            staff,
            ["staff.manage", "patron.view_history"],
            justification="Covering for the branch manager during the audit week",
            by=granter,
            ends=T0 + dt.timedelta(hours=8),
        )
        return staff, True
    raise AssertionError(kind)


def build_world(kind: str, home) -> World:
    with clock.frozen(T0):
        subject, signed_in = _make_subject(kind)
        officer = make_staff("grantor", "privacy-officer", branch="EAST")
        target_main = make_staff("target-main", "circulation-desk", branch="MAIN")
        target_east = make_staff("target-east", "circulation-desk", branch="EAST")
        grants = [
            services.grant_break_glass(
                target,
                ["patron.view_history"],
                justification="Checking a disputed loan for a complaint",
                by=officer,
                ends=T0 + dt.timedelta(hours=4),
            )
            for target in (target_main, target_east)
        ]
        services.require(target_main, "patron.view_history", purpose="complaint 7")
        patron_ids = _make_patrons(home)
    world = World(subject=subject, signed_in=signed_in)
    world.fillers = {
        # Own branch first, then another branch: the branch-scope check.
        "staff_id": [target_main.pk, target_east.pk],
        "patron_id": patron_ids,
        "grant_id": [g.pk for g in grants],
        "role_id": [Role.objects.get(code="cataloguer").pk],
        # Loan rules and branch calendars (staff/rules_views.py).
        "policy_id": _policy_ids(),
        "branch_code": ["MAIN", "EAST"],
        # Correction requests (staff/correction_views.py) of the MAIN and the EAST patron.
        "correction_id": _correction_ids(patron_ids),
    }
    return world


def _correction_ids(patron_ids: list[int]) -> list[int]:
    from shelfguard.patrons import services as patrons

    return [
        patrons.submit(
            pk,
            {"name": f"Testa Corrected{n}"},
            actor=Actor(kind="patron", ident=str(pk), channel="web"),
        ).pk
        for n, pk in enumerate(patron_ids, start=1)
    ]


def _policy_ids() -> list[int]:
    """The shipped default rule (library-wide) and a rule of MAIN and one of EAST."""
    from shelfguard.circulation import services as circulation
    from shelfguard.circulation.models import LoanPolicy

    system = Actor(kind="system", ident="tests", channel="job")
    ids = list(
        LoanPolicy.objects.filter(
            patron_category__isnull=True, item_type__isnull=True, branch__isnull=True
        ).values_list("pk", flat=True)
    )
    for code in ("MAIN", "EAST"):
        ids.append(circulation.set_policy(branch=code, loan_days=14, actor=system).pk)
    return ids


def _make_patrons(home) -> list[int]:
    """One synthetic patron of MAIN and one of EAST (ids only leave this function)."""
    from shelfguard.patrons import services as patrons
    from shelfguard.vault.keys import ensure_keys
    from shelfguard.vault.sealing import forget_cached_keys

    forget_cached_keys()
    ensure_keys(home)
    patrons.ensure_defaults()
    ids = []
    for n, branch in enumerate(("MAIN", "EAST"), start=1):
        patron = patrons.register(
            card_number=f"2977{n:07d}",
            name=f"Testa Everyurl{n}",
            email=f"everyurl{n}@example.org",
            phone=f"+1 555 010 {n:04d}",
            address=f"{n} Synthetic Street\nSampletown",
            birth_year=1980,
            category="adult",
            home_branch=branch,
            actor=SETUP,
        )
        ids.append(patron.pk)
    return ids


def _branch_of_object(name: str, value) -> tuple[bool, int | None]:
    """(known, branch id) of the object a URL argument names, looked up independently.

    Independent of the page's own `branch_of`, so a page that asks about the
    wrong branch is caught rather than agreed with.
    """
    if name == "staff_id":
        return True, StaffUser.objects.filter(pk=value).values_list("branch_id", flat=True).first()
    if name == "patron_id":
        from shelfguard.patrons.models import Patron

        found = Patron.objects.filter(pk=value).values_list("home_branch_id", flat=True)
        return True, found.first()
    if name == "correction_id":
        from shelfguard.patrons.models import CorrectionRequest

        found = CorrectionRequest.objects.filter(pk=value)
        return True, found.values_list("patron__home_branch_id", flat=True).first()
    return False, None


# Extra query strings or POST bodies that change which branch a page is about.
QUERY_VARIANTS = {"staff:admin_staff": ["", "?branch=MAIN", "?branch=EAST"]}
POST_VARIANTS = {"staff:admin_staff_create": [{}, {"branch": "MAIN"}, {"branch": "EAST"}]}

# Generic values for URL arguments no filler knows: the page must still refuse
# whoever may not open it, and whoever may gets a 404 at most.
GENERIC = {
    "int": [1],
    "str": ["x"],
    "slug": ["x"],
    "uuid": ["00000000-0000-0000-0000-000000000000"],
}


def kwarg_sets(route: Route, world: World) -> Iterator[tuple[dict, bool]]:
    """Each combination of URL arguments, and whether it used real objects."""
    combos: list[tuple[dict, bool]] = [({}, True)]
    for name, conv in route.converters.items():
        real = world.fillers.get(name)
        values = real or GENERIC.get(conv, ["x"])
        combos = [({**kw, name: v}, ok and bool(real)) for kw, ok in combos for v in values]
    yield from combos


# --- requests and verdicts --------------------------------------------------------------------


def refused(response) -> bool:
    if response.status_code == 403:
        return True
    if response.status_code == 302:
        return response["Location"].startswith(("/staff/login/", "/staff/enrol/"))
    return False


def expected_allowed(route: Route, world: World, method: str, path: str, data: dict) -> bool:
    rule = route.view.staff_access
    if not world.signed_in:
        return False
    if rule == "signed-in":
        return True
    factory = RequestFactory()
    request = factory.get(path) if method == "get" else factory.post(path, data)
    request.user = world.subject
    kwargs = request_kwargs(route, path)
    known, branch = False, None
    for name, value in kwargs.items():
        known, branch = _branch_of_object(name, value)
        if known:
            break
    else:
        asked = request.POST.get("branch") or request.GET.get("branch")
        if asked:
            known = True
            branch = Branch.objects.filter(code=asked).values_list("pk", flat=True).first()
    if not known:
        # No object and no branch asked for: the page's own rule says whether it
        # is about one's own branch (lists, forms) or needs library-wide rights.
        branch_of = branch_of_for(route.view)
        branch = branch_of(request, **kwargs) if branch_of is not None else None
    return bool(services.has_permission(world.subject, rule, branch=branch))


def branch_of_for(view) -> Callable | None:
    """The `branch_of` function a page was guarded with, or None for library-wide.

    Read from `staff_branch_of` when the view carries it, otherwise from the
    closure of `permission_required`'s inner function (the same object the
    page calls, so the test asks exactly the page's question).
    """
    if hasattr(view, "staff_branch_of"):
        return view.staff_branch_of
    seen = 0
    inner = view
    while inner is not None and seen < 10:
        closure = getattr(inner, "__closure__", None)
        if closure:
            names = inspect.getclosurevars(inner).nonlocals
            if "branch_of" in names and "code" in names:
                return names["branch_of"]
        inner = getattr(inner, "__wrapped__", None)
        seen += 1
    return None


def request_kwargs(route: Route, path: str) -> dict:
    from django.urls import resolve

    return resolve(path.split("?")[0]).kwargs


def signed_in_client(world: World, at: dt.datetime) -> Client:
    client = Client()
    with clock.frozen(at):
        if world.signed_in:
            sign_in(client, world.subject)
        else:
            # Password right, no second factor: the pages send them to enrolment.
            response = client.post(
                "/staff/login/", {"username": world.subject.username, "password": PASSWORD}
            )
            assert response.status_code == 302
            assert response["Location"].startswith("/staff/enrol/")
    return client


def still_signed_in(client: Client) -> bool:
    return client.get("/staff/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("kind", SUBJECTS)
def test_every_staff_url_with_every_role(kind, home):
    world = build_world(kind, home)
    at = T0 + dt.timedelta(seconds=60)
    client = signed_in_client(world, at)
    problems: list[str] = []
    tried = 0
    for route in staff_routes():
        rule = route.view.staff_access
        for kwargs, real in kwarg_sets(route, world):
            base = _path(route, kwargs)
            for query in QUERY_VARIANTS.get(route.name, [""]):
                for method in ("get", "post"):
                    if rule == "public" and method == "post":
                        continue  # sign-in steps and sign-out: tested in test_signin
                    bodies = POST_VARIANTS.get(route.name, [{}]) if method == "post" else [{}]
                    for data in bodies:
                        path = base + query
                        with clock.frozen(at):
                            response = getattr(client, method)(path, data)
                        tried += 1
                        label = f"{method.upper()} {path} {data or ''} ({route.name}, {rule})"
                        status = response.status_code
                        if status >= 500:
                            problems.append(f"{label}: server error {status}")
                            continue
                        if rule == "public":
                            continue
                        with clock.frozen(at):
                            allowed = expected_allowed(route, world, method, path, data)
                        if allowed and refused(response):
                            problems.append(
                                f"{label}: refused ({status}) but has_permission allows"
                            )
                        elif not allowed and not refused(response):
                            problems.append(f"{label}: served ({status}) but must be refused")
                        elif allowed and status == 404 and real:
                            problems.append(f"{label}: 404 for a real object")
                        if method == "post" and world.signed_in:
                            with clock.frozen(at):
                                if not still_signed_in(client):
                                    problems.append(f"{label}: an empty POST signed them out")
                                    at += dt.timedelta(seconds=31)
                                    client = signed_in_client(world, at)
    assert tried > 40
    assert not problems, f"{kind}:\n" + "\n".join(problems)


def test_signed_out_visitors_are_refused_everywhere(db, client):
    for route in staff_routes():
        if route.view.staff_access == "public":
            continue
        world = World(subject=None, signed_in=False)  # type: ignore[arg-type]
        for kwargs, _real in kwarg_sets(route, world):
            path = _path(route, kwargs)
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                assert refused(response), f"{method.upper()} {path}: {response.status_code}"


# --- the patron portal ------------------------------------------------------------------------


def _portal_public(view) -> bool:
    return (
        getattr(view, "portal_access", None) == "public"
        or getattr(view, "staff_access", None) == "public"
        or getattr(view, "login_required", True) is False
    )


def portal_refused(response, path: str) -> bool:
    status = response.status_code
    if status in (401, 403, 404, 405):
        return True
    if status in (301, 302, 303):
        return response["Location"].split("?")[0] != path.split("?")[0]
    return False


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route",
    [r for r in portal_routes() if not _portal_public(r.view)],
    ids=lambda r: r.name,
)
def test_staff_never_open_patron_pages(route, home):
    """Patron pages are the patron's own: a staff session is not a patron session."""
    world = build_world("privacy-officer", home)
    at = T0 + dt.timedelta(seconds=60)
    staff_client = signed_in_client(world, at)
    for client in (staff_client, Client()):
        for kwargs, _real in kwarg_sets(route, world):
            path = _path(route, kwargs)
            for method in ("get", "post"):
                with clock.frozen(at):
                    response = getattr(client, method)(path)
                assert portal_refused(response, path), (
                    f"{method.upper()} {path} ({route.name}) served {response.status_code}"
                )


def test_every_portal_view_declares_its_access():
    missing = [r.name for r in portal_routes() if not getattr(r.view, "portal_access", None)]
    assert not missing, (
        f"Portal views without portal_access (wrap them in patron_required or public_page "
        f"from shelfguard.portal.access): {missing}"
    )


def _portal_helpers():
    try:
        return importlib.import_module("tests.portal.helpers")
    except ImportError:
        return None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route",
    [
        r
        for r in portal_routes()
        if r.converters
        and not _portal_public(r.view)
        # Arguments that name public things (a catalogue record), not a patron's object.
        and not set(r.converters) <= set(getattr(r.view, "portal_public_arguments", ()))
    ],
    ids=lambda r: r.name,
)
def test_patron_pages_refuse_other_patrons(route, home):
    """Patron A's pages and objects, requested as patron B, are refused.

    Needs `tests/portal/helpers.py` to provide `signed_in_patron(name) ->
    (client, patron)` and `portal_fillers(patron) -> {url kwarg: [values]}`
    naming objects that belong to that patron. Pages without URL arguments
    are "mine" pages and are covered by the portal's own tests.
    """
    helpers = _portal_helpers()
    if helpers is None or not hasattr(helpers, "signed_in_patron"):
        pytest.fail(
            f"{route.name} names a patron's object: add signed_in_patron and portal_fillers "
            "to tests/portal/helpers.py so that this test can try it as another patron"
        )
    _client_a, patron_a = helpers.signed_in_patron("patron-a")
    client_b, _patron_b = helpers.signed_in_patron("patron-b")
    fillers = helpers.portal_fillers(patron_a)
    world = World(subject=None, signed_in=False, fillers=fillers)  # type: ignore[arg-type]
    for kwargs, real in kwarg_sets(route, world):
        assert real, f"{route.name}: portal_fillers gives no value for {sorted(route.converters)}"
        path = _path(route, kwargs)
        for method in ("get", "post"):
            response = getattr(client_b, method)(path)
            assert portal_refused(response, path), (
                f"patron B {method.upper()} {path} ({route.name}) got {response.status_code}"
            )
