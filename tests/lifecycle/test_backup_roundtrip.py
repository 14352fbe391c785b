"""Create → verify round trips, the age CLI opening a backup, keys backups, refusals."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest

from shelfguard.ledger.models import Entry
from shelfguard.lifecycle import services
from shelfguard.lifecycle.models import BackupRun

from .backup_helpers import (
    COMMITTING,
    AgeKey,
    configure,
    create,
    open_with_age_cli,
    verify,
)

pytestmark = COMMITTING


def test_a_backup_verifies_and_opens_its_sealed_fields_with_the_live_keys(
    configured, make_patron, age_key
):
    patrons = [make_patron() for _ in range(3)]

    created = create()
    result = verify(created.path, age_key.path)

    assert result.ok, result.as_dict()
    assert result.checks["sealed_sampled"] == 3
    assert result.checks["sealed_readable"] == 3
    # The copy's chain is the live one before the backup's own entries.
    after = Entry.objects.filter(action__startswith="backup.").count()
    assert result.checks["ledger_entries"] == Entry.objects.count() - after
    assert created.manifest["row_counts"]["patrons_patron"] == 3
    assert stat.S_IMODE(created.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(created.path.parent.stat().st_mode) == 0o700
    kinds = list(BackupRun.objects.order_by("id").values_list("kind", "outcome"))
    assert kinds == [("create", "ok"), ("verify", "ok")]
    opened = Entry.objects.filter(action="backup.verify_seal")
    assert sorted(opened.values_list("patron_id", flat=True)) == [p.pk for p in patrons]
    assert all("name" in fields for fields in opened.values_list("fields", flat=True))


def test_the_age_command_line_tool_opens_a_backup_without_shelfguard(
    configured, make_patron, age_key
):
    make_patron()
    created = create()

    with open_with_age_cli(created.path, age_key.path) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
        dump = tar.extractfile(manifest["dump_file"]).read()

    assert names[0] == "manifest.json"
    assert manifest["format_version"] == 1
    assert manifest["kind"] == "data"
    assert manifest["database_vendor"] in {"sqlite", "postgresql"}
    assert manifest["dump_sha256"] == hashlib.sha256(dump).hexdigest()
    # The migration state recorded is the database's: the newest applied one per app.
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    (leaf,) = MigrationLoader(connection).graph.leaf_nodes("lifecycle")
    assert manifest["migrations"]["lifecycle"] == leaf[1]
    assert manifest["row_counts"]["patrons_patron"] == 1
    head = Entry.objects.order_by("-seq").exclude(action__startswith="backup.").first()
    assert manifest["ledger_head"] == {"seq": head.seq, "hash": head.hash}
    assert manifest["shelfguard_version"]
    # The data backup holds no key: no keystore table, no master key.
    assert not any(table.startswith("vault_") for table in manifest["row_counts"])


def test_the_wrong_identity_is_told_apart(configured, make_patron, keys_dir):
    make_patron()
    created = create()
    stranger = AgeKey(keys_dir, "stranger")

    result = verify(created.path, stranger.path)

    assert [p.code for p in result.problems] == ["wrong_key"]
    assert "identity does not open" in result.problems[0].message
    assert BackupRun.objects.filter(kind="verify", outcome="failed").count() == 1


def test_without_recipients_nothing_is_backed_up(library, run_cli):
    result = run_cli("backup", "create")

    assert result.code != 0
    assert "No [backup] recipients configured" in result.err
    assert "age-keygen" in result.err
    assert not list((library / "backups").glob("shelfguard-*"))
    assert BackupRun.objects.get().problems == ["no_recipients"]


def test_a_recipient_that_is_not_an_age_key_is_refused(library):
    configure(library, recipients=["age1notakey"])

    with pytest.raises(services.BackupError) as caught:
        create()

    assert caught.value.code == "bad_recipient"


def test_the_cli_creates_verifies_and_reports_status(configured, make_patron, age_key, run_cli):
    make_patron()

    made = run_cli("backup", "create", "--json")
    assert made.code == 0, made.err
    path = made.json()["file"]
    checked = run_cli("backup", "verify", path, "--identity", str(age_key.path), "--json")
    assert checked.code == 0, checked.err
    assert checked.json()["ok"] is True
    status = run_cli("backup", "status", "--json")

    assert status.code == 0
    report = status.json()
    assert report["last_successful_backup"]["file"] == made.json()["file"].rsplit("/", 1)[1]
    assert report["last_successful_verification"]["age_hours"] >= 0
    assert report["recipients_configured"] is True


def test_a_keys_backup_goes_to_the_recovery_recipients_only(
    configured, make_patron, age_key, recovery_key, run_cli
):
    make_patron()

    made = run_cli("backup", "keys", "--json")

    assert made.code == 0, made.err
    path = made.json()["file"]
    with open_with_age_cli(path, recovery_key.path) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "keys/master.key", "keys/index.key"} <= names
    assert "keystore.sqlite3" in names or "keystore.sql" in names
    wrong = verify(path, age_key.path)
    assert [p.code for p in wrong.problems] == ["wrong_key"]
    assert verify(path, recovery_key.path).ok
