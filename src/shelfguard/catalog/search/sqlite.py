"""Catalogue search on SQLite: an FTS5 table maintained by the application.

`catalog_search` (created by migration 0002) has one row per record, rowid =
Record.id, holding the record's tokens (text.py) in five columns: title,
authors, subjects, isbn, notes. The MARC importer calls `index_records` for
each batch it writes; a trigger drops the row of a deleted record.

Hits are ranked by bm25 with per-column weights, ties broken by record id.
Facets and filters read the live item table, so availability is never stale
and circulation never has to touch the index.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from shelfguard.catalog.models import ItemStatus, Record
from shelfguard.catalog.search import SearchRequest, SearchResult
from shelfguard.catalog.search.common import facets_from_rows, filter_conditions, load_hits
from shelfguard.catalog.search.text import (
    COLUMNS,
    DOCUMENT_FIELDS,
    RANK_WEIGHTS,
    build_document,
    fts5_match,
    parse_query,
)

# Records read, and rows written, per statement: the importer's batch size.
BATCH = 1000

_BM25 = "bm25(catalog_search, {})".format(
    ", ".join(str(RANK_WEIGHTS[column]) for column in COLUMNS)
)

_INSERT = "INSERT INTO catalog_search (rowid, {}) VALUES (%s, {})".format(
    ", ".join(COLUMNS), ", ".join("%s" for _ in COLUMNS)
)



def _batched(values: Iterable[int], size: int) -> Iterator[list[int]]:
    iterator = iter(values)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _placeholders(count: int) -> str:
    return ", ".join("%s" for _ in range(count))


class SqliteSearchBackend:
    def index_records(self, record_ids: Sequence[int]) -> None:
        """(Re)index these records in the caller's transaction; ids without a record are removed."""
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            for batch in _batched(dict.fromkeys(record_ids), BATCH):
                cursor.execute(
                    f"DELETE FROM catalog_search WHERE rowid IN ({_placeholders(len(batch))})",
                    batch,
                )
                self._insert(cursor, batch)

    def remove_records(self, record_ids: Sequence[int]) -> None:
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            for batch in _batched(dict.fromkeys(record_ids), BATCH):
                cursor.execute(
                    f"DELETE FROM catalog_search WHERE rowid IN ({_placeholders(len(batch))})",
                    batch,
                )

    def rebuild(self, progress: Iterable[int] | None = None) -> int:
        ids = (
            progress
            if progress is not None
            else Record.objects.order_by("id").values_list("id", flat=True)
        )
        indexed = 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM catalog_search")
            for batch in _batched(ids, BATCH):
                indexed += self._insert(cursor, batch)
            # Merge the index into one b-tree per level: rebuilding leaves
            # many small segments, and every query reads all of them.
            cursor.execute("INSERT INTO catalog_search (catalog_search) VALUES ('optimize')")
        return indexed

    def _insert(self, cursor: Any, batch: list[int]) -> int:
        """Insert index rows for the records among these ids; returns how many."""
        rows = []
        fields = ("id", *DOCUMENT_FIELDS)
        for record_id, *values in Record.objects.filter(id__in=batch).values_list(*fields):
            document = build_document(dict(zip(DOCUMENT_FIELDS, values, strict=True)))
            rows.append((record_id, *(" ".join(document[column]) for column in COLUMNS)))
        cursor.executemany(_INSERT, rows)
        return len(rows)

    def search(self, request: SearchRequest) -> SearchResult:
        query = parse_query(request.text, max_length=settings.SEARCH_MAX_QUERY_LENGTH)
        if query is None:
            return SearchResult(hits=[], total=0, facets={})
        filters, filter_params = filter_conditions(request, "catalog_search.rowid")
        # One statement: the matches are found and ranked once, materialised,
        # and the page, the total and the facets are all read from them. The
        # join with catalog_record also keeps out any index row whose record
        # has gone. INDEXED BY: SQLite would otherwise look records up by
        # rowid, reading each wide row (it carries the MARC record) for two
        # small fields; the narrow index from migration 0002 holds just those.
        facet_arms = _FACET_ARMS if request.with_facets else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH matched AS MATERIALIZED (
                    SELECT catalog_search.rowid AS id, {_BM25} AS score,
                           r.language AS language, r.year / 10 AS decade
                    FROM catalog_search
                    CROSS JOIN catalog_record AS r INDEXED BY catalog_search_record_facets
                    WHERE catalog_search MATCH %s AND r.id = catalog_search.rowid {filters}
                )
                SELECT * FROM (
                    SELECT 'hit', id, score, NULL FROM matched
                    ORDER BY score, id LIMIT %s OFFSET %s
                )
                UNION ALL
                SELECT 'record', language, decade, COUNT(*) FROM matched GROUP BY language, decade
                {facet_arms}
                """,
                [
                    fts5_match(query),
                    *filter_params,
                    request.limit,
                    request.offset,
                    *([ItemStatus.AVAILABLE.value] if request.with_facets else []),
                ],
            )
            rows = cursor.fetchall()
        # bm25 is lower for better matches; a Hit's score is higher for better ones.
        page = [(record_id, -score) for kind, record_id, score, _ in rows if kind == "hit"]
        total, facets = facets_from_rows(
            [row for row in rows if row[0] != "hit"], request.with_facets
        )
        return SearchResult(hits=load_hits(page), total=total, facets=facets)


# Facet counts by item, over all matches: branches where a matched record has
# a copy available now, and item types of which it has a copy. CROSS JOIN
# makes SQLite walk the matches and look up their items, never the reverse
# (a scan of every item), whatever its statistics say.
_FACET_ARMS = """
    UNION ALL
    SELECT 'branch', b.code, NULL, COUNT(DISTINCT i.record_id)
    FROM matched AS m
    CROSS JOIN catalog_item AS i ON i.record_id = m.id
    JOIN core_branch AS b ON b.id = i.branch_id
    WHERE i.status = %s
    GROUP BY b.code
    UNION ALL
    SELECT 'item_type', t.code, NULL, COUNT(DISTINCT i.record_id)
    FROM matched AS m
    CROSS JOIN catalog_item AS i ON i.record_id = m.id
    JOIN catalog_itemtype AS t ON t.id = i.item_type_id
    GROUP BY t.code
"""
