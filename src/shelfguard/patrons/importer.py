"""Importing patrons from a legacy system's CSV export.

The file is read as a stream, row by row: it is never copied, cached or
written anywhere, and no value from it appears in a report or a log (problems
name the line and the rule). Each row is one `services.register` call, so
every imported patron is sealed, indexed and recorded in the ledger exactly
like one registered at the desk, and a bad row does not stop the others.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from shelfguard.core.actors import Actor
from shelfguard.patrons import register as reg
from shelfguard.patrons import services
from shelfguard.patrons.validation import PatronError

#: Columns every file must have.
REQUIRED_COLUMNS = ("card_number", "name", "category", "branch")
#: Columns a file may have; the personal ones are kept only if the library collects them.
KNOWN_COLUMNS = (
    "card_number", "name", "email", "phone", "address", "birth_year", "birth_date",
    "category", "branch", "pin", "guardian_name",
)  # fmt: skip
#: Personal columns that are dropped when the library does not collect that field.
_CHOOSABLE = ("email", "phone", "address", "birth_year", "birth_date")


class CsvImportError(PatronError):
    """The file as a whole cannot be imported (wrong header, not CSV); the message says why."""


@dataclass(frozen=True)
class ImportProblem:
    line: int
    reason: str


@dataclass
class PatronImportReport:
    imported: int = 0
    rejected: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    #: Columns present in the file whose values were not imported, with why.
    ignored_columns: dict[str, str] = field(default_factory=dict)
    patron_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "imported": self.imported,
            "rejected": self.rejected,
            "problems": [{"line": p.line, "reason": p.reason} for p in self.problems],
            "ignored_columns": self.ignored_columns,
            "patron_ids": self.patron_ids,
        }


def count_rows(text: TextIO) -> int:
    """Data rows in the file (for a progress bar); rewinds the stream afterwards."""
    start = text.tell()
    reader = csv.reader(text)
    rows = sum(1 for row in reader if row) - 1
    text.seek(start)
    return max(rows, 0)


def _columns(header: list[str], report: PatronImportReport) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise CsvImportError(
            f"The first line must name the columns; missing: {', '.join(missing)}. Expected "
            "card_number,name,email,phone,address,birth_year,category,branch[,pin]."
        )
    duplicated = sorted({n for n in names if names.count(n) > 1 and n})
    if duplicated:
        raise CsvImportError(f"Column(s) {', '.join(duplicated)} appear more than once.")
    chosen = reg.collected_choices()
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            continue
        if name not in KNOWN_COLUMNS:
            report.ignored_columns[name] = "not a field Shelfguard keeps"
        elif name in _CHOOSABLE and name not in chosen:
            report.ignored_columns[name] = "this library does not collect it ([patrons] collect)"
        else:
            positions[name] = index
    return positions


def import_patrons_csv(
    text: TextIO,
    *,
    actor: Actor,
    purpose: str = "registration",
    on_row: Callable[[], None] | None = None,
) -> PatronImportReport:
    """Register one patron per CSV row; returns counts and per-line problems.

    Each imported patron consents to the `service` purpose only (the card they
    already held); the optional purposes start off, as for any new patron.
    A row with `guardian_name` is a child's, consented for by that guardian.
    """
    report = PatronImportReport()
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvImportError("The file is empty; the first line must name the columns.") from None
    except csv.Error as exc:
        raise CsvImportError(f"Line 1 is not valid CSV ({exc}).") from None
    positions = _columns(header, report)
    width = len(header)
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # A broken quote swallows the rest of the file: stop and say where.
            report.rejected += 1
            report.problems.append(
                ImportProblem(line, f"not valid CSV ({exc}); import stopped here")
            )
            break
        if not row or all(not cell.strip() for cell in row):
            continue
        if on_row is not None:
            on_row()
        if len(row) != width:
            report.rejected += 1
            report.problems.append(
                ImportProblem(line, f"has {len(row)} columns, the header has {width}")
            )
            continue
        values = {name: row[index].strip() for name, index in positions.items()}
        try:
            patron = _register_row(values, actor=actor, purpose=purpose)
        except PatronError as exc:
            report.rejected += 1
            report.problems.append(ImportProblem(line, str(exc)))
            continue
        report.imported += 1
        report.patron_ids.append(patron.pk)
    return report


def _register_row(values: dict[str, str], *, actor: Actor, purpose: str):
    category = values.get("category", "")
    branch = values.get("branch", "")
    if not category:
        raise PatronError("category is empty (e.g. adult or child).")
    if not branch:
        raise PatronError("branch is empty (a branch code such as MAIN).")
    guardian = values.get("guardian_name") or None
    return services.register(
        card_number=values.get("card_number", ""),
        name=values.get("name", ""),
        email=values.get("email") or None,
        phone=values.get("phone") or None,
        address=values.get("address") or None,
        birth_year=values.get("birth_year") or None,
        birth_date=values.get("birth_date") or None,
        guardian_name=guardian,
        pin=values.get("pin") or None,
        category=category,
        home_branch=branch,
        consents=(reg.REQUIRED_CONSENT,),
        by_guardian=guardian is not None,
        actor=actor,
        purpose=purpose,
    )
