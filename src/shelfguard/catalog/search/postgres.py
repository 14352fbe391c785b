"""Catalogue search on PostgreSQL: a tsvector per record with a GIN index.

`catalog_search_document` (created by migration 0002) has one row per record
holding its tokens (text.py) as a tsvector, each position labelled with its
column's weight (title A; authors and subjects B; ISBN C; notes D). The
tsvector is written as a literal rather than computed by to_tsvector(), so the
text-search parser and the database locale never re-split our tokens and a
phrase cannot run from one column into the next (see text.tsvector_literal).
That is what makes this backend find the same records as the SQLite one.

Hits are ranked by ts_rank_cd with per-label weights, ties broken by record
id. Facets and filters read the live item table, so availability is never
stale and circulation never has to touch the index.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from shelfguard.catalog.models import ItemStatus, Record
from shelfguard.catalog.search import FacetValue, SearchRequest, SearchResult
from shelfguard.catalog.search.common import facets_from_rows, filter_conditions, load_hits
from shelfguard.catalog.search.text import (
    DOCUMENT_FIELDS,
    PG_WEIGHT_LABELS,
    RANK_WEIGHTS,
    build_document,
    parse_query,
    tsquery,
    tsvector_literal,
)

# Records read, and rows written, per statement: the importer's batch size.
BATCH = 1000

# ts_rank_cd takes the weights of labels D, C, B and A, in that order, as
# fractions of the highest.
_RANK_WEIGHTS = [
    max(RANK_WEIGHTS[c] for c, label in PG_WEIGHT_LABELS.items() if label == wanted)
    / max(RANK_WEIGHTS.values())
    for wanted in "DCBA"
]

# ts_rank_cd normalisation 1: divide by 1 + log(document length), so a long
# record does not outrank a short one merely by repeating a word.
_RANK = "ts_rank_cd(%s::float4[], d.document, q.query, 1)"

_UPSERT = """
    INSERT INTO catalog_search_document (record_id, document) VALUES (%s, %s::tsvector)
    ON CONFLICT (record_id) DO UPDATE SET document = EXCLUDED.document
"""



def _batched(values: Iterable[int], size: int) -> Iterator[list[int]]:
    iterator = iter(values)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class PostgresSearchBackend:
    def index_records(self, record_ids: Sequence[int]) -> None:
        """(Re)index these records in the caller's transaction; ids without a record are removed."""
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            for batch in _batched(dict.fromkeys(record_ids), BATCH):
                found = self._upsert(cursor, batch)
                missing = [record_id for record_id in batch if record_id not in found]
                if missing:
                    cursor.execute(
                        "DELETE FROM catalog_search_document WHERE record_id = ANY(%s)", [missing]
                    )

    def remove_records(self, record_ids: Sequence[int]) -> None:
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM catalog_search_document WHERE record_id = ANY(%s)",
                [list(dict.fromkeys(record_ids))],
            )

    def rebuild(self, progress: Iterable[int] | None = None) -> int:
        ids = (
            progress
            if progress is not None
            else Record.objects.order_by("id").values_list("id", flat=True)
        )
        indexed = 0
        with transaction.atomic(), connection.cursor() as cursor:
            # DELETE rather than TRUNCATE: TRUNCATE would lock searches out
            # until the rebuild commits; DELETE lets them read the old rows.
            cursor.execute("DELETE FROM catalog_search_document")
            for batch in _batched(ids, BATCH):
                indexed += len(self._upsert(cursor, batch))
            # Fresh statistics, so the planner knows the new table's size.
            cursor.execute("ANALYZE catalog_search_document")
        return indexed

    def _upsert(self, cursor: Any, batch: list[int]) -> set[int]:
        """Write the documents of the records among these ids; returns their ids."""
        rows = []
        fields = ("id", *DOCUMENT_FIELDS)
        for record_id, *values in Record.objects.filter(id__in=batch).values_list(*fields):
            document = build_document(dict(zip(DOCUMENT_FIELDS, values, strict=True)))
            rows.append((record_id, tsvector_literal(document)))
        cursor.executemany(_UPSERT, rows)
        return {record_id for record_id, _ in rows}

    def search(self, request: SearchRequest) -> SearchResult:
        query = parse_query(request.text, max_length=settings.SEARCH_MAX_QUERY_LENGTH)
        if query is None:
            return SearchResult(hits=[], total=0, facets={})
        filters, filter_params = filter_conditions(request, "d.record_id")
        # The join with catalog_record serves the filters and also keeps out
        # a document written for a record that a concurrent transaction deleted.
        params = [tsquery(query), *filter_params]
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT d.record_id, {_RANK} AS score
                FROM catalog_search_document AS d
                CROSS JOIN (SELECT %s::tsquery AS query) AS q
                JOIN catalog_record AS r ON r.id = d.record_id
                WHERE d.document @@ q.query {filters}
                ORDER BY score DESC, d.record_id
                LIMIT %s OFFSET %s
                """,
                [_RANK_WEIGHTS, *params, request.limit, request.offset],
            )
            page = cursor.fetchall()
            if request.with_facets:
                total, facets = _facets(cursor, filters, params)
            else:
                cursor.execute(
                    f"""
                    SELECT COUNT(*) FROM catalog_search_document AS d
                    JOIN catalog_record AS r ON r.id = d.record_id
                    WHERE d.document @@ %s::tsquery {filters}
                    """,
                    params,
                )
                total, facets = cursor.fetchone()[0], {}
        return SearchResult(
            hits=load_hits([(record_id, float(score)) for record_id, score in page]),
            total=total,
            facets=facets,
        )


def _facets(
    cursor: Any, filters: str, params: list[Any]
) -> tuple[int, dict[str, list[FacetValue]]]:
    """The total and the facet counts over every match (not just the page), in one statement.

    The matches are materialised once and then counted by record fields
    (language and decade together) and by items.
    """
    cursor.execute(
        f"""
        WITH matched AS MATERIALIZED (
            SELECT d.record_id AS id, r.language AS language, r.year / 10 AS decade
            FROM catalog_search_document AS d JOIN catalog_record AS r ON r.id = d.record_id
            WHERE d.document @@ %s::tsquery {filters}
        )
        SELECT 'record', language, decade, COUNT(*) FROM matched GROUP BY language, decade
        UNION ALL
        SELECT 'branch', b.code, NULL, COUNT(DISTINCT i.record_id)
        FROM matched AS m
        JOIN catalog_item AS i ON i.record_id = m.id
        JOIN core_branch AS b ON b.id = i.branch_id
        WHERE i.status = %s
        GROUP BY b.code
        UNION ALL
        SELECT 'item_type', t.code, NULL, COUNT(DISTINCT i.record_id)
        FROM matched AS m
        JOIN catalog_item AS i ON i.record_id = m.id
        JOIN catalog_itemtype AS t ON t.id = i.item_type_id
        GROUP BY t.code
        """,
        [*params, ItemStatus.AVAILABLE.value],
    )
    return facets_from_rows(cursor.fetchall())
