"""`shelfguard demo`: a demo library on real Library of Congress records, then serve it."""

from __future__ import annotations

import csv
import io
import random
from importlib import resources

from django.core.management import call_command
from django.core.management.base import BaseCommand

from shelfguard.catalog.marc import parse_stored
from shelfguard.catalog.models import Item, Record
from shelfguard.catalog.services import ensure_item_type, import_items_csv, import_marc
from shelfguard.core.actors import Actor
from shelfguard.core.services import ensure_branch

DEMO_BRANCHES = [("MAIN", "Main Library"), ("EAST", "East Branch"), ("WEST", "West Branch")]
DEMO_ITEM_TYPES = [("book", "Book"), ("large-print", "Large print")]


class Command(BaseCommand):
    help = (
        "Set up a demo library in $SHELFGUARD_HOME (about 3,000 real public-domain LC "
        "records, including Chinese, Japanese and Korean titles, three branches and their "
        "copies) and serve it at http://127.0.0.1:8000. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-serve", action="store_true", help="set up the demo data and exit"
        )

    def handle(self, *args, port, no_serve, **options):
        call_command("init", verbosity=0, stdout=io.StringIO())
        actor = Actor.cli_operator()
        for code, name in DEMO_BRANCHES:
            ensure_branch(code, name, actor=actor)
        for code, name in DEMO_ITEM_TYPES:
            ensure_item_type(code, name, actor=actor)
        if not Record.objects.exists():
            self.stdout.write("Loading the demo catalogue (Library of Congress records)…")
            data = resources.files("shelfguard.demo_data").joinpath("lc-sample.mrc.gz")
            with data.open("rb") as stream:
                report = import_marc(stream, actor=actor)
            self.stdout.write(f"  {report.imported} records imported.")
        if not Item.objects.exists():
            report = import_items_csv(io.StringIO(_demo_items_csv()), actor=actor)
            self.stdout.write(f"  {report.imported} copies placed in {len(DEMO_BRANCHES)} branches.")
        made = _demo_patrons(actor)
        if made:
            self.stdout.write(f"  {made} synthetic patrons registered (sealed, one key each).")
        self.stdout.write(
            "\nShelfguard demo is ready.\n"
            f"  Public catalogue:  http://127.0.0.1:{port}/\n"
            f"  Try searching:     botany, Lincoln, 中国, 日本\n"
            f"  JSON API:          http://127.0.0.1:{port}/api/v1/search?q=history\n"
            f"  API schema:        http://127.0.0.1:{port}/api/v1/openapi.json\n"
            "  Sealed patrons:    shelfguard patron show 29990001 --purpose demo --json\n"
            "  Who looked:        shelfguard audit query --patron 29990001\n"
            "  Ledger intact?     shelfguard audit verify\n"
            "Press Ctrl-C to stop.\n"
        )
        if not no_serve:
            call_command("serve", port=port)


def _demo_items_csv() -> str:
    """One to three synthetic copies per record, spread over the demo branches."""
    rng = random.Random(20261125)  # fixed seed: the same demo every time
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["barcode", "control_number", "branch", "call_number", "item_type", "location"])
    serial = 0
    for control_number, marc in Record.objects.order_by("id").values_list(
        "control_number", "marc"
    ):
        lc_class = parse_stored(marc).get("050")
        call_number = " ".join(lc_class.get_subfields("a", "b")) if lc_class else ""
        for _ in range(rng.choice((1, 1, 2, 3))):
            serial += 1
            branch = rng.choice(DEMO_BRANCHES)[0]
            item_type = "large-print" if rng.random() < 0.05 else "book"
            location = rng.choice(("Stacks", "Stacks", "Reference", "Local history"))
            writer.writerow(
                [f"39{serial:011d}", control_number, branch, call_number, item_type, location]
            )
    return out.getvalue()


# Synthetic people only: invented names and reserved example.org addresses.
DEMO_PATRONS = [
    dict(card_number="29990001", name="Ada Example", email="ada@example.org",
         consents=("service", "email_notices")),
    dict(card_number="29990002", name="Li Ming", phone="+86 10 5555 0102", home_branch="EAST"),
    dict(card_number="29990003", name="Sam Placeholder", address="1 Demo Street, Sampletown",
         consents=("service", "reading_history")),
    dict(card_number="29990004", name="Noor Testcase", email="noor@example.org",
         category="child", birth_year=2016, guardian_name="Rana Testcase", by_guardian=True,
         home_branch="WEST"),
]


def _demo_patrons(actor: Actor) -> int:
    from shelfguard.patrons.services import find_by_card, register

    made = 0
    for fields in DEMO_PATRONS:
        if find_by_card(fields["card_number"]) is None:
            register(**fields, actor=actor, purpose="demo")
            made += 1
    return made
