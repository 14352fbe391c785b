"""`shelfguard import-marc FILE`: stream MARC21 records into the catalogue."""

from __future__ import annotations

import json
import os

from django.core.management.base import BaseCommand, CommandError

from shelfguard.catalog.marc import FORMATS, MarcFormatError
from shelfguard.catalog.services import import_marc
from shelfguard.core import progress
from shelfguard.core.actors import Actor

_SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = (
        "Import MARC21 bibliographic records (ISO 2709, MARCXML or MARC-in-JSON; gzip "
        "accepted). Re-importing a record with the same 001+003 updates it, so an "
        "interrupted import can be run again. Bad records are skipped and reported."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the MARC file to read ('-' for standard input)")
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default=None,
            help="input format (default: guessed from the first bytes)",
        )
        parser.add_argument("--limit", type=int, default=None, help="import at most N records")
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="records per transaction (default 1000)"
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args, file, format, limit, batch_size, as_json, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be a positive number of records.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            stream = (
                os.fdopen(os.dup(0), "rb") if file == "-" else open(file, "rb")  # noqa: SIM115
            )
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        total = os.fstat(stream.fileno()).st_size or None
        with stream, progress.file_progress(
            stream, total, "Importing", progress.wanted(as_json)
        ) as tracked:
            try:
                report = import_marc(
                    tracked,
                    actor=Actor.cli_operator(),
                    fmt=format,
                    limit=limit,
                    batch_size=batch_size,
                )
            except MarcFormatError as exc:
                raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False))
        else:
            self.stdout.write(
                f"Imported {report.imported}, updated {report.updated}, "
                f"skipped {report.skipped} in {report.seconds:.1f} s."
            )
            for problem in report.problems[:_SHOWN_PROBLEMS]:
                self.stdout.write(f"  skipped {problem.where}: {problem.reason}")
            if len(report.problems) > _SHOWN_PROBLEMS:
                more = len(report.problems) - _SHOWN_PROBLEMS
                self.stdout.write(f"  … and {more} more (use --json for the full list)")
            if report.stopped_early:
                self.stdout.write("The rest of the file could not be read; see the last problem.")
