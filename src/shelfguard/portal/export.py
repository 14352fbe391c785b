""" "Download my data": the patron's whole record as one ZIP, offered once, then gone.

The patron asks (POST, with their password again, and a code when they use
an authenticator app: the file holds everything the library keeps about
them, so a session left open on a shared computer must not be enough to
take it away). The export service then, in one transaction with one ledger
entry (actor: the patron, purpose `EXPORT_PURPOSE`), builds a ZIP in
memory from every section registered in `patrons.export_sections` (this
app never special-cases one), encrypts it with AES-256-GCM under a fresh
random key, writes it with mode 0600 under `$SHELFGUARD_HOME/exports/`, and
keeps that key only sealed with the patron's own data key (`ExportKey`).

The download works once, in the session that asked, with the random token
handed to that page (kept only as a keyed hash and compared in constant
time). Right after reading it, the file is unlinked and the key row deleted.
`purge_exports` removes whatever is older than `EXPORT_LIFETIME`. Deleting
the file alone would not be enough on flash storage and copy-on-write file
systems (the old blocks may survive); deleting the key is what makes the
deletion final, and erasing the patron destroys the key that seals it.

This module also registers the export sections of circulation (loans,
holds, reading history, charges) and of the access ledger, read here
without ledger entries of their own (the export's entry covers them).
"""

from __future__ import annotations

import csv
import datetime as dt
import hmac
import io
import json
import logging
import os
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.translation import gettext as _

from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.home import home_dir
from shelfguard.ledger import services as ledger
from shelfguard.patrons import services as patrons
from shelfguard.patrons.export_sections import (
    ExportSection,
    export_sections,
    register_export_section,
)
from shelfguard.patrons.models import Patron
from shelfguard.portal.credentials import PortalError, reauthenticate
from shelfguard.portal.models import ExportFile, ExportKey, PatronSession
from shelfguard.portal.sessions import patron_actor

logger = logging.getLogger(__name__)

EXPORT_PURPOSE = "right of access / portability"
FORMAT = "shelfguard-export"
FORMAT_VERSION = 1
JSON_NAME = "shelfguard-export.json"
README_NAME = "README.txt"
#: Files older than this are deleted by `purge_exports`, downloaded or not.
EXPORT_LIFETIME = dt.timedelta(hours=24)
#: What an export file starts with on disk: a version tag, then nonce and ciphertext.
_FILE_TAG = b"SGEX1"
_NONCE_BYTES = 12
_TOKEN_PURPOSE = "portal-export"

__all__ = [
    "EXPORT_LIFETIME",
    "EXPORT_PURPOSE",
    "ExportRefused",
    "PreparedExport",
    "build_document",
    "exports_dir",
    "forget_exports",
    "purge_exports",
    "request_export",
    "show_staff_names",
    "take_export",
]


class ExportRefused(PortalError):
    """The download is not (or no longer) possible; the message says what to do."""


@dataclass(frozen=True)
class PreparedExport:
    export_id: int
    #: The one-time download token: shown to the page that asked, never stored.
    token: str
    expires_at: dt.datetime


def show_staff_names() -> bool:
    """`[portal] show_staff_names`: name staff in the access entries (default: roles only)."""
    raw = settings.CONFIG.get("portal", {}).get("show_staff_names", False)
    if not isinstance(raw, bool):
        raise ImproperlyConfigured(
            f"[portal] show_staff_names in shelfguard.toml must be true or false, not {raw!r}."
        )
    return raw


def exports_dir() -> Path:
    """`$SHELFGUARD_HOME/exports`, made private (0700) if it is not there yet."""
    path = home_dir() / "exports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


# --- Building the document ------------------------------------------------------------------


def build_document(patron: Patron, *, generated_at: dt.datetime) -> dict[str, Any]:
    """The export as data: format, version, time, library and every registered section.

    Called inside the export's transaction, after its ledger entry; the
    sections must not write entries of their own.
    """
    sections: dict[str, Any] = {}
    for section in export_sections():
        rows = section.rows(patron)
        for row in rows:
            if tuple(row) != section.columns:
                raise ValueError(
                    f"export section {section.name!r} gave a row whose keys are not its columns"
                )
        sections[section.name] = {
            "description": section.description,
            "columns": list(section.columns),
            "rows": rows,
        }
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generated_at": generated_at.isoformat(),
        "library": settings.LIBRARY_NAME,
        "patron_id": patron.pk,
        "sections": sections,
    }


# Cells a spreadsheet would run as a formula; prefixed with an apostrophe in the CSV only.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A JSON scalar as a CSV cell: empty for none, true/false, text safe from formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def section_csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    """One section as CSV in UTF-8 with a byte-order mark.

    Without the BOM, spreadsheet programs (Excel above all) guess a legacy
    code page and show Chinese names and titles as mojibake; with it they
    read UTF-8. Every other CSV reader skips it.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row[column]) for column in columns])
    return buffer.getvalue().encode("utf-8-sig")


_README = """\
Your data from {library}
=========================

Generated at {generated_at} (UTC) for library account {patron_id}.

shelfguard-export.json
    Everything in one file, in the documented format "{format}",
    version {version}: the time it was made, the library, and one entry per
    section under "sections", each with its description, its columns and its
    rows. Programs should read this file.
{csv_lines}
Each .csv file holds one section as a table (UTF-8; the first line names
the columns). A cell that starts with = + - or @ has an apostrophe in front
of it so that a spreadsheet shows it as text instead of running it; the
JSON file has the exact value.

This file was offered for download once and has now been deleted from the
library's server. Keep it somewhere safe: it holds your personal data.


{library} 的个人数据
====================

生成时间 {generated_at}（UTC），图书馆账户编号 {patron_id}。

shelfguard-export.json
    所有数据都在这一个文件里，格式为“{format}”，版本 {version}：生成时间、
    图书馆名称，以及 "sections" 下的各个部分，每部分都有说明、列名和各行数据。
    程序应读取此文件。
{csv_lines_zh}
每个 .csv 文件以表格形式保存一个部分（UTF-8 编码，第一行是列名）。
以 = + - 或 @ 开头的单元格前面加了一个撇号，这样电子表格会把它当作文字显示，
而不会当作公式执行；JSON 文件里是原始值。

此文件只提供一次下载，现已从图书馆的服务器上删除。请妥善保存：
其中包含您的个人数据。
"""


def readme_text(document: dict[str, Any]) -> str:
    names = list(document["sections"])
    return _README.format(
        library=document["library"],
        generated_at=document["generated_at"],
        patron_id=document["patron_id"],
        format=FORMAT,
        version=FORMAT_VERSION,
        csv_lines="".join(
            f"\n{name}.csv\n    {document['sections'][name]['description']}\n" for name in names
        ),
        csv_lines_zh="".join(f"\n{name}.csv\n    见 JSON 文件中的同名部分。\n" for name in names),
    )


def build_zip(document: dict[str, Any]) -> bytes:
    """The ZIP the patron downloads: the JSON, one CSV per section and the README."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            JSON_NAME, json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
        )
        for name, section in document["sections"].items():
            archive.writestr(f"{name}.csv", section_csv(section["columns"], section["rows"]))
        archive.writestr(README_NAME, readme_text(document).encode("utf-8"))
    return buffer.getvalue()


# --- Encryption at rest ---------------------------------------------------------------------


def _aad(file_name: str) -> bytes:
    # Binds the ciphertext to its file name: a file swapped for another does not open.
    return b"shelfguard.portal.export.v1:" + file_name.encode("ascii")


def _encrypt(key: bytes, file_name: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _FILE_TAG + nonce + AESGCM(key).encrypt(nonce, plaintext, _aad(file_name))


def _decrypt(key: bytes, file_name: str, data: bytes) -> bytes:
    if not data.startswith(_FILE_TAG):
        raise InvalidTag
    nonce = data[len(_FILE_TAG) : len(_FILE_TAG) + _NONCE_BYTES]
    return AESGCM(key).decrypt(nonce, data[len(_FILE_TAG) + _NONCE_BYTES :], _aad(file_name))


def _write_private(path: Path, data: bytes) -> None:
    """Create the file with mode 0600 from the start (never readable by others, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _remove_file(file_name: str) -> None:
    try:
        (exports_dir() / file_name).unlink()
    except FileNotFoundError:
        pass


# --- The doors ------------------------------------------------------------------------------


def request_export(
    patron: Patron,
    *,
    session: PatronSession,
    password: str,
    code: str = "",
    source: str,
) -> PreparedExport:
    """Check the patron again, build and store their export; returns the one-time token.

    Raises `SignInFailed` when the password (or code) is wrong, with the same
    throttling as sign-in. One ledger entry, by the patron, for the purpose
    `EXPORT_PURPOSE`, naming every section.
    """
    if session.patron_id != patron.pk:
        raise ExportRefused(_("Sign in again, then ask for your data."))
    reauthenticate(patron, password, code, source=source)
    now = clock.now()
    token = secrets.token_urlsafe(32)
    file_name = secrets.token_hex(16) + ".sgex"
    key = AESGCM.generate_key(bit_length=256)
    path = exports_dir() / file_name
    try:
        with transaction.atomic():
            ledger.append(
                actor=patron_actor(patron),
                action="portal.export.create",
                purpose=EXPORT_PURPOSE,
                patron_id=patron.pk,
                fields=[section.name for section in export_sections()],
            )
            document = build_document(patron, generated_at=now)
            export = ExportFile.objects.create(
                patron=patron,
                session=session,
                token_hash=keyed_hash(_TOKEN_PURPOSE, token),
                file_name=file_name,
                created_at=now,
                expires_at=now + EXPORT_LIFETIME,
            )
            ExportKey.objects.create(export=export, sealed=patrons.seal_export_key(patron, key))
            # Written last: a failure before this leaves no file; one after it
            # rolls the rows back and the file is removed below.
            _write_private(path, _encrypt(key, file_name, build_zip(document)))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return PreparedExport(export_id=export.pk, token=token, expires_at=export.expires_at)


def take_export(patron: Patron, *, session: PatronSession, token: str) -> tuple[str, bytes]:
    """The export's (download name, ZIP bytes), once: the file and its key are gone after.

    Only the patron's own export, asked for in this same session, with its
    token; anything else (another patron's token, a used or expired one, an
    ended session) gets the same refusal, which says what to do.
    """
    refused = ExportRefused(
        _(
            "This download is no longer available: a file is offered once, in the session "
            "that asked for it, for 24 hours. Ask for your data again."
        )
    )
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise refused
    wanted = keyed_hash(_TOKEN_PURPOSE, token)
    now = clock.now()
    with transaction.atomic():
        candidates = list(
            ExportFile.objects.select_for_update().filter(
                patron=patron,
                session=session,
                downloaded_at__isnull=True,
                removed_at__isnull=True,
                expires_at__gt=now,
            )
        )
        # Every candidate is compared, in constant time, so the time taken says nothing.
        found = None
        for row in candidates:
            if hmac.compare_digest(row.token_hash, wanted):
                found = row
        if found is None:
            raise refused
        sealed = ExportKey.objects.filter(export=found).values_list("sealed", flat=True).first()
        if sealed is None:
            raise refused
        key = patrons.open_export_key(patron, bytes(sealed))
        try:
            data = (exports_dir() / found.file_name).read_bytes()
            content = _decrypt(key, found.file_name, data)
        except (FileNotFoundError, InvalidTag):
            logger.warning("Export %s of patron %s cannot be read; removed.", found.pk, patron.pk)
            _retire(found, now)
            raise refused from None
        found.downloaded_at = now
        _retire(found, now)
        ledger.append(
            actor=patron_actor(patron),
            action="portal.export.download",
            purpose=EXPORT_PURPOSE,
            patron_id=patron.pk,
            fields=[],
            detail={"export": found.pk},
        )
    stamp = found.created_at.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"shelfguard-export-{stamp}.zip", content


def _retire(export: ExportFile, now: dt.datetime) -> None:
    """Delete the key row and the file; the row keeps only when it was made and taken."""
    ExportKey.objects.filter(export=export).delete()
    export.removed_at = now
    export.save(update_fields=["downloaded_at", "removed_at"])
    _remove_file(export.file_name)


def purge_exports(
    now: dt.datetime | None = None,
    *,
    actor: Actor | None = None,
    purpose: str = "deleting downloads older than 24 hours",
) -> int:
    """Delete every export file (and key) older than 24 hours, downloaded or not; returns how many.

    Safe to run at any time and again: each export is retired in its own
    transaction with a ledger entry; files in the directory that no row
    names (left by a crash between writing and committing) go too once
    they are older than the lifetime.
    """
    now = now or clock.now()
    actor = actor or Actor.system("export-purge")
    cutoff = now - EXPORT_LIFETIME
    count = 0
    due = ExportFile.objects.filter(removed_at__isnull=True, created_at__lte=cutoff)
    for export_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            row = (
                ExportFile.objects.select_for_update()
                .filter(pk=export_id, removed_at__isnull=True)
                .first()
            )
            if row is None:
                continue
            _retire(row, now)
            ledger.append(
                actor=actor,
                action="portal.export.purge",
                purpose=purpose,
                patron_id=row.patron_id,
                detail={"export": row.pk, "downloaded": row.downloaded_at is not None},
            )
            count += 1
    known = set(
        ExportFile.objects.filter(removed_at__isnull=True).values_list("file_name", flat=True)
    )
    for path in exports_dir().iterdir():
        if path.name in known or not path.is_file():
            continue
        modified = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
        if modified <= cutoff:
            path.unlink(missing_ok=True)
    return count


def forget_exports(patron: Patron) -> None:
    """An erased patron's export files and keys go in the erasure's transaction."""
    now = clock.now()
    for row in ExportFile.objects.filter(patron=patron, removed_at__isnull=True):
        _retire(row, now)


# --- The sections of circulation and of the access ledger ------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


LOAN_COLUMNS = (
    "loan",
    "title",
    "barcode",
    "branch",
    "return_branch",
    "loaned_on",
    "due_on",
    "ended_on",
    "renewals",
    "outcome",
)


def _loan_row(loan: Any) -> dict[str, Any]:
    return {
        "loan": loan.pk,
        "title": loan.item.record.title,
        "barcode": loan.item.barcode,
        "branch": loan.branch.code,
        "return_branch": loan.return_branch.code if loan.return_branch_id else None,
        "loaned_on": _iso(loan.loaned_on),
        "due_on": _iso(loan.due_on),
        "ended_on": _iso(loan.ended_on),
        "renewals": loan.renewals,
        "outcome": loan.outcome,
    }


def _linked_loans(patron: Patron):
    from shelfguard.circulation.models import Charge, Loan

    unsettled = Charge.objects.filter(
        patron_id=patron.pk, settled_on__isnull=True, loan__isnull=False
    ).values("loan_id")
    loans = Loan.objects.filter(patron_id=patron.pk).select_related(
        "item__record", "branch", "return_branch"
    )
    return loans, unsettled


def loan_rows(patron: Patron) -> list[dict[str, Any]]:
    """Open loans, and ended ones still linked because a charge on them is unpaid."""
    from django.db.models import Q

    from shelfguard.circulation.models import LoanOutcome

    loans, unsettled = _linked_loans(patron)
    chosen = loans.filter(Q(outcome=LoanOutcome.OPEN) | Q(pk__in=unsettled))
    return [_loan_row(loan) for loan in chosen.order_by("loaned_on", "id")]


def history_rows(patron: Patron) -> list[dict[str, Any]]:
    """Ended loans kept as the patron's reading history (only when they chose to keep one)."""
    from shelfguard.circulation.models import LoanOutcome

    loans, unsettled = _linked_loans(patron)
    chosen = loans.exclude(outcome=LoanOutcome.OPEN).exclude(pk__in=unsettled)
    return [_loan_row(loan) for loan in chosen.order_by("loaned_on", "id")]


HOLD_COLUMNS = (
    "hold",
    "title",
    "item",
    "pickup_branch",
    "status",
    "placed_at",
    "ready_on",
    "expires_on",
    "ended_on",
)


def hold_rows(patron: Patron) -> list[dict[str, Any]]:
    from shelfguard.circulation.models import Hold

    holds = Hold.objects.filter(patron_id=patron.pk).select_related(
        "record", "item", "pickup_branch"
    )
    return [
        {
            "hold": hold.pk,
            "title": hold.record.title,
            "item": hold.item.barcode if hold.item_id else None,
            "pickup_branch": hold.pickup_branch.code,
            "status": hold.status,
            "placed_at": _iso(hold.placed_at),
            "ready_on": _iso(hold.ready_on),
            "expires_on": _iso(hold.expires_on),
            "ended_on": _iso(hold.ended_on),
        }
        for hold in holds.order_by("placed_at", "id")
    ]


CHARGE_COLUMNS = ("charge", "kind", "amount", "created_on", "settled_on", "loan")


def charge_rows(patron: Patron) -> list[dict[str, Any]]:
    from shelfguard.circulation.models import Charge
    from shelfguard.circulation.rules import money

    return [
        {
            "charge": charge.pk,
            "kind": charge.kind,
            "amount": money(charge.amount_cents),
            "created_on": _iso(charge.created_on),
            "settled_on": _iso(charge.settled_on),
            "loan": charge.loan_id,
        }
        for charge in Charge.objects.filter(patron_id=patron.pk).order_by("created_on", "id")
    ]


ACCESS_COLUMNS = (
    "at",
    "actor_kind",
    "actor",
    "roles",
    "branch",
    "channel",
    "action",
    "purpose",
    "fields",
)


def access_rows(patron: Patron) -> list[dict[str, Any]]:
    """Every ledger entry about the patron, oldest first.

    Staff appear by their current roles and branch; by name only when the
    library chose `[portal] show_staff_names = true`. The patron's own
    actions say "you"; programs and operators by their kind only.
    """
    from shelfguard.accounts.services import staff_as_seen_by_patron
    from shelfguard.ledger.models import Entry

    entries = list(Entry.objects.filter(patron_id=patron.pk).order_by("seq"))
    staff = staff_as_seen_by_patron(e.actor_id for e in entries if e.actor_kind == "staff")
    names = show_staff_names()
    rows = []
    for e in entries:
        seen = staff.get(e.actor_id) if e.actor_kind == "staff" else None
        if e.actor_kind == "patron":
            actor = "you" if e.actor_id == str(patron.pk) else ""
        elif e.actor_kind == "staff" and names:
            actor = e.actor_id
        else:
            actor = ""
        rows.append(
            {
                "at": _iso(e.at),
                "actor_kind": e.actor_kind,
                "actor": actor,
                "roles": "; ".join(seen.roles) if seen else "",
                "branch": seen.branch if seen else "",
                "channel": e.channel,
                "action": e.action,
                "purpose": e.purpose,
                "fields": "; ".join(e.fields or []),
            }
        )
    return rows


def register_sections() -> None:
    """Called from `PortalConfig.ready()` (after patrons registered the profile and consents)."""
    for section in (
        ExportSection(
            "loans",
            "Items on loan to you now, and returned ones still linked to you because a "
            "charge on them is unpaid.",
            LOAN_COLUMNS,
            loan_rows,
        ),
        ExportSection(
            "holds",
            "Your holds that are waiting, in transit or ready; ended holds are not linked to you.",
            HOLD_COLUMNS,
            hold_rows,
        ),
        ExportSection(
            "reading_history",
            "Returned loans kept as your reading history (only if you chose to keep one).",
            LOAN_COLUMNS,
            history_rows,
        ),
        ExportSection("charges", "Charges on your card, paid or not.", CHARGE_COLUMNS, charge_rows),
        ExportSection(
            "access_entries",
            "Every recorded look at or change to your data: when, by what kind of user "
            "(staff by role and branch), through which channel, what for and which fields.",
            ACCESS_COLUMNS,
            access_rows,
        ),
    ):
        register_export_section(section)
