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

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EXPORT_KEY_FIELD",
    "ExportSection",
    "export_sections",
    "open_export_key",
    "register_export_section",
    "register_patron_sections",
    "seal_export_key",
]


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


# --- The patrons app's own sections: profile and consents --------------------------------

#: Rows of the profile that are not register fields but facts about the card itself.
_CARD_FACTS = (
    ("card_status", "Card status", "Tell whether the card may borrow (active, expired, ...)"),
    ("card_expires_on", "Card valid until", "Ask the holder to renew the card in time"),
    ("record_created_at", "Registered on", "Show since when the library keeps this record"),
)

PROFILE_COLUMNS = ("field", "label", "value", "purpose", "legal_basis", "retention")
CONSENT_COLUMNS = (
    "purpose",
    "description",
    "given",
    "notice_version",
    "at",
    "channel",
    "by_guardian",
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def profile_rows(patron: Any) -> list[dict[str, Any]]:
    """Every exported register field the library collects, decrypted, with its purpose.

    Unsealed here without a ledger entry of its own: the export service has
    already recorded the export (see the module docstring).
    """
    from shelfguard.patrons import register as reg
    from shelfguard.patrons.errors import PatronErased, PatronNotFound
    from shelfguard.patrons.lookup import _sealed_row
    from shelfguard.patrons.models import Patron
    from shelfguard.patrons.records import _unseal_row

    keys = [key for key in reg.exported_keys() if key != "consents"]
    sealed = [key for key in keys if reg.get(key).sealed]
    row = _sealed_row(patron.pk, [reg.get(key).column for key in sealed])
    if row is None:
        raise PatronNotFound(f"There is no patron {patron.pk}.")
    if row["status"] == "erased":
        raise PatronErased(f"Patron {patron.pk} was erased; nothing about them is kept.")
    plain = _unseal_row(patron.pk, row, sealed) if sealed else {}
    record = Patron.objects.select_related("category", "home_branch").get(pk=patron.pk)
    clear = {
        "identity_verification": (
            f"{record.identity_document}; checked at {_iso(record.identity_verified_at)}"
            if record.identity_document
            else None
        ),
        "category": record.category.code if record.category else None,
        "home_branch": record.home_branch.code if record.home_branch else None,
    }
    rows = []
    for key in keys:
        field = reg.get(key)
        rows.append(
            {
                "field": key,
                "label": field.label,
                "value": plain[key] if field.sealed else clear.get(key),
                "purpose": field.purpose,
                "legal_basis": field.legal_basis,
                "retention": field.retention,
            }
        )
    facts = {
        "card_status": record.status,
        "card_expires_on": _iso(record.expires_on),
        "record_created_at": _iso(record.created_at),
    }
    for key, label, purpose in _CARD_FACTS:
        rows.append(
            {
                "field": key,
                "label": label,
                "value": facts[key],
                "purpose": purpose,
                "legal_basis": reg.get("card_number").legal_basis,
                "retention": reg.get("card_number").retention,
            }
        )
    return rows


def consent_rows(patron: Any) -> list[dict[str, Any]]:
    """Every act of giving or withdrawing consent, oldest first, with its notice version."""
    from shelfguard.patrons import register as reg
    from shelfguard.patrons.models import Consent

    return [
        {
            "purpose": row.purpose,
            "description": reg.CONSENT_PURPOSES.get(row.purpose, ""),
            "given": row.given,
            "notice_version": row.notice_version,
            "at": _iso(row.at),
            "channel": row.channel,
            "by_guardian": row.by_guardian,
        }
        for row in Consent.objects.filter(patron_id=patron.pk).order_by("at", "id")
    ]


def register_patron_sections() -> None:
    """Called from `PatronsConfig.ready()`, so the profile and consents come first."""
    register_export_section(
        ExportSection(
            name="profile",
            description=(
                "Every personal field the library keeps about you, decrypted, with the "
                "purpose, legal basis and retention of each, and the state of your card."
            ),
            columns=PROFILE_COLUMNS,
            rows=profile_rows,
        )
    )
    register_export_section(
        ExportSection(
            name="consents",
            description=(
                "Every time you gave or withdrew a consent: what for, under which version "
                "of the privacy notice, when and how."
            ),
            columns=CONSENT_COLUMNS,
            rows=consent_rows,
        )
    )


# --- Sealing an export file's key with the patron's own data key ---------------------------

#: The vault field name an export key is sealed under (owner "patron:<id>").
EXPORT_KEY_FIELD = "portal_export"


def _patron_key(patron: Any):
    from shelfguard.patrons.errors import KeyMissing, PatronErased
    from shelfguard.patrons.models import Patron
    from shelfguard.vault import KeyDestroyed, sealing

    row = Patron.objects.filter(pk=patron.pk).values("status", "key_id").first()
    if row is None or row["status"] == "erased" or not row["key_id"]:
        raise PatronErased(f"Patron {patron.pk} was erased; nothing about them is kept.")
    try:
        return sealing.open_key(row["key_id"])
    except KeyDestroyed:
        raise KeyMissing(patron.pk) from None


def seal_export_key(patron: Any, key: bytes) -> bytes:
    """Seal an export file's random key with the patron's data key (erasing them kills it too).

    The export service (portal) keeps only this ciphertext; faces never
    import the vault, so this door is here, beside the export registry.
    """
    from shelfguard.patrons.records import _owner

    text = base64.b64encode(key).decode("ascii")
    return _patron_key(patron).seal(_owner(patron.pk), EXPORT_KEY_FIELD, text)


def open_export_key(patron: Any, sealed: bytes) -> bytes:
    """The export key sealed by `seal_export_key`; `SealedDataDamaged` if it does not open."""
    from shelfguard.patrons.errors import SealedDataDamaged
    from shelfguard.patrons.records import _owner
    from shelfguard.vault import SealBroken

    try:
        text = _patron_key(patron).unseal(_owner(patron.pk), EXPORT_KEY_FIELD, bytes(sealed))
    except SealBroken:
        raise SealedDataDamaged(patron.pk, [EXPORT_KEY_FIELD]) from None
    return base64.b64decode(text)
