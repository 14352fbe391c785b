"""Every part of a backup that can be damaged is caught, each with its own one-line reason."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection

from .backup_helpers import (
    COMMITTING,
    create,
    rewrite_backup,
    run_sql_on_dump,
    verify,
)

pytestmark = COMMITTING


@pytest.fixture
def backup(configured, make_patron):
    for _ in range(3):
        make_patron()
    return create().path


def codes(result) -> list[str]:
    return [p.code for p in result.problems]


def test_a_flipped_byte_in_the_ciphertext_is_caught(backup, age_key):
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0x01
    backup.write_bytes(bytes(data))

    result = verify(backup, age_key.path)

    assert codes(result) == ["damaged"]
    assert "altered" in result.problems[0].message


def test_a_truncated_file_is_caught(backup, age_key):
    data = backup.read_bytes()
    backup.write_bytes(data[: len(data) - 100])

    result = verify(backup, age_key.path)

    assert codes(result) == ["damaged"]
    assert "truncated" in result.problems[0].message


def test_a_file_cut_inside_its_header_is_caught(backup, age_key):
    backup.write_bytes(backup.read_bytes()[:60])

    assert codes(verify(backup, age_key.path)) == ["damaged"]


def test_a_swapped_manifest_hash_is_caught(backup, age_key):
    def swap(manifest, dump):
        manifest["dump_sha256"] = "0" * 64

    rewrite_backup(backup, age_key, swap, rehash=False)

    result = verify(backup, age_key.path)

    assert codes(result) == ["hash_mismatch"]


def _delete_branch_rows(manifest, dump):
    if manifest["database_vendor"] == "sqlite":
        run_sql_on_dump(manifest, dump, "DELETE FROM core_branch WHERE code = 'EAST';")
        return
    # PostgreSQL: drop the EAST branch's line from the table's COPY block in the plain dump.
    text = dump.read_text(encoding="utf-8")
    block = re.search(r"COPY \S*core_branch .*?\n(.*?)\\\.\n", text, re.DOTALL)
    assert block, "the dump has a COPY block for core_branch"
    (east,) = [line for line in block.group(1).split("\n") if "\tEAST\t" in line]
    dump.write_text(text.replace(east + "\n", "", 1), encoding="utf-8")


def test_rows_deleted_from_the_dump_are_caught_by_the_row_counts(backup, age_key):
    rewrite_backup(backup, age_key, _delete_branch_rows)

    result = verify(backup, age_key.path)

    assert codes(result) == ["count_mismatch"]
    assert "core_branch" in result.problems[0].message


def _break_ledger_entry(manifest, dump):
    if manifest["database_vendor"] == "sqlite":
        run_sql_on_dump(
            manifest, dump, "UPDATE ledger_entry SET purpose = 'rewritten' WHERE seq = 2;"
        )
        return
    text = dump.read_text(encoding="utf-8")
    block = re.search(r"COPY \S*ledger_entry \((.*?)\) FROM stdin;\n(.*?)\\\.\n", text, re.DOTALL)
    assert block
    columns = [c.strip().strip('"') for c in block.group(1).split(",")]
    rows = block.group(2).split("\n")
    purpose = columns.index("purpose")
    fields = rows[1].split("\t")
    fields[purpose] = "rewritten"
    dump.write_text(text.replace(rows[1], "\t".join(fields), 1), encoding="utf-8")


def test_a_broken_ledger_entry_is_caught_by_the_chain(backup, age_key):
    rewrite_backup(backup, age_key, _break_ledger_entry)

    result = verify(backup, age_key.path)

    assert codes(result) == ["broken_chain"]
    assert "altered at #2" in result.problems[0].message


def test_the_cli_names_each_failure_on_one_line_and_exits_non_zero(backup, age_key, run_cli):
    data = backup.read_bytes()
    backup.write_bytes(data[: len(data) // 2])

    result = run_cli("backup", "verify", str(backup), "--identity", str(age_key.path))

    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines[0].startswith("damaged: ")
    assert "verification failed" in lines[-1]


def test_a_damaged_sealed_value_is_caught_by_the_sample(backup, age_key):
    def garble(manifest, dump):
        if manifest["database_vendor"] != "sqlite":
            pytest.skip("sealed bytes are rewritten in the SQLite file")
        run_sql_on_dump(
            manifest,
            dump,
            "UPDATE patrons_patron SET name_sealed = CAST("
            "substr(name_sealed, 1, 20) || zeroblob(16) || substr(name_sealed, 37) AS BLOB) "
            "WHERE id = (SELECT MIN(id) FROM patrons_patron);",
        )

    rewrite_backup(backup, age_key, garble)

    result = verify(backup, age_key.path)

    assert codes(result) == ["seal_broken"]
    assert json.dumps(result.as_dict())  # no bytes, nothing unprintable


def test_postgresql_keeps_its_keystore_out_of_data_backups(backup, age_key):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL keeps the keystore as a schema of the same database")
    from .backup_helpers import open_with_age_cli

    with open_with_age_cli(backup, age_key.path) as tar:
        dump = tar.extractfile("database.sql").read().decode()
    assert "keystore." not in dump and "vault_datakey" not in dump
