"""`shelfguard staff`: create, enrol, certify, list or disable staff accounts."""

from __future__ import annotations

import datetime as dt
import json as jsonlib
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shelfguard.accounts import mfa, services
from shelfguard.accounts.models import StaffUser
from shelfguard.core.actors import Actor


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date like 2027-06-30.") from None


class Command(BaseCommand):
    help = "Create, enrol, certify, list or disable staff accounts."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{create,enrol,certify,list,disable,set-household}",
        )
        create = actions.add_parser(
            "create",
            help="create a staff account and print its one-time enrolment code",
            description=(
                "Create a staff account. It prints a one-time enrolment code: the staff member "
                "enters it at /staff/enrol/ to set up their second factor (and their password, "
                "unless --password-file gives one). Nobody signs in without a second factor."
            ),
        )
        create.add_argument("username")
        create.add_argument(
            "--role",
            action="append",
            required=True,
            dest="roles",
            metavar="ROLE",
            help="a role code, e.g. circulation-desk (repeat for several)",
        )
        create.add_argument("--branch", required=True, metavar="CODE", help="home branch code")
        create.add_argument(
            "--password-file",
            type=Path,
            metavar="F",
            help="read an initial password from this file (first line); never on the command line",
        )
        create.add_argument("--json", action="store_true", dest="as_json")

        enrol = actions.add_parser(
            "enrol",
            help="issue a new one-time enrolment code",
            description=(
                "Issue a new one-time enrolment code, for a staff member whose code expired or "
                "who lost their phone and recovery codes. If they still have a second factor, "
                "--reset removes it (and their recovery codes) and ends all their sessions."
            ),
        )
        enrol.add_argument("username")
        enrol.add_argument(
            "--reset", action="store_true", help="remove their current second factor first"
        )
        enrol.add_argument("--json", action="store_true", dest="as_json")

        certify = actions.add_parser(
            "certify",
            help="record a passed privacy course",
            description="Record that a staff member passed a privacy course, valid through DATE.",
        )
        certify.add_argument("username")
        certify.add_argument("--course", required=True, help="the course's name")
        certify.add_argument(
            "--until", required=True, metavar="DATE", help="last valid day, YYYY-MM-DD"
        )
        certify.add_argument("--passed", metavar="DATE", help="day passed (default: today)")
        certify.add_argument("--json", action="store_true", dest="as_json")

        listing = actions.add_parser("list", help="list staff accounts", description="List staff.")
        listing.add_argument("--json", action="store_true", dest="as_json")

        disable = actions.add_parser(
            "disable",
            help="disable an account and end all its sessions",
            description="Disable a staff account; every session it has ends at once.",
        )
        disable.add_argument("username")
        disable.add_argument("--json", action="store_true", dest="as_json")

        household = actions.add_parser(
            "set-household",
            help="record one's own surname or address as blind indexes, for access monitoring",
            description=(
                "Store a staff member's own surname, and optionally their postal address, as "
                "blind indexes only (never in clear), so that access monitoring notices when "
                "they open the record of a patron who may share either. The surname is asked "
                "for at a prompt, or read from the first line of --file; an empty answer "
                "clears it. The address is read from --address-file (all its lines) or asked "
                "for with --address; given alone, either leaves the surname as it is."
            ),
        )
        household.add_argument("username")
        household.add_argument(
            "--file", type=Path, metavar="F", help="read the surname from this file (first line)"
        )
        household.add_argument(
            "--address-file",
            type=Path,
            metavar="F",
            help="read the postal address from this file (all lines; an empty file clears it)",
        )
        household.add_argument(
            "--address",
            action="store_true",
            dest="address_prompt",
            help="ask for the postal address at a prompt (an empty answer clears it)",
        )
        household.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, action: str, as_json: bool = False, **options):
        actor = Actor.cli_operator()
        try:
            result = getattr(self, f"_{action.replace('-', '_')}")(actor=actor, **options)
        except services.AccountError as exc:
            raise CommandError(str(exc)) from exc
        data, text = result
        self.stdout.write(jsonlib.dumps(data, ensure_ascii=False) if as_json else text)

    def _create(self, *, actor, username, roles, branch, password_file, **_):
        password = None
        if password_file is not None:
            try:
                lines = password_file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"Cannot read the password file: {exc}") from None
            password = lines[0] if lines else ""
        staff, code = services.create_staff(
            username, roles=roles, branch=branch, password=password, actor=actor
        )
        data = {**_staff_data(staff), "enrolment_code": code, "enrol_path": "/staff/enrol/"}
        text = (
            f"Created staff member {staff.username} ({', '.join(sorted(roles))}; "
            f"branch {staff.branch.code}).\n"
            f"One-time enrolment code: {code}\n"
            "Give it to them in person. They enter it at /staff/enrol/ on this library's "
            "server to set up their authenticator app; it expires unused."
        )
        return data, text

    def _enrol(self, *, actor, username, reset, **_):
        staff = services.get_staff(username)
        code = services.issue_enrolment_code(staff, reset=reset, actor=actor)
        data = {"username": staff.username, "enrolment_code": code, "enrol_path": "/staff/enrol/"}
        return data, (
            f"New one-time enrolment code for {staff.username}: {code}\n"
            "Give it to them in person; they enter it at /staff/enrol/. Any earlier code "
            "no longer works."
        )

    def _certify(self, *, actor, username, course, until, passed, **_):
        staff = services.get_staff(username)
        cert = services.certify(
            staff,
            course=course,
            until=_date(until),
            passed_on=_date(passed) if passed else None,
            actor=actor,
        )
        data = {
            "username": staff.username,
            "course": cert.course,
            "passed_on": cert.passed_on.isoformat(),
            "expires_on": cert.expires_on.isoformat(),
        }
        return data, (
            f"Recorded {cert.course!r} for {staff.username}, valid through "
            f"{cert.expires_on.isoformat()}."
        )

    def _list(self, **_):
        rows = [
            _staff_data(s)
            for s in StaffUser.objects.select_related("branch").prefetch_related("roles")
        ]
        if not rows:
            return rows, "No staff accounts yet; add one with `shelfguard staff create`."
        lines = ["USERNAME  BRANCH  ACTIVE  2FA  CERTIFIED-UNTIL  ROLES"]
        for row in rows:
            lines.append(
                f"{row['username']}  {row['branch']}  {'yes' if row['active'] else 'no'}  "
                f"{'yes' if row['second_factor'] else 'no'}  "
                f"{row['certified_until'] or '-'}  {', '.join(row['roles'])}"
            )
        return rows, "\n".join(lines)

    def _disable(self, *, actor, username, **_):
        staff = services.get_staff(username)
        if not staff.is_active:
            raise CommandError(f"{staff.username} is already disabled.")
        ended = services.disable_staff(staff, actor=actor)
        data = {"username": staff.username, "active": False, "sessions_ended": ended}
        return data, f"Disabled {staff.username}; ended {ended} session(s)."

    def _set_household(
        self, *, actor, username, file, address_file=None, address_prompt=False, **_
    ):
        from shelfguard.monitoring import services as monitoring

        staff = services.get_staff(username)
        if address_file is not None or address_prompt:
            if address_file is not None and address_prompt:
                raise CommandError("Give --address-file F or --address, not both.")
            if address_file is not None:
                try:
                    address = address_file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    # The reason only: an error message never carries the file's contents.
                    raise CommandError(
                        f"Cannot read the address file: {exc.strerror or type(exc).__name__}"
                    ) from None
            else:
                try:
                    address = input(f"Postal address of {staff.username} (empty to clear): ")
                except EOFError:
                    raise CommandError(
                        "No address given; use --address-file F or answer the prompt."
                    ) from None
            try:
                stored = monitoring.set_household_address(
                    staff, address=address, actor=actor, purpose="security: access monitoring"
                )
            except monitoring.MonitoringError as exc:
                raise CommandError(exc.message) from None
            data: dict[str, Any] = {"username": staff.username, "address": stored}
            said = (
                f"Stored the address index of {staff.username} (no clear text)."
                if stored
                else f"Cleared the address index of {staff.username}."
            )
            if file is None:
                return data, said
            surname_data, surname_said = self._set_household(
                actor=actor, username=username, file=file
            )
            return {**surname_data, **data}, f"{surname_said} {said}"
        if file is not None:
            try:
                lines = file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"Cannot read the surname file: {exc}") from None
            surname = lines[0] if lines else ""
        else:
            try:
                surname = input(f"Surname of {staff.username} (empty to clear): ")
            except EOFError:
                raise CommandError("No surname given; use --file F or answer the prompt.") from None
        try:
            count = monitoring.set_household(
                staff, surname=surname, actor=actor, purpose="security: access monitoring"
            )
        except monitoring.MonitoringError as exc:
            raise CommandError(exc.message) from None
        data = {"username": staff.username, "surname_tokens": count}
        if not count:
            return data, f"Cleared the surname index of {staff.username}."
        return data, f"Stored {count} surname index value(s) for {staff.username} (no clear text)."


def _staff_data(staff: StaffUser) -> dict[str, Any]:
    cert = services.current_certification(staff)
    return {
        "username": staff.username,
        "branch": staff.branch.code,
        "roles": sorted(r.code for r in staff.roles.all()),
        "active": staff.is_active,
        "second_factor": mfa.has_second_factor(staff),
        "certified_until": cert.expires_on.isoformat() if cert else None,
        "created_at": staff.created_at.isoformat(),
    }
