"""`shelfguard reindex`: rebuild the catalogue search index from the records."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from shelfguard.catalog.services import rebuild_search_index
from shelfguard.core import progress
from shelfguard.core.actors import Actor


class Command(BaseCommand):
    help = (
        "Rebuild the catalogue search index from the stored records, in one transaction: "
        "searches keep using the old index until the new one is complete. Needed after "
        "restoring a database without its index or after upgrading the search rules."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print a JSON summary"
        )

    def handle(self, *args: Any, as_json: bool = False, **options: Any) -> None:
        started = time.monotonic()
        actor = Actor.cli_operator()
        # The bar goes to stderr, and only on a terminal without --json.
        with progress.count_progress(None, "Indexing records", progress.wanted(as_json)) as bar:
            track = (
                (lambda ids: bar.track(ids, total=len(ids), task_id=bar.task_ids[0]))
                if bar
                else None
            )
            indexed = rebuild_search_index(actor=actor, progress=track)
        seconds = round(time.monotonic() - started, 2)
        if as_json:
            self.stdout.write(json.dumps({"indexed": indexed, "seconds": seconds}))
        else:
            noun = "record" if indexed == 1 else "records"
            self.stdout.write(f"Indexed {indexed:,} {noun} in {seconds:.1f} s.")
