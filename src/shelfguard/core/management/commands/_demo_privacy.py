"""The demo's privacy and self-service side: settings, a self-check terminal, requests, backups.

Split from `demo.py` by subject. Everything here is made once (each step
checks whether it was done) through the same services staff, patrons and
the scheduler use, on synthetic data only, so `shelfguard demo` shows the
portal's rights, the SIP2 self-check, the privacy officer's dashboard and a
verified backup straight away.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings

from shelfguard.core.actors import Actor
from shelfguard.core.home import config_path, read_config

DEMO_TERMINAL = "selfcheck-main"
DEMO_PIN_CARD = "29990001"
DEMO_PIN = "2468"  # synthetic; the PIN of a synthetic patron
DEMO_DECOY_CARD = "29990099"
IDENTITY_FILE = "demo-backup-identity.txt"
OFFICER_EMAIL = "privacy-officer@example.org"


def _section(name: str, body: str) -> str:
    return f"\n[{name}]\n{body.strip()}\n"


def configure(home: Path) -> list[str]:
    """Add the demo's sections to shelfguard.toml where the file has none; return their names.

    Sections an operator already wrote are left alone (TOML forbids a second
    header anyway). The running process reads the file again afterwards, so
    what follows in this command sees the same settings `serve` will.
    """
    config = read_config(home)
    wanted: dict[str, str] = {
        "mail": (
            "# The demo writes e-mails into mail-outbox/ instead of sending them.\n"
            'backend = "file"\n'
            'from = "library@example.org"'
        ),
        "portal": "# Anyone may apply for a (provisional) card online.\nself_registration = true",
        "sip2": (
            "# The SIP2 self-check server runs beside the web server, on loopback only.\n"
            "enabled = true\n"
            'host = "127.0.0.1"\n'
            "port = 6001"
        ),
        "privacy": f'officer_email = "{OFFICER_EMAIL}"',
    }
    if "backup" not in config:
        recipient = _backup_identity(home)
        wanted["backup"] = (
            "# A real library keeps its identity offline; the demo's is in the home so\n"
            "# that the daily job can prove each backup restores.\n"
            f'recipients = ["{recipient}"]\n'
            f'verify_identity = "{home / IDENTITY_FILE}"'
        )
    added = [name for name in wanted if name not in config]
    if added:
        with config_path(home).open("a", encoding="utf-8") as fh:
            for name in added:
                fh.write(_section(name, wanted[name]))
        settings.CONFIG = read_config(home)
    return added


def _backup_identity(home: Path) -> str:
    """The demo's age identity file (0600), made once; returns its public recipient."""
    from pyrage import x25519

    path = home / IDENTITY_FILE
    if path.exists():
        text = path.read_text(encoding="utf-8")
        secret = next(line for line in text.splitlines() if line.startswith("AGE-SECRET-KEY-"))
        return str(x25519.Identity.from_str(secret).to_public())
    identity = x25519.Identity.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# public key: {identity.to_public()}\n{identity}\n")
    return str(identity.to_public())


def self_check(actor: Actor, record) -> str:
    """A SIP2 terminal at MAIN and a PIN for the portal's demo patron; returns the password."""
    from shelfguard.patrons import services as patrons
    from shelfguard.sip2 import services as sip2
    from shelfguard.sip2.models import Terminal

    if Terminal.objects.filter(login=DEMO_TERMINAL).exists():
        return ""
    password = secrets.token_urlsafe(12)
    sip2.add_terminal(DEMO_TERMINAL, branch="MAIN", password=password, actor=actor, purpose="demo")
    patron = patrons.find_by_card(DEMO_PIN_CARD)
    if patron is not None:
        patrons.update(patron, {"pin": DEMO_PIN}, actor=actor, purpose="demo")
    record(
        "SIP2 self-check terminal\n"
        f"  login:           {DEMO_TERMINAL}\n  password:        {password}\n"
        f"  patron PIN:      {DEMO_PIN} (card {DEMO_PIN_CARD})\n\n"
    )
    return password


def requests_and_feedback(actor: Actor) -> bool:
    """One of each thing the privacy officer and reviewers handle; False if already made."""
    from shelfguard.feedback import services as feedback
    from shelfguard.feedback.models import Feedback
    from shelfguard.monitoring import services as monitoring
    from shelfguard.patrons import services as patrons

    if Feedback.objects.exists():
        return False
    feedback.submit(
        category="building",
        text="The reading room is cold in the mornings; could the heating start earlier?",
        actor=actor,
        purpose="demo",
    )
    feedback.file_request(
        kind="access",
        description="Please send me a copy of what the library holds about me.",
        contact="sam@example.org",
        actor=actor,
        purpose="demo",
    )
    sam = patrons.find_by_card("29990003")
    if sam is not None:
        patrons.submit(
            sam,
            {"name": "Samuel Placeholder"},
            note="My full name, as on my new identity card.",
            actor=Actor(kind="patron", ident=str(sam.pk), channel="web"),
        )
    if patrons.find_by_card(DEMO_DECOY_CARD) is None:
        patrons.register(
            card_number=DEMO_DECOY_CARD,
            name="Decoy Record",
            email="decoy@example.org",
            actor=actor,
            purpose="demo",
        )
    monitoring.add_decoy(DEMO_DECOY_CARD, actor=actor, purpose="demo")
    return True


def first_backup() -> str:
    """A first verified backup, as the daily job makes it; returns a one-line summary."""
    from shelfguard.lifecycle import services as lifecycle
    from shelfguard.lifecycle.models import BackupRun

    if BackupRun.objects.exists():
        return ""
    summary = lifecycle.run_scheduled_backup()
    state = "verified" if summary.get("verified") else "not verified"
    return f"{summary['file']} ({state})"


def notice(port: int, terminal_password: str, credentials: Path, backup: str) -> str:
    home = settings.HOME
    lines = [
        "",
        "Privacy and self-service",
        f"  Apply for a card:  http://127.0.0.1:{port}/account/register/",
        f"  Send feedback:     http://127.0.0.1:{port}/feedback/",
        f"  Privacy dashboard: http://127.0.0.1:{port}/staff/privacy/  (as officer)",
        f"  E-mails sent:      written to {home / 'mail-outbox'}",
        (
            f"  SIP2 self-check:   127.0.0.1:6001, terminal {DEMO_TERMINAL}, "
            f"password {terminal_password or 'as recorded in ' + str(credentials)}"
        ),
        f"                     patron {DEMO_PIN_CARD}, PIN {DEMO_PIN}",
        f"  Decoy record:      card {DEMO_DECOY_CARD} (any look at it raises an alert)",
        "  Backups:           shelfguard backup list" + (f"   (first: {backup})" if backup else ""),
        "  Jobs:              shelfguard jobs status",
        "",
    ]
    return "\n".join(lines)
