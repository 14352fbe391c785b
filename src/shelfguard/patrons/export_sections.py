"""The parts of a patron's data export ("download my data"), gathered from every app.

Each app that keeps something about a patron registers one section here (in
its `AppConfig.ready()`), so the export can never silently miss an app's
data: the profile and consents (patrons), loans, holds, history and charges
(circulation), correction requests (patrons), privacy requests (feedback),
the access entries (ledger, read by the portal's export service).

A section's `rows(patron)` returns a list of flat dicts whose keys are
exactly `columns` and whose values are JSON scalars (str, int, float, bool or
None; dates as ISO 8601 strings). It is called only by the export service,
inside its transaction, after the export has been authorised and recorded
in the ledger, so it must not write a ledger entry of its own. The export
writes each section as `<name>.csv` and as `sections[<name>]` of the JSON
document, in registration order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ExportSection", "export_sections", "register_export_section"]


@dataclass(frozen=True)
class ExportSection:
    #: File stem and JSON key: lowercase letters, digits and underscores.
    name: str
    #: What the section holds, in one plain sentence (for the schema document).
    description: str
    columns: tuple[str, ...]
    rows: Callable[[Any], list[dict[str, Any]]]


_SECTIONS: dict[str, ExportSection] = {}


def register_export_section(section: ExportSection) -> None:
    """Add `section`; registering the same name again replaces it (module reloads in tests)."""
    if not section.name or not all(c.islower() or c.isdigit() or c == "_" for c in section.name):
        raise ValueError(f"export section name {section.name!r}: use a-z, 0-9 and _ only")
    if len(set(section.columns)) != len(section.columns):
        raise ValueError(f"export section {section.name!r} repeats a column")
    _SECTIONS[section.name] = section


def export_sections() -> list[ExportSection]:
    """Every registered section, in registration order."""
    return list(_SECTIONS.values())
