"""What the JSON API accepts and returns.

The public endpoints give out catalogue data only: titles, holdings and
their availability. Barcodes stay inside the library (they are what a
patron's loan is keyed on) and appear only in answers to staff tokens; no
answer names or counts a person.
"""

from __future__ import annotations

from ninja import Field, Schema

from shelfguard.core.models import branch_code_validator

# Deep offsets cost the database more than any client needs; past this,
# clients are asked to narrow the search. The page size is kept below what
# the search itself allows because anyone may call this API without signing in.
MAX_OFFSET = 10_000
MAX_LIMIT = 100


class SearchParams(Schema):
    q: str = Field(..., description="Words to search for in titles, authors, subjects and ISBNs.")
    limit: int = Field(20, ge=1, le=MAX_LIMIT, description="How many hits to return.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="How many hits to skip.")
    language: str | None = Field(
        None, pattern=r"^[A-Za-z]{3}$", description="MARC language code, e.g. eng or chi."
    )
    year_from: int | None = Field(None, ge=1, le=9999, description="Earliest year of publication.")
    year_to: int | None = Field(None, ge=1, le=9999, description="Latest year of publication.")
    branch: str | None = Field(
        None,
        pattern=branch_code_validator.regex.pattern,
        description="Only records with a copy available now at this branch code.",
    )
    item_type: str | None = Field(
        None, pattern=r"^[-a-zA-Z0-9_]{1,32}$", description="Only records with a copy of this type."
    )


class HitOut(Schema):
    control_number: str
    title: str
    vernacular_title: str = Field(description="The title in its original script (MARC 880).")
    authors: list[str]
    year: int | None
    isbn: str | None = Field(description="First ISBN, ISBN-13 form without hyphens.")
    language: str
    score: float


class FacetValueOut(Schema):
    value: str
    count: int


class SearchOut(Schema):
    total: int
    hits: list[HitOut]
    facets: dict[str, list[FacetValueOut]] = Field(
        description="Facet name (language, year, branch, item_type) to values, largest first."
    )


class ItemOut(Schema):
    call_number: str
    location: str
    item_type: str
    status: str


class BranchHoldingsOut(Schema):
    branch_code: str
    branch_name: str
    available: int
    items: list[ItemOut]


class RecordOut(Schema):
    control_number: str
    title: str
    vernacular_title: str
    responsibility: str
    authors: list[str]
    subjects: list[str]
    publisher: str
    year: int | None
    edition: str
    physical_description: str
    language: str
    isbns: list[str] = Field(description="Valid ISBNs, ISBN-13 form without hyphens.")
    lccn: str
    notes: str
    holdings: list[BranchHoldingsOut]


class ProblemOut(Schema):
    """Every error answer: a stable code for programs, a message for people."""

    code: str = Field(
        description=(
            "not_authenticated, throttled, scope_missing, permission_denied, not_found, "
            "invalid_request, or a refusal code of the service called."
        ),
        examples=["scope_missing"],
    )
    detail: str = Field(description="What went wrong, for a person to read.")


class ItemDetailOut(Schema):
    """One item as the desk sees it; never anything about who borrowed it."""

    barcode: str
    control_number: str = Field(description="The record's control number (MARC 001).")
    title: str
    branch_code: str
    status: str = Field(
        description=(
            "available, on_loan, in_transit, on_hold_shelf, lost, damaged, missing or withdrawn."
        )
    )
    item_type: str = Field(description="Item type code, e.g. book or dvd.")
    call_number: str
    location: str
