"""`shelfguard demo`: a demo library on real Library of Congress records, then serve it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import secrets
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand

from shelfguard.catalog.marc import parse_stored
from shelfguard.catalog.models import Item, Record
from shelfguard.catalog.services import ensure_item_type, import_items_csv, import_marc
from shelfguard.core.actors import Actor
from shelfguard.core.home import home_dir
from shelfguard.core.management.commands import _demo_privacy
from shelfguard.core.services import ensure_branch

DEMO_BRANCHES = [("MAIN", "Main Library"), ("EAST", "East Branch"), ("WEST", "West Branch")]
DEMO_ITEM_TYPES = [("book", "Book"), ("large-print", "Large print")]


class Command(BaseCommand):
    help = (
        "Set up a demo library in $SHELFGUARD_HOME (about 3,000 real public-domain LC "
        "records, including Chinese, Japanese and Korean titles, three branches and their "
        "copies) and serve it at http://127.0.0.1:8000. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-serve", action="store_true", help="set up the demo data and exit")

    def handle(self, *args, port, no_serve, **options):
        call_command("init", verbosity=0, stdout=io.StringIO())
        actor = Actor.cli_operator()
        for code, name in DEMO_BRANCHES:
            ensure_branch(code, name, actor=actor)
        for code, name in DEMO_ITEM_TYPES:
            ensure_item_type(code, name, actor=actor)
        if not Record.objects.exists():
            self.stdout.write("Loading the demo catalogue (Library of Congress records)…")
            data = resources.files("shelfguard.demo_data").joinpath("lc-sample.mrc.gz")
            with data.open("rb") as stream:
                report = import_marc(stream, actor=actor)
            self.stdout.write(f"  {report.imported} records imported.")
        if not Item.objects.exists():
            report = import_items_csv(io.StringIO(_demo_items_csv()), actor=actor)
            self.stdout.write(
                f"  {report.imported} copies placed in {len(DEMO_BRANCHES)} branches."
            )
        made = _demo_patrons(actor)
        if made:
            self.stdout.write(f"  {made} synthetic patrons registered (sealed, one key each).")
        lent = _demo_circulation(actor)
        if lent:
            self.stdout.write(
                f"  {lent} demo loans and holds made through the circulation services."
            )
        created = _demo_staff(actor)
        portal = _demo_portal_password(actor)
        added = _demo_privacy.configure(home_dir())
        if added:
            self.stdout.write(f"  shelfguard.toml: demo settings for {', '.join(added)}.")
        terminal = _demo_privacy.self_check(actor, _append_credentials)
        if _demo_privacy.requests_and_feedback(actor):
            self.stdout.write(
                "  A feedback note, a privacy request, a correction request and a decoy record."
            )
        backup = _demo_privacy.first_backup()
        if created:
            self.stdout.write(
                f"  {len(created)} demo staff accounts created (second factor enrolled)."
            )
        self.stdout.write(
            "\nShelfguard demo is ready.\n"
            f"  Public catalogue:  http://127.0.0.1:{port}/\n"
            f"  Try searching:     botany, Lincoln, 中国, 日本\n"
            f"  JSON API:          http://127.0.0.1:{port}/api/v1/search?q=history\n"
            f"  API schema:        http://127.0.0.1:{port}/api/v1/openapi.json\n"
            "  Sealed patrons:    shelfguard patron show 29990001 --purpose demo --json\n"
            "  Who looked:        shelfguard audit query --patron 29990001\n"
            "  Ledger intact?     shelfguard audit verify\n"
        )
        self.stdout.write(_staff_notice(created, port))
        self.stdout.write(_portal_notice(portal, port))
        self.stdout.write(_demo_privacy.notice(port, terminal, credentials_path(), backup))
        if not no_serve:
            self.stdout.write("Press Ctrl-C to stop.\n")
            self.stdout.flush()
            # A fresh process, so that the server reads the settings the demo
            # has just added to shelfguard.toml (mail, SIP2, backups).
            os.execv(
                sys.executable, [sys.executable, "-m", "shelfguard", "serve", "--port", str(port)]
            )


def _demo_items_csv() -> str:
    """One to three synthetic copies per record, spread over the demo branches."""
    rng = random.Random(20261125)  # fixed seed: the same demo every time
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["barcode", "control_number", "branch", "call_number", "item_type", "location"])
    serial = 0
    for control_number, marc in Record.objects.order_by("id").values_list("control_number", "marc"):
        lc_class = parse_stored(marc).get("050")
        call_number = " ".join(lc_class.get_subfields("a", "b")) if lc_class else ""
        for _ in range(rng.choice((1, 1, 2, 3))):
            serial += 1
            branch = rng.choice(DEMO_BRANCHES)[0]
            item_type = "large-print" if rng.random() < 0.05 else "book"
            location = rng.choice(("Stacks", "Stacks", "Reference", "Local history"))
            writer.writerow(
                [f"39{serial:011d}", control_number, branch, call_number, item_type, location]
            )
    return out.getvalue()


# Synthetic people only: invented names and reserved example.org addresses.
DEMO_PATRONS = [
    {
        "card_number": "29990001",
        "name": "Ada Example",
        "email": "ada@example.org",
        "consents": ("service", "email_notices"),
    },
    {
        "card_number": "29990002",
        "name": "Li Ming",
        "phone": "+86 10 5555 0102",
        "home_branch": "EAST",
    },
    {
        "card_number": "29990003",
        "name": "Sam Placeholder",
        "address": "1 Demo Street, Sampletown",
        "consents": ("service", "reading_history"),
    },
    {
        "card_number": "29990004",
        "name": "Noor Testcase",
        "email": "noor@example.org",
        "category": "child",
        "birth_year": 2016,
        "guardian_name": "Rana Testcase",
        "by_guardian": True,
        "home_branch": "WEST",
    },
]


def _demo_patrons(actor: Actor) -> int:
    from shelfguard.patrons.services import find_by_card, register

    made = 0
    for fields in DEMO_PATRONS:
        if find_by_card(fields["card_number"]) is None:
            register(**fields, actor=actor, purpose="demo")
            made += 1
    return made


def _demo_circulation(actor: Actor) -> int:
    """A few loans and a hold for the synthetic patrons, so the desk and portal have something.

    Made once (only while nothing is on loan), through the same services the
    desk uses. Patron 29990003 keeps a reading history; the others' returned
    loans forget them, as every loan does by default.
    """
    from shelfguard.circulation import services as circ
    from shelfguard.circulation.models import Loan
    from shelfguard.patrons.services import find_by_card

    if Loan.objects.exists():
        return 0
    done = 0
    available = Item.objects.filter(branch__code="MAIN", status="available").order_by("barcode")
    barcodes = list(available.values_list("barcode", flat=True)[:6])
    plan = [("29990001", barcodes[0:2]), ("29990003", barcodes[2:4])]
    for card, items in plan:
        patron = find_by_card(card)
        for barcode in items:
            circ.checkout(patron, barcode, branch="MAIN", actor=actor, purpose="demo")
            done += 1
    # One returned loan each: 29990003's stays in their history, 29990001's forgets them.
    for barcode in (barcodes[0], barcodes[2]):
        circ.checkin(barcode, branch="MAIN", actor=actor, purpose="demo")
    taken = Item.objects.filter(barcode=barcodes[1]).values_list("record_id", flat=True).first()
    circ.place_hold(
        find_by_card("29990002"), record=taken, pickup_branch="EAST", actor=actor, purpose="demo"
    )
    return done + 1


DEMO_PORTAL_CARD = "29990001"


def _demo_portal_password(actor: Actor) -> str:
    """Give one synthetic patron a portal password (once); returns it, or "" if already set."""
    from shelfguard.patrons.services import find_by_card
    from shelfguard.portal import services as portal

    patron = find_by_card(DEMO_PORTAL_CARD)
    if patron is None or portal.has_password(patron):
        return ""
    password = _demo_password(DEMO_PORTAL_CARD)
    portal.set_password(patron, password, actor=actor, purpose="demo")
    _append_credentials(
        f"portal patron\n  card number:     {DEMO_PORTAL_CARD}\n  password:        {password}\n\n"
    )
    return password


def _append_credentials(text: str) -> None:
    """Add `text` to the demo's credentials file (0600): secrets are stored only as hashes."""
    fd = os.open(credentials_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(text)


def _portal_notice(password: str, port: int) -> str:
    lines = [
        "",
        "Patron portal",
        f"  Sign in:           http://127.0.0.1:{port}/account/login/",
        f"  Card number:       {DEMO_PORTAL_CARD}",
    ]
    if password:
        lines.append(f"  Password:          {password}")
    else:
        lines.append(f"  Password:          as recorded in {credentials_path()}")
    lines.append("")
    return "\n".join(lines)


# --- demo staff ----------------------------------------------------------------

# (username, role, branch, needs a privacy certification). The system
# administrator holds no patron-data permission, so needs no certification.
DEMO_STAFF = [
    ("desk", "circulation-desk", "MAIN", True),
    ("officer", "privacy-officer", "MAIN", True),
    ("admin", "system-administrator", "MAIN", False),
]
DEMO_COURSE = "Patron privacy basics (demo)"
CREDENTIALS_FILE = "demo-credentials.txt"
# No 0/o, 1/l/i: a demo password is read off the screen and typed by hand.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class DemoCredentials:
    username: str
    role: str
    password: str
    secret: str
    otpauth_uri: str
    recovery_codes: tuple[str, ...]


def credentials_path() -> Path:
    return home_dir() / CREDENTIALS_FILE


def _demo_password(username: str) -> str:
    """Five groups of five random characters (about 120 bits), accepted by the rules."""
    from shelfguard.accounts import passwords

    while True:
        groups = ("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(5)) for _ in range(5))
        password = "-".join(groups)
        if not passwords.problems(password, second_factor=True, username=username):
            return password


def _create_demo_staff(
    username: str, role: str, branch: str, certified: bool, actor: Actor
) -> DemoCredentials:
    """One demo staff member, created and enrolled the way a real one is.

    `create_staff` with a generated password, `certify`, then the enrolment
    steps a new staff member goes through at /staff/enrol/: the one-time code
    and password, a new authenticator, confirmed with a code from it.
    """
    from django.db import transaction

    from shelfguard.accounts import mfa, services, signin
    from shelfguard.core import clock

    password = _demo_password(username)
    source = "demo"
    with transaction.atomic():
        staff, code = services.create_staff(
            username,
            roles=[role],
            branch=branch,
            password=password,
            actor=actor,
            purpose="demo",
        )
        if certified:
            services.certify(
                staff,
                course=DEMO_COURSE,
                until=clock.today() + dt.timedelta(days=365),
                actor=actor,
                purpose="demo",
            )
        staff = signin.start_enrolment(username, code, password, password, source=source)
        device = mfa.start_totp_enrolment(staff)
        # Confirmed with the previous time step's code (within the allowed
        # drift), so the code an app shows right now has not been used yet
        # and works at the first sign-in.
        previous = clock.now() - dt.timedelta(seconds=device.step)
        device, recovery = signin.finish_enrolment(
            staff, mfa.code_at(device, previous), source=source
        )
    return DemoCredentials(
        username=staff.username,
        role=role,
        password=password,
        secret=mfa.secret_text(device),
        otpauth_uri=mfa.otpauth_uri(device),
        recovery_codes=tuple(recovery),
    )


def _demo_staff(actor: Actor) -> list[DemoCredentials]:
    """Create the demo staff accounts that do not exist yet; record their credentials.

    Passwords are stored only as hashes, so the new credentials are appended
    to `$SHELFGUARD_HOME/demo-credentials.txt` (mode 0600) to be shown again.
    """
    from shelfguard.accounts.models import StaffUser

    created = []
    for username, role, branch, certified in DEMO_STAFF:
        if StaffUser.objects.filter(username=username).exists():
            continue
        created.append(_create_demo_staff(username, role, branch, certified, actor))
    if created:
        _record_credentials(created)
    return created


def _credentials_text(entries: list[DemoCredentials]) -> str:
    lines = []
    for entry in entries:
        lines += [
            f"{entry.username} ({entry.role})",
            f"  username:        {entry.username}",
            f"  password:        {entry.password}",
            f"  TOTP secret:     {entry.secret}",
            f"  otpauth URI:     {entry.otpauth_uri}",
            f"  recovery codes:  {', '.join(entry.recovery_codes)}",
            "",
        ]
    return "\n".join(lines)


def _record_credentials(entries: list[DemoCredentials]) -> None:
    path = credentials_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    # The mode given to open() applies only to a new file: make sure of it.
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        if fh.tell() == 0:
            fh.write(
                "Shelfguard demo staff accounts (synthetic; for trying the demo only).\n"
                "Add each TOTP secret to an authenticator app (or open the otpauth URI);\n"
                "each recovery code works once.\n\n"
            )
        fh.write(_credentials_text(entries))


def _staff_notice(created: list[DemoCredentials], port: int) -> str:
    """The closing part of the demo output: where staff sign in, and with what."""
    path = credentials_path()
    names = ", ".join(name for name, *_ in DEMO_STAFF)
    lines = [
        "",
        "Staff desk",
        f"  Staff sign-in:     http://127.0.0.1:{port}/staff/login/",
        "  Sign in with a username and password, then the 6-digit code from an",
        "  authenticator app that holds the account's TOTP secret.",
        f"  Passkeys: once signed in, add one at http://127.0.0.1:{port}/staff/account/passkeys/",
        "  (the TOTP secret is sealed in the database; only this output shows it).",
    ]
    if created:
        lines += [
            f"  Credentials saved to {path} (readable by you only);",
            "  passwords cannot be shown again any other way.",
            "",
            _credentials_text(created),
        ]
        return "\n".join(lines)
    lines += [
        f"  The demo staff accounts ({names}) already exist; they were not recreated.",
        "  A lost authenticator: `shelfguard staff enrol USER --reset` issues a new",
        "  enrolment code (for /staff/enrol/) after removing the old second factor.",
    ]
    try:
        saved = path.read_text(encoding="utf-8")
    except OSError:
        lines += [
            f"  {path} is missing, and passwords are kept only as hashes. To start",
            "  over, run the demo again with a new, empty SHELFGUARD_HOME.",
            "",
        ]
        return "\n".join(lines)
    lines += [
        f"  As recorded when they were created ({path}; an enrolment",
        "  reset since then replaces the TOTP secret and recovery codes shown here):",
        "",
        saved,
    ]
    return "\n".join(lines)
