"""`shelfguard init`: create the data home, keys directory, config and database."""

from __future__ import annotations

import json as jsonlib

from django.core.management import call_command
from django.core.management.base import BaseCommand

from shelfguard.core import home
from shelfguard.core.actors import Actor
from shelfguard.core.services import ensure_branch
from shelfguard.vault.dbsettings import KEYSTORE_ALIAS
from shelfguard.vault.keys import ensure_keys


class Command(BaseCommand):
    help = (
        "Create the data home ($SHELFGUARD_HOME), its keys directory (mode 0700), "
        "configuration file and database, and apply migrations. Safe to run again: "
        "existing data and keys are never replaced."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="print a JSON summary")

    def handle(self, *args, as_json: bool = False, **options):
        location = home.home_dir()
        created = home.create_home(location)
        from shelfguard.ledger.checkpoints import SIGNING_KEY_NAME, ensure_signing_key

        # Reported apart from `created`, whose entries are the home's own files.
        ledger_key_created = ensure_signing_key(location)
        call_command("migrate", interactive=False, verbosity=0)
        # The keystore is its own database alias (keys apart from data); its
        # tables exist before the keys are checked against them.
        call_command("migrate", database=KEYSTORE_ALIAS, interactive=False, verbosity=0)
        created += ensure_keys(location)
        home.restrict_database_file(location)
        actor = Actor.cli_operator()
        _, made_branch = ensure_branch("MAIN", "Main Library", actor=actor)
        from shelfguard.catalog.services import ensure_item_type

        _, made_type = ensure_item_type("book", "Book", actor=actor)
        from shelfguard.patrons.services import ensure_defaults as ensure_patron_defaults

        patrons = ensure_patron_defaults()
        summary = {
            "home": str(location),
            "created": created,
            "branch_main_created": made_branch,
            "item_type_book_created": made_type,
            "ledger_signing_key_created": ledger_key_created,
            "patrons": patrons,
        }
        if as_json:
            self.stdout.write(_dumps(summary))
        else:
            self.stdout.write(f"Shelfguard home: {location}")
            for path in created:
                self.stdout.write(f"  created {path}")
            if ledger_key_created:
                self.stdout.write(f"  created {home.keys_dir(location) / SIGNING_KEY_NAME}")
            self.stdout.write("Database is up to date.")


def _dumps(obj) -> str:
    return jsonlib.dumps(obj, ensure_ascii=False)
