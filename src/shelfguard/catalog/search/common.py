"""The SQL both search backends share: filters, facet folding and hit loading.

Only how matches are found and ranked differs between SQLite and PostgreSQL;
what narrows them, how counts become facets and how a page of ids becomes
hits is the same, so it lives here once.
"""

from __future__ import annotations

from typing import Any

from shelfguard.catalog.models import ItemStatus, Record
from shelfguard.catalog.search import FacetValue, Hit, SearchRequest

HIT_FIELDS = (
    "id",
    "control_number",
    "title",
    "vernacular_title",
    "authors",
    "year",
    "isbns",
    "language",
)


def filter_conditions(request: SearchRequest, record_id: str) -> tuple[str, list[Any]]:
    """SQL conditions (each starting with AND) narrowing the matches, and their parameters.

    `record_id` is the SQL expression for the matched record's id; the
    record itself is joined as `r`.
    """
    conditions: list[str] = []
    params: list[Any] = []
    if request.language:
        conditions.append("r.language = %s")
        params.append(request.language.strip().lower())
    if request.year_from is not None:
        conditions.append("r.year >= %s")
        params.append(request.year_from)
    if request.year_to is not None:
        conditions.append("r.year <= %s")
        params.append(request.year_to)
    if request.branch:
        conditions.append(
            f"""EXISTS (
                SELECT 1 FROM catalog_item AS i JOIN core_branch AS b ON b.id = i.branch_id
                WHERE i.record_id = {record_id} AND i.status = %s AND b.code = %s
            )"""
        )
        params.extend([ItemStatus.AVAILABLE.value, request.branch.strip().upper()])
    if request.item_type:
        conditions.append(
            f"""EXISTS (
                SELECT 1 FROM catalog_item AS i JOIN catalog_itemtype AS t ON t.id = i.item_type_id
                WHERE i.record_id = {record_id} AND t.code = %s
            )"""
        )
        params.append(request.item_type.strip().lower())
    return "".join(f" AND {condition}" for condition in conditions), params


def facets_from_rows(
    rows: list[tuple[str, Any, Any, int]], with_facets: bool = True
) -> tuple[int, dict[str, list[FacetValue]]]:
    """The total and the facets from a search statement's counting rows.

    Rows are ('record', language, decade, count) — records counted by
    language and decade together in one pass, summed apart here — and
    ('branch' | 'item_type', code, None, count).
    """
    counts: dict[str, dict[str, int]] = {"language": {}, "year": {}, "branch": {}, "item_type": {}}
    total = 0
    for kind, value, decade, count in rows:
        if kind == "record":
            total += count
            if value:
                counts["language"][value] = counts["language"].get(value, 0) + count
            if decade is not None:
                key = str(decade * 10)
                counts["year"][key] = counts["year"].get(key, 0) + count
        else:
            counts[kind][value] = count
    if not with_facets:
        return total, {}
    facets = {
        name: [
            FacetValue(value=value, count=count)
            for value, count in sorted(values.items(), key=lambda pair: (-pair[1], pair[0]))
        ]
        for name, values in counts.items()
    }
    return total, facets


def load_hits(ranked: list[tuple[int, float]]) -> list[Hit]:
    """Hits for a page of (record id, score), in that order."""
    rows = Record.objects.filter(id__in=[record_id for record_id, _ in ranked]).values(*HIT_FIELDS)
    records = {row["id"]: row for row in rows}
    return [
        Hit(
            record_id=record_id,
            control_number=records[record_id]["control_number"],
            title=records[record_id]["title"],
            vernacular_title=records[record_id]["vernacular_title"],
            authors=list(records[record_id]["authors"]),
            year=records[record_id]["year"],
            isbn=records[record_id]["isbns"][0] if records[record_id]["isbns"] else None,
            language=records[record_id]["language"],
            score=score,
        )
        for record_id, score in ranked
        # A record deleted since the ranking query ran is simply left out.
        if record_id in records
    ]
