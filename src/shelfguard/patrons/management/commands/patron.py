"""`shelfguard patron`: import, register, show and erase patrons; portal passwords.

Every command acts as the operator running it (actor kind `cli`, channel
`cli`), so each reveal, registration and erasure is in the ledger under the
operator's account name. Patrons are named by card number, or by `id:N`
(an erased patron has no card number any more, only the id).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from shelfguard.core import progress
from shelfguard.core.actors import Actor
from shelfguard.patrons import register as reg
from shelfguard.patrons import services
from shelfguard.patrons.importer import count_rows, import_patrons_csv
from shelfguard.patrons.models import Patron, PatronStatus
from shelfguard.patrons.privacy_notice import NoticeError
from shelfguard.patrons.validation import PatronError
from shelfguard.portal import services as portal
from shelfguard.portal.services import PortalError
from shelfguard.vault import VaultError

_SHOWN_PROBLEMS = 20
_ID_REF = re.compile(r"(?:id:|#)(\d+)\Z", re.IGNORECASE)


class Command(BaseCommand):
    help = (
        "Work with patrons: import from CSV, register, show (a recorded reveal) or erase; "
        "set a portal password or make a one-time set-password link; erase card "
        "applications never confirmed (purge-unverified)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        imp = sub.add_parser(
            "import",
            help="import patrons from a legacy system's CSV export",
            description=(
                "Import patrons from a UTF-8 CSV file whose first line names the columns "
                "card_number,name,email,phone,address,birth_year,category,branch[,pin] "
                "(guardian_name for children below the guardian age; birth_date instead of "
                "birth_year if the library collects dates). Columns for fields this library "
                "does not collect are ignored. Bad rows are reported by line number and the "
                "rest imported. The file is read in place and never copied; PINs are stored "
                "only as Argon2 hashes. Delete the file securely once the import is done."
            ),
        )
        imp.add_argument("file", help="the CSV file")
        imp.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        show = sub.add_parser(
            "show",
            help="reveal a patron's record (recorded in the access ledger)",
            description=(
                "Reveal a patron's personal data. The reveal, its purpose and your account "
                "name are written to the access ledger, which the patron can read."
            ),
        )
        show.add_argument("patron", metavar="CARD", help="card number, or id:N")
        show.add_argument(
            "--purpose", required=True, help="why you need to see the record (recorded)"
        )
        show.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        erase = sub.add_parser(
            "erase",
            help="erase a patron for good (destroys their key)",
            description=(
                "Erase a patron: their data key is destroyed, so their data becomes "
                "unreadable everywhere, backups included; only a tombstone with the id "
                "remains. Refused while they have loans or other obligations. Asks for "
                "confirmation on a terminal; without a terminal, --yes is required."
            ),
        )
        erase.add_argument(
            "patron",
            metavar="CARD",
            nargs="+",
            help="card number, or id:N; more than one needs a four-eyes approval (--approval)",
        )
        erase.add_argument(
            "--reason", required=True, help="why (recorded; no personal details, please)"
        )
        erase.add_argument(
            "--approval", type=int, help="approved request (`shelfguard approvals`) for several"
        )
        erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        erase.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        add = sub.add_parser(
            "register",
            help="register one patron",
            description=(
                "Register one patron who has accepted the privacy notice. Values given as "
                "options can stay in your shell's history: for more than the odd patron, "
                "use the staff desk or `patron import`."
            ),
        )
        add.add_argument("--card", required=True, help="card number")
        add.add_argument("--name", required=True, help="full name")
        for key in ("email", "phone", "address", "guardian_name"):
            add.add_argument(f"--{key.replace('_', '-')}", dest=key, default=None)
        add.add_argument("--birth-year", dest="birth_year", default=None)
        add.add_argument("--birth-date", dest="birth_date", default=None, help="YYYY-MM-DD")
        add.add_argument("--category", default="adult", help="patron category (default adult)")
        add.add_argument("--branch", default="MAIN", help="home branch code (default MAIN)")
        add.add_argument(
            "--consent",
            action="append",
            default=[],
            choices=[p for p in reg.CONSENT_PURPOSES if p != reg.REQUIRED_CONSENT],
            help="an optional purpose the patron agreed to (repeatable); off unless given",
        )
        add.add_argument(
            "--by-guardian",
            action="store_true",
            help="the consents were given by the parent or guardian named in --guardian-name",
        )
        add.add_argument(
            "--notice-accepted",
            action="store_true",
            required=True,
            help="confirm the patron accepted the current privacy notice (required)",
        )
        add.add_argument(
            "--set-pin", action="store_true", help="ask for a PIN on the terminal (not echoed)"
        )
        add.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        setpw = sub.add_parser(
            "set-password",
            help="set a patron's portal password (recorded in the access ledger)",
            description=(
                "Set the password a patron signs in to the portal (/account/) with, read from "
                "the first line of a file, never from the command line. The usual password "
                "rules apply (at least 15 characters without an authenticator app, not common, "
                "not the card number). Every portal session of the patron ends. Prefer "
                "`patron password-link`, which lets the patron choose the password themselves."
            ),
        )
        setpw.add_argument("patron", metavar="CARD", help="card number, or id:N")
        setpw.add_argument(
            "--password-file",
            type=Path,
            required=True,
            metavar="F",
            help="read the password from the first line of this file",
        )
        setpw.add_argument(
            "--remove-authenticator",
            action="store_true",
            help="also turn the patron's authenticator app off (a lost phone; check who they are)",
        )
        setpw.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        link = sub.add_parser(
            "password-link",
            help="make a one-time link for the patron to set their portal password",
            description=(
                "Print the path of a one-time link (/account/set-password/.../) with which the "
                "patron sets their portal password. It works once and expires after "
                "[portal] link_hours (default 72); making a new one cancels the old one. "
                "Only a keyed hash of it is stored, so print or hand it over now."
            ),
        )
        link.add_argument("patron", metavar="CARD", help="card number, or id:N")
        link.add_argument(
            "--remove-authenticator",
            action="store_true",
            help="using the link also turns the authenticator app off (a lost phone)",
        )
        link.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        purge = sub.add_parser(
            "purge-unverified",
            help="erase card applications whose e-mail address was not confirmed in 30 days",
            description=(
                "Erase every card applied for online (self-registration) whose e-mail "
                "address was not confirmed within 30 days of the application. Each is "
                "erased like `patron erase` (key destroyed, id-only tombstone, ledger entry)."
            ),
        )
        purge.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            if action == "purge-unverified":
                self._purge_unverified(as_json=options["as_json"])
            elif action == "import":
                self._import(options["file"], as_json=options["as_json"])
            elif action == "show":
                self._show(options["patron"], options["purpose"], as_json=options["as_json"])
            elif action == "erase":
                if len(options["patron"]) > 1:
                    self._erase_several(options)
                else:
                    self._erase(
                        options["patron"][0], options["reason"], options["yes"], options["as_json"]
                    )
            elif action == "set-password":
                self._set_password(
                    options["patron"],
                    options["password_file"],
                    remove_totp=options["remove_authenticator"],
                    as_json=options["as_json"],
                )
            elif action == "password-link":
                self._password_link(
                    options["patron"],
                    remove_totp=options["remove_authenticator"],
                    as_json=options["as_json"],
                )
            else:
                self._register(options)
        except (PatronError, NoticeError) as exc:
            raise CommandError(str(exc)) from None
        except VaultError as exc:
            raise CommandError(f"The vault refused: {exc}") from None
        except PortalError as exc:
            raise CommandError(str(exc)) from None

    # --- purge unconfirmed self-registrations ---------------------------------------

    def _purge_unverified(self, *, as_json: bool) -> None:
        from shelfguard.patrons.selfreg import count_unverified_due

        show_bar = progress.wanted(as_json)
        total = count_unverified_due() if show_bar else None
        with progress.count_progress(total, "Erasing unconfirmed applications", show_bar) as bar:
            advance = (lambda: bar.advance(bar.task_ids[0])) if bar else None
            erased = services.purge_unverified(actor=Actor.cli_operator(), on_patron=advance)
        if as_json:
            self.stdout.write(json.dumps({"erased": erased}))
        else:
            self.stdout.write(f"Erased {erased} unconfirmed card applications.")

    # --- import --------------------------------------------------------------------

    def _import(self, file: str, *, as_json: bool) -> None:
        actor = Actor.cli_operator()
        try:
            with open(file, encoding="utf-8-sig", newline="") as text:
                show_bar = progress.wanted(as_json)
                total = count_rows(text) if show_bar else None
                with progress.count_progress(total, "Importing patrons", show_bar) as bar:
                    advance = (lambda: bar.advance(bar.task_ids[0])) if bar else None
                    report = import_patrons_csv(text, actor=actor, on_row=advance)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"{file} is not UTF-8 text; save it as UTF-8 CSV.") from None
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False))
            return
        self.stdout.write(f"Imported {report.imported} patrons, rejected {report.rejected}.")
        for name, why in report.ignored_columns.items():
            self.stdout.write(f"  column {name} ignored: {why}")
        for problem in report.problems[:_SHOWN_PROBLEMS]:
            self.stdout.write(f"  line {problem.line}: {problem.reason}")
        if len(report.problems) > _SHOWN_PROBLEMS:
            self.stdout.write(f"  … and {len(report.problems) - _SHOWN_PROBLEMS} more (--json)")

    # --- show ----------------------------------------------------------------------

    def _show(self, ref: str, purpose: str, *, as_json: bool) -> None:
        purpose = " ".join(purpose.split())
        if not purpose:
            raise CommandError("--purpose is empty; say why you need to see the record.")
        patron = resolve(ref)
        data = describe(patron, actor=Actor.cli_operator(), purpose=purpose)
        if as_json:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
            return
        if patron.is_erased:
            self.stdout.write(
                f"Patron {patron.pk}: erased on {data['erased_at']}; nothing about them is kept."
            )
            return
        self.stdout.write(f"Patron {patron.pk} ({data['status']})")
        for key in ("category", "home_branch", "expires_on"):
            self.stdout.write(f"  {key.replace('_', ' ').capitalize()}: {data[key]}")
        for key in data["revealed"]:
            label = reg.get(key).label
            value = "—" if data[key] is None else str(data[key])
            # Continuation lines of an address line up under its first line.
            value = value.replace("\n", "\n" + " " * (len(label) + 4))
            self.stdout.write(f"  {label}: {value}")
        check = data["identity_verification"]
        if check:
            self.stdout.write(
                f"  Identity checked: {check['document']} by {check['verified_by']} "
                f"at {check['verified_at']}"
            )
        self.stdout.write(f"  PIN set: {'yes' if data['pin_set'] else 'no'}")
        given = [c["purpose"] for c in data["consents"] if c["given"]]
        self.stdout.write(f"  Consents in force: {', '.join(given) or 'none'}")

    # --- erase ---------------------------------------------------------------------

    def _erase(self, ref: str, reason: str, yes: bool, as_json: bool) -> None:
        patron = resolve(ref)
        if patron.is_erased:
            raise CommandError(f"Patron {patron.pk} is already erased.")
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError(
                    f"Refusing to erase patron {patron.pk} without confirmation: this is not "
                    "a terminal. Add --yes to confirm."
                )
            self.stdout.write(
                f"Erase patron {patron.pk}? Their data key is destroyed and nothing can "
                "bring their data back, not even a backup."
            )
            self.stdout.flush()
            answer = input(f"Type the patron id ({patron.pk}) to confirm: ").strip()
            if answer != str(patron.pk):
                raise CommandError("Not confirmed; nothing was erased.")
        erased = services.erase(patron, actor=Actor.cli_operator(), reason=reason)
        data = {"id": erased.pk, "status": erased.status, "erased_at": _iso(erased.erased_at)}
        if as_json:
            self.stdout.write(json.dumps(data))
        else:
            self.stdout.write(
                f"Erased patron {erased.pk}. Their data key is destroyed; the access ledger "
                "keeps its entries, which name only the id."
            )

    def _erase_several(self, options: dict) -> None:
        """Several patrons at once: four eyes (lifecycle.approvals), patrons named by id only."""
        from shelfguard.lifecycle import services as lifecycle

        ids = sorted({resolve(ref).pk for ref in options["patron"]})
        if not options["yes"]:
            raise CommandError("Erasing several patrons needs --yes (and an approved request).")
        try:
            erased = lifecycle.approvals.erase_patrons(
                ids,
                actor=Actor.cli_operator(),
                reason=options["reason"],
                approval=options["approval"],
            )
        except lifecycle.ApprovalError as exc:
            raise CommandError(
                f"{exc.message} Patron ids: {' '.join(map(str, ids))} "
                "(`shelfguard approvals request erase_patrons --ids ...`)."
            ) from None
        if options["as_json"]:
            self.stdout.write(json.dumps({"erased": erased}))
        else:
            self.stdout.write(f"Erased patrons {', '.join(map(str, erased))}.")

    # --- portal passwords ------------------------------------------------------------

    def _set_password(self, ref: str, file: Path, *, remove_totp: bool, as_json: bool) -> None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read the password file: {exc}") from None
        password = lines[0] if lines else ""
        patron = resolve(ref)
        if patron.is_erased:
            raise CommandError(f"Patron {patron.pk} is erased; nobody can sign in as them.")
        ended = portal.set_password(
            patron,
            password,
            actor=Actor.cli_operator(),
            purpose="portal password set by an operator",
            remove_totp=remove_totp,
        )
        if as_json:
            self.stdout.write(json.dumps({"id": patron.pk, "sessions_ended": ended}))
        else:
            self.stdout.write(
                f"Portal password set for patron {patron.pk}; portal sessions ended: {ended}. "
                "Delete the password file securely."
            )

    def _password_link(self, ref: str, *, remove_totp: bool, as_json: bool) -> None:
        patron = resolve(ref)
        if patron.is_erased:
            raise CommandError(f"Patron {patron.pk} is erased; nobody can sign in as them.")
        token, expires = portal.create_password_link(
            patron, actor=Actor.cli_operator(), remove_totp=remove_totp
        )
        path = reverse("portal:set_password", kwargs={"token": token})
        if as_json:
            self.stdout.write(
                json.dumps({"id": patron.pk, "path": path, "expires_at": _iso(expires)})
            )
        else:
            self.stdout.write(
                f"One-time link for patron {patron.pk} (works once, until {_iso(expires)}):\n"
                f"  {path}\n"
                "Give it to the patron with the library's address in front of it."
            )

    # --- register ------------------------------------------------------------------

    def _register(self, options: dict[str, Any]) -> None:
        pin = None
        if options["set_pin"]:
            if not sys.stdin.isatty():
                raise CommandError("--set-pin asks on a terminal; this is not one.")
            pin = getpass.getpass("PIN: ")
            if getpass.getpass("PIN again: ") != pin:
                raise CommandError("The two PINs differ; nothing was registered.")
        patron = services.register(
            card_number=options["card"],
            name=options["name"],
            email=options["email"],
            phone=options["phone"],
            address=options["address"],
            birth_year=options["birth_year"],
            birth_date=options["birth_date"],
            guardian_name=options["guardian_name"],
            category=options["category"],
            home_branch=options["branch"],
            pin=pin,
            consents=[reg.REQUIRED_CONSENT, *options["consent"]],
            by_guardian=options["by_guardian"],
            actor=Actor.cli_operator(),
        )
        if options["as_json"]:
            self.stdout.write(json.dumps({"id": patron.pk, "status": patron.status}))
        else:
            self.stdout.write(f"Registered patron {patron.pk}.")


def resolve(ref: str) -> Patron:
    """The patron named by `id:N` / `#N`, or by card number; a clear error if none."""
    match = _ID_REF.match(ref.strip())
    if match:
        patron = services.get_patron(int(match.group(1)))
        if patron is None:
            raise CommandError(f"There is no patron {match.group(1)}.")
        return patron
    patron = services.find_by_card(ref)
    if patron is None:
        raise CommandError(
            "No patron has that card number. An erased patron's card number is gone with "
            "them: name them by id instead (id:N, as printed when they were erased)."
        )
    return patron


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def describe(patron: Patron, *, actor: Actor, purpose: str) -> dict[str, Any]:
    """The patron as a JSON-ready mapping; live records are revealed (and so recorded)."""
    if patron.status == PatronStatus.ERASED:
        return {"id": patron.pk, "status": patron.status, "erased_at": _iso(patron.erased_at)}
    # What the record holds, plus the usual fields when the library collects them
    # (shown as null when empty): the ledger then names exactly what was shown.
    usual = {"card_number", "name", "email", "phone", "address"}
    fields = [
        f.key
        for f in reg.SEALED
        if getattr(patron, f.column) is not None or (f.key in usual and reg.is_collected(f.key))
    ]
    values = services.reveal(patron, fields, actor=actor, purpose=purpose)
    if values.get("birth_year") is not None:
        values["birth_year"] = int(values["birth_year"])
    states = services.consents(patron, actor=actor, purpose=purpose)
    check = None
    if patron.identity_document:
        check = {
            "document": patron.identity_document,
            "verified_by": patron.identity_verified_by,
            "verified_at": _iso(patron.identity_verified_at),
        }
    return {
        "id": patron.pk,
        "status": patron.status,
        **values,
        "revealed": fields,
        "category": patron.category.code if patron.category else None,
        "home_branch": patron.home_branch.code if patron.home_branch else None,
        "expires_on": _iso(patron.expires_on),
        "identity_verification": check,
        "pin_set": bool(patron.pin_hash),
        "consents": [state.as_dict() for state in states],
        "created_at": _iso(patron.created_at),
        "updated_at": _iso(patron.updated_at),
    }
