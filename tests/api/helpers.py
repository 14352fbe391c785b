"""Staff, tokens and items for the API tests (synthetic data only)."""

from __future__ import annotations

import datetime as dt

from shelfguard.accounts.models import StaffUser
from shelfguard.api import services
from shelfguard.api.api import EXAMPLE_BARCODE
from shelfguard.api.models import ApiToken
from shelfguard.catalog.models import ItemStatus
from tests.accounts.helpers import ADMIN, make_staff
from tests.opac.catalogue import Copy, add_record


def staff_with_token(
    username: str = "desk1",
    *roles: str,
    scopes: tuple[str, ...] = ("items",),
    days: int = 90,
    branch: str = "MAIN",
    certified: bool = True,
) -> tuple[StaffUser, ApiToken, str]:
    """A staff member (default role circulation-desk) and a token: (staff, token, secret)."""
    staff = make_staff(
        username, *(roles or ("circulation-desk",)), branch=branch, certified=certified, enrol=False
    )
    token, secret = services.create_token(
        staff, scopes, expires=dt.timedelta(days=days), name="test client", actor=ADMIN
    )
    return staff, token, secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def add_items() -> None:
    """A few synthetic items: barcodes T-prefixed by the catalogue helper, plus fixed ones."""
    from shelfguard.catalog.models import Item

    add_record(
        "syn-001",
        "A synthetic field guide to moss",
        Copy("MAIN", "book", ItemStatus.AVAILABLE, "QK537 .S9", "Adult non-fiction"),
        Copy("EAST", "dvd", ItemStatus.ON_LOAN, "DVD QK537", "Media"),
    )
    add_record("syn-002", "Invented tales of the river", Copy("MAIN", "book"))
    # The last is the example barcode of the OpenAPI schema, so Schemathesis finds it.
    fixed = ["MOSS-0001", "MOSS-0002", EXAMPLE_BARCODE]
    for item, barcode in zip(Item.objects.order_by("id"), fixed, strict=True):
        item.barcode = barcode
        item.save(update_fields=["barcode"])
