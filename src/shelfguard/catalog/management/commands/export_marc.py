"""`shelfguard export-marc FILE`: write the stored records back out."""

from __future__ import annotations

import json
import os
import sys
import tempfile

from django.core.management.base import BaseCommand, CommandError

from shelfguard.catalog.marc import FORMATS
from shelfguard.catalog.models import Record
from shelfguard.catalog.services import export_marc
from shelfguard.core import progress
from shelfguard.core.actors import Actor


class Command(BaseCommand):
    help = (
        "Export every stored bibliographic record as ISO 2709 (UTF-8), MARCXML or "
        "MARC-in-JSON. The file is written whole or not at all."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the file to write ('-' for standard output)")
        parser.add_argument("--format", choices=FORMATS, default="iso2709")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args, file, format, as_json, **options):
        total = Record.objects.count()
        actor = Actor.cli_operator()
        if file == "-":
            count = export_marc(sys.stdout.buffer, actor=actor, fmt=format)
        else:
            target = os.path.abspath(file)
            directory = os.path.dirname(target)
            if not os.path.isdir(directory):
                raise CommandError(f"Folder {directory} does not exist.")
            # Write beside the target and rename, so a failed export never leaves
            # a half-written file where a good one is expected.
            fd, partial = tempfile.mkstemp(dir=directory, prefix=".export-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out, progress.count_progress(
                    total, "Exporting", progress.wanted(as_json)
                ) as bar:
                    count = export_marc(
                        out,
                        actor=actor,
                        fmt=format,
                        on_record=(lambda n: bar.update(bar.task_ids[0], completed=n))
                        if bar
                        else None,
                    )
                os.replace(partial, target)
            except BaseException:
                os.unlink(partial)
                raise
        summary = {"exported": count, "format": format, "file": file}
        if as_json:
            self.stdout.write(json.dumps(summary))
        elif file != "-":
            self.stdout.write(f"Exported {count} records to {file} ({format}).")
