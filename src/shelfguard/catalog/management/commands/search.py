"""`shelfguard search QUERY`: search the catalogue from the command line."""

from __future__ import annotations

import io
import json
import shutil
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shelfguard.catalog.models import ItemType
from shelfguard.catalog.search import MAX_LIMIT, Hit, SearchError, SearchRequest, SearchResult
from shelfguard.catalog.services import search_catalogue
from shelfguard.core.actors import Actor
from shelfguard.core.services import BranchError, get_branch


class Command(BaseCommand):
    help = (
        "Search the catalogue, best matches first. Every word must occur in the record "
        '(title, authors, subjects, ISBN, notes); "words in quotes" must occur together; '
        "an ISBN, with or without hyphens, finds the record with that ISBN. "
        "Chinese, Japanese and Korean text matches anywhere inside a title."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("query", nargs="+", help="the words to look for")
        parser.add_argument(
            "--limit",
            type=int,
            default=settings.SEARCH_PAGE_SIZE,
            help=f"show at most this many records (1–{MAX_LIMIT}, default %(default)s)",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the hits as a JSON array"
        )
        parser.add_argument("--language", help="only records in this MARC language code, e.g. eng")
        parser.add_argument("--year-from", type=int, help="only records published in or after")
        parser.add_argument("--year-to", type=int, help="only records published in or before")
        parser.add_argument(
            "--branch", help="only records with a copy available now at this branch (code)"
        )
        parser.add_argument("--item-type", help="only records with a copy of this type (code)")

    def handle(self, *args: Any, **options: Any) -> None:
        text = " ".join(options["query"])
        branch = options["branch"]
        item_type = options["item_type"]
        if branch is not None:
            # Unknown codes would just find nothing; on the command line that
            # is more likely a typing slip, so say so.
            try:
                branch = get_branch(branch).code
            except BranchError as exc:
                raise CommandError(str(exc)) from None
        if item_type is not None:
            item_type = item_type.strip().lower()
            if not ItemType.objects.filter(code=item_type).exists():
                known = ", ".join(ItemType.objects.values_list("code", flat=True)) or "none"
                raise CommandError(f"Unknown item type {item_type!r} (known: {known}).")
        try:
            request = SearchRequest(
                text=text,
                language=options["language"],
                year_from=options["year_from"],
                year_to=options["year_to"],
                branch=branch,
                item_type=item_type,
                limit=options["limit"],
                with_facets=False,
            )
            result = search_catalogue(request, actor=Actor.cli_operator())
        except SearchError as exc:
            raise CommandError(str(exc)) from None

        if options["as_json"]:
            self.stdout.write(
                json.dumps([_hit_json(hit) for hit in result.hits], ensure_ascii=False)
            )
        else:
            self.stdout.write(self._table(result), ending="")

    def _table(self, result: SearchResult) -> str:
        buffer = io.StringIO()
        console = Console(
            file=buffer,
            force_terminal=self.stdout.isatty(),
            width=shutil.get_terminal_size((120, 24)).columns,
            highlight=False,
        )
        if not result.hits:
            console.print("No records match.")
            return buffer.getvalue()
        table = Table(caption=f"{len(result.hits)} of {result.total} matching records")
        table.add_column("Control no.", no_wrap=True)
        table.add_column("Title", ratio=3)
        table.add_column("Authors", ratio=2)
        table.add_column("Year", justify="right")
        table.add_column("ISBN", no_wrap=True)
        for hit in result.hits:
            title = Text(hit.title)
            if hit.vernacular_title:
                title.append("\n" + hit.vernacular_title)
            # Text(), not plain strings: a catalogue title such as
            # "[Sound recording]" must not be read as console markup.
            table.add_row(
                Text(hit.control_number),
                title,
                Text("; ".join(hit.authors)),
                Text(str(hit.year) if hit.year is not None else ""),
                Text(hit.isbn or ""),
            )
        console.print(table)
        return buffer.getvalue()


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "control_number": hit.control_number,
        "title": hit.title,
        "vernacular_title": hit.vernacular_title,
        "authors": hit.authors,
        "year": hit.year,
        "isbn": hit.isbn,
        "language": hit.language,
    }
