"""Small helpers shared by the circulation services (not a door of its own)."""

from __future__ import annotations

from django.db import connection
from django.utils.translation import gettext as _

from shelfguard.catalog.models import Item, ItemType
from shelfguard.circulation import errors as e
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.ledger import services as ledger
from shelfguard.patrons.models import Patron


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def branch_of(branch: Branch | str | int) -> Branch:
    """The branch by instance, code or id, with its calendar's time zone in `circ_time_zone`.

    Plain SQL (one query with the calendar joined): every desk action starts here.
    """
    from shelfguard.circulation.models import BranchCalendar

    if isinstance(branch, Branch) and branch.pk and hasattr(branch, "circ_time_zone"):
        return branch
    if isinstance(branch, Branch) and branch.pk:
        where, param = "b.id = %s", branch.pk
    elif isinstance(branch, int) and not isinstance(branch, bool):
        where, param = "b.id = %s", branch
    else:
        where, param = "b.code = %s", str(branch).strip().upper()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.id, b.code, b.name, b.created_at, c.time_zone FROM {_table(Branch)} b "
            f"LEFT JOIN {_table(BranchCalendar)} c ON c.branch_id = b.id WHERE {where}",
            [param],
        )
        row = cursor.fetchone()
    if row is None:
        raise e.CirculationError(e.UNKNOWN_BRANCH, _("There is no such branch."))
    found = Branch(pk=row[0], code=row[1], name=row[2], created_at=row[3])
    found.circ_time_zone = row[4] or ""
    return found


def lock_item(barcode: str) -> Item:
    """The item with this barcode (and its type's code), locked for the rest of the transaction.

    On PostgreSQL `SELECT ... FOR UPDATE` makes a second desk wait until the
    first commits, then see the new status. On SQLite the transaction holds
    the database's write lock from its start (IMMEDIATE), which serialises
    writers the same way. Plain SQL: this is on every desk action's path.
    """
    if not isinstance(barcode, str) or not barcode.strip():
        raise e.CirculationError(e.UNKNOWN_ITEM, _("Scan or type an item barcode."))
    lock = " FOR UPDATE OF i" if connection.features.has_select_for_update_of else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.id, i.record_id, i.branch_id, i.item_type_id, i.status, i.transit_to_id, "
            f"t.code FROM {_table(Item)} i JOIN {_table(ItemType)} t ON t.id = i.item_type_id "
            f"WHERE i.barcode = %s{lock}",
            [barcode.strip()],
        )
        row = cursor.fetchone()
    if row is None:
        raise e.CirculationError(e.UNKNOWN_ITEM, _("No item has this barcode."))
    item = Item(
        pk=row[0],
        barcode=barcode.strip(),
        record_id=row[1],
        branch_id=row[2],
        item_type_id=row[3],
        status=row[4],
        transit_to_id=row[5],
    )
    item.item_type = ItemType(pk=row[3], code=row[6])
    return item


def patron_id_of(patron: Patron | int) -> int:
    pk = patron if isinstance(patron, int) else getattr(patron, "pk", None)
    if isinstance(pk, bool) or not isinstance(pk, int):
        raise e.CirculationError(e.UNKNOWN_PATRON, _("There is no such patron."))
    return pk


def find_patron(card: str) -> Patron:
    """The holder of this card number, or `CirculationError(unknown_patron)`."""
    from shelfguard.patrons.services import find_by_card

    found = find_by_card(card) if isinstance(card, str) else None
    if found is None:
        raise e.CirculationError(e.UNKNOWN_PATRON, _("No patron has this card number."))
    return found


def entry(
    actor: Actor,
    action: str,
    *,
    purpose: str,
    patron_id: int | None,
    branch: Branch | None,
    fields: tuple[str, ...] = ("loans",),
    **detail,
) -> None:
    """The ledger entry of a circulation action: actor, action, patron id, branch.

    Never the item, the barcode or the title: the ledger must not become a
    reading history (DESIGN.md, promise 4).
    """
    ledger.append(
        actor=actor,
        action=f"circulation.{action}",
        purpose=purpose,
        patron_id=patron_id,
        fields=fields if patron_id is not None else (),
        detail={"branch": branch.code if branch else None, **detail},
    )
