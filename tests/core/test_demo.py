import re
import stat

import pytest
from django.test import Client

from shelfguard.accounts import mfa, services, signin
from shelfguard.accounts.models import StaffUser
from shelfguard.catalog.models import Item, Record
from shelfguard.catalog.search import SearchRequest
from shelfguard.catalog.services import search_catalogue
from shelfguard.core.actors import Actor
from shelfguard.patrons.models import Patron
from tests.accounts.helpers import code_from_secret

# The demo makes a first backup, which reads the database as committed: the
# demo's work must really commit (a test transaction would hold the copy off).
COMMITTING = pytest.mark.django_db(transaction=True, databases=["default", "keystore"])


def _credentials(text: str, username: str) -> dict[str, str]:
    """The password and TOTP secret recorded for `username` in the demo's credentials."""
    block = text.split(f"\n{username} (", 1)[1].split("\n\n", 1)[0]
    fields = dict(re.findall(r"^  ([a-zA-Z ]+?):\s+(.+)$", block, flags=re.MULTILINE))
    return {"password": fields["password"], "secret": fields["TOTP secret"]}


@COMMITTING
def test_demo_sets_up_a_searchable_library_and_is_repeatable(home, run_cli):
    first = run_cli("demo", "--no-serve")
    assert first.code == 0, first.err
    assert Record.objects.count() > 3000
    assert Item.objects.values("branch__code").distinct().count() == 3
    assert Patron.objects.count() == 5  # four readers and a decoy record
    public = Actor.public("web")
    assert search_catalogue(SearchRequest(text="中国"), actor=public).total > 0
    assert search_catalogue(SearchRequest(text="botany"), actor=public).total > 0

    again = run_cli("demo", "--no-serve")
    assert again.code == 0, again.err
    assert Patron.objects.count() == 5
    assert "3082 records imported" not in again.out


@COMMITTING
def test_demo_creates_staff_with_a_second_factor_and_prints_how_to_sign_in(home, run_cli):
    first = run_cli("demo", "--no-serve", "--port", "8123")
    assert first.code == 0, first.err
    staff = {s.username: s for s in StaffUser.objects.prefetch_related("roles")}
    assert set(staff) == {"desk", "officer", "admin"}
    assert {u: sorted(r.code for r in s.roles.all()) for u, s in staff.items()} == {
        "desk": ["circulation-desk"],
        "officer": ["privacy-officer"],
        "admin": ["system-administrator"],
    }
    assert all(s.branch.code == "MAIN" and mfa.has_second_factor(s) for s in staff.values())
    assert services.current_certification(staff["desk"]) is not None
    assert services.current_certification(staff["officer"]) is not None
    assert services.current_certification(staff["admin"]) is None
    assert services.has_permission(staff["desk"], "patron.view_name")

    # The staff part comes last, with the sign-in address and each account.
    tail = first.out.split("Staff desk", 1)[1]
    assert "http://127.0.0.1:8123/staff/login/" in tail
    for name in ("desk", "officer", "admin"):
        assert f"username:        {name}" in tail
    assert tail.count("otpauth://totp/") == 3

    path = home / "demo-credentials.txt"
    assert str(path) in first.out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = path.read_text(encoding="utf-8")
    desk = _credentials(saved, "desk")
    assert desk == _credentials(first.out, "desk")
    # Only the hash is in the database.
    assert desk["password"] not in repr(list(StaffUser.objects.values()))

    # The printed password and a code computed here from the printed secret sign in.
    user = signin.check_password("desk", desk["password"], source="test")
    assert user == staff["desk"]
    assert signin.check_second_factor(user, code_from_secret(desk["secret"]), source="test")

    # A re-run creates nothing and shows the recorded credentials again.
    again = run_cli("demo", "--no-serve")
    assert again.code == 0, again.err
    assert StaffUser.objects.count() == 3
    assert "already exist" in again.out
    assert "shelfguard staff enrol USER --reset" in again.out
    assert saved in again.out
    assert path.read_text(encoding="utf-8") == saved


@COMMITTING
def test_demo_officer_signs_in_through_the_staff_pages(home, run_cli):
    result = run_cli("demo", "--no-serve")
    assert result.code == 0, result.err
    officer = _credentials((home / "demo-credentials.txt").read_text(), "officer")
    client = Client()
    response = client.post(
        "/staff/login/", {"username": "officer", "password": officer["password"]}
    )
    assert response["Location"].startswith("/staff/verify/")
    response = client.post("/staff/verify/", {"code": code_from_secret(officer["secret"])})
    assert response["Location"] == "/staff/"
    page = client.get("/staff/")
    assert page.status_code == 200
    assert 'id="staff-username">officer<' in page.content.decode()


@COMMITTING
def test_demo_lends_through_the_services_and_gives_one_patron_a_portal_password(home, run_cli):
    from shelfguard.circulation.models import Hold, Loan
    from shelfguard.portal import services as portal

    first = run_cli("demo", "--no-serve")
    assert first.code == 0, first.err
    # Two loans still out, two returned: only the one whose patron keeps a history is linked.
    assert Loan.objects.filter(outcome="open").count() == 2
    returned = Loan.objects.exclude(outcome="open")
    assert returned.count() == 2
    assert returned.filter(patron__isnull=False).count() == 1
    assert Hold.objects.count() == 1

    password = re.search(r"Password:\s+(\S+)", first.out.split("Patron portal", 1)[1]).group(1)
    patron = portal.check_password("29990001", password, source="test")
    assert patron.pk
    assert password in (home / "demo-credentials.txt").read_text(encoding="utf-8")

    again = run_cli("demo", "--no-serve")
    assert again.code == 0, again.err
    assert Loan.objects.count() == 4
    assert "as recorded in" in again.out.split("Patron portal", 1)[1]


@COMMITTING
def test_demo_shows_the_privacy_side_and_self_check(home, run_cli):
    import tomllib

    from shelfguard.feedback.models import Feedback, PrivacyRequest
    from shelfguard.lifecycle.models import BackupRun
    from shelfguard.monitoring.models import Decoy
    from shelfguard.patrons import services as patrons
    from shelfguard.patrons.models import CorrectionRequest
    from shelfguard.sip2.models import Terminal

    first = run_cli("demo", "--no-serve")
    assert first.code == 0, first.err
    config = tomllib.loads((home / "shelfguard.toml").read_text(encoding="utf-8"))
    assert config["mail"]["backend"] == "file"
    assert config["portal"]["self_registration"] is True
    assert config["sip2"]["enabled"] is True and config["sip2"]["host"] == "127.0.0.1"
    identity = home / "demo-backup-identity.txt"
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    assert config["backup"]["verify_identity"] == str(identity)
    # The first backup was made and proved to restore, as the daily job does it.
    assert BackupRun.objects.filter(kind="verify", outcome="ok").exists()

    terminal = Terminal.objects.get(login="selfcheck-main")
    assert terminal.branch.code == "MAIN" and not terminal.allow_plaintext
    reader = patrons.find_by_card("29990001")
    assert patrons.check_pin(reader, "2468")
    credentials = (home / "demo-credentials.txt").read_text(encoding="utf-8")
    assert "selfcheck-main" in credentials
    assert Feedback.objects.count() == 1 and PrivacyRequest.objects.count() == 1
    assert CorrectionRequest.objects.count() == 1
    assert Decoy.objects.filter(patron_id=patrons.find_by_card("29990099").pk).exists()

    # Run again: nothing doubled, the operator's file not rewritten.
    before = (home / "shelfguard.toml").read_text(encoding="utf-8")
    again = run_cli("demo", "--no-serve")
    assert again.code == 0, again.err
    assert (home / "shelfguard.toml").read_text(encoding="utf-8") == before
    assert Terminal.objects.count() == 1 and Feedback.objects.count() == 1
