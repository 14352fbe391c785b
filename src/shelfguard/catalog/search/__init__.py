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
        """Drop and rebuild the whole index; returns the number of records indexed."""

    def search(self, request: SearchRequest) -> SearchResult: ...


def get_backend() -> SearchBackend:
    """The backend for the database in use."""
    if connection.vendor == "postgresql":
        from shelfguard.catalog.search.postgres import PostgresSearchBackend

        return PostgresSearchBackend()
    from shelfguard.catalog.search.sqlite import SqliteSearchBackend

    return SqliteSearchBackend()
