"""Catalogue search: one interface, two backends (SQLite FTS5, PostgreSQL tsvector).

Both backends index the same pre-tokenised text (see `text.py`), so they find
the same records for the same query; only the ranking functions differ
(bm25 on SQLite, ts_rank_cd on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.db import connection


class SearchError(ValueError):
    """A query we refuse (for example too long); the message says what to do."""


# The most results one request may ask for.
MAX_LIMIT = 1000


@dataclass(frozen=True)
class SearchRequest:
    text: str
    language: str | None = None  # MARC language code, e.g. "eng", "chi"
    year_from: int | None = None
    year_to: int | None = None
    branch: str | None = None  # only records with an available item at this branch code
    item_type: str | None = None  # only records with an item of this type code
    offset: int = 0
    limit: int = 20
    with_facets: bool = True

    def __post_init__(self) -> None:
        # Checked here so that every caller (web, API, CLI) gets the same answer.
        if not 1 <= self.limit <= MAX_LIMIT:
            raise SearchError(f"The number of results must be between 1 and {MAX_LIMIT}.")
        if self.offset < 0:
            raise SearchError("The result offset cannot be negative.")
        if (
            self.year_from is not None
            and self.year_to is not None
            and self.year_from > self.year_to
        ):
            raise SearchError(
                f"The year range {self.year_from}–{self.year_to} is empty; "
                "the first year must not be after the last."
            )


@dataclass(frozen=True)
class Hit:
    record_id: int
    control_number: str
    title: str
    authors: list[str]
    year: int | None
    isbn: str | None  # first ISBN, ISBN-13 form
    language: str
    score: float
    vernacular_title: str = ""  # the title in its original script (880), if any


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int
    # facet name ("language", "year", "branch", "item_type") -> values, largest first
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)


class SearchBackend(Protocol):
    def index_records(self, record_ids: Sequence[int]) -> None:
        """(Re)index these records from the catalog tables, in the caller's transaction."""

    def remove_records(self, record_ids: Sequence[int]) -> None: ...

    def rebuild(self, progress: Iterable[int] | None = None) -> int:
        """Drop and rebuild the whole index; returns the number of records indexed.

        `progress` yields the ids of all records, typically through a progress
        bar that advances as they are consumed; None reads them from the
        database. The rebuild is one transaction: searches see the old index
        until it commits.
        """

    def search(self, request: SearchRequest) -> SearchResult: ...


def get_backend() -> SearchBackend:
    """The backend for the database in use."""
    if connection.vendor == "postgresql":
        from shelfguard.catalog.search.postgres import PostgresSearchBackend

        return PostgresSearchBackend()
    from shelfguard.catalog.search.sqlite import SqliteSearchBackend

    return SqliteSearchBackend()
