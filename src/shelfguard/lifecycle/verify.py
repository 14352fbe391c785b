"""Proving a backup restores: decrypt, check, restore into a scratch database, compare.

A data backup passes when, in this order: the identity opens it (age
authenticates every chunk, so a flipped or missing byte fails here); the
dump's SHA-256 is the manifest's; the dump loads into a temporary database
(SQLite: the extracted file, `PRAGMA integrity_check`; PostgreSQL: a
database created for the check and dropped after it); every table holds the
row count the manifest recorded; the restored access ledger verifies with
the ledger's own verifier and ends at the head the manifest recorded; and a
sample of sealed patron fields opens with the *live* keystore. Patrons whose
key the live keystore records as erased count as expected-erased: their data
in the backup is meant to be unreadable.

Signed ledger checkpoints are not checked against the copy: they describe
the live chain, which has grown since the backup. The manifest's head takes
their place.

Sampled values are opened and thrown away; nothing is shown or kept.
"""

from __future__ import annotations

import random
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import DatabaseError

from shelfguard.lifecycle import archive, snapshot
from shelfguard.lifecycle.errors import BackupError

SAMPLE_SIZE = 25
_SEALED_SUFFIX = "_sealed"


@dataclass
class Finding:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class Verification:
    path: Path
    kind: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    # (patron id, fields) of every sealed value opened, for the access ledger.
    opened: list[tuple[int, list[str]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, code: str, message: str) -> None:
        self.problems.append(Finding(code, message))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "file": str(self.path),
            "kind": self.kind,
            "created_at": self.manifest.get("created_at"),
            "checks": self.checks,
            "problems": [p.as_dict() for p in self.problems],
        }


def open_backup(
    path: Path, identity: Path, work: Path, *, show_progress: bool
) -> tuple[dict[str, Any], Path]:
    """Decrypt and unpack a backup into `work`; returns (manifest, directory of its files)."""
    identities = archive.read_identities(identity)
    plain = work / "backup.tar.gz"
    archive.decrypt_to(path, plain, identities, show_progress=show_progress)
    contents = work / "contents"
    contents.mkdir(mode=0o700)
    manifest = archive.unpack(plain, contents)
    plain.unlink()
    return manifest, contents


def verify_file(path: Path, identity: Path, *, show_progress: bool = False) -> Verification:
    """Check one backup file completely; never raises for a bad backup, reports it."""
    result = Verification(path=Path(path))
    work = Path(tempfile.mkdtemp(prefix="shelfguard-verify-"))
    try:
        try:
            manifest, contents = open_backup(path, identity, work, show_progress=show_progress)
        except BackupError as exc:
            result.fail(exc.code, exc.message)
            return result
        result.manifest = manifest
        result.kind = str(manifest.get("kind", ""))
        if result.kind == archive.DATA:
            _verify_data(result, manifest, contents)
        elif result.kind == archive.KEYS:
            _verify_keys(result, manifest, contents)
        else:
            result.fail("manifest", "The manifest names no known backup kind.")
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _verify_keys(result: Verification, manifest: dict[str, Any], contents: Path) -> None:
    files = manifest.get("files") or {}
    for name, digest in sorted(files.items()):
        member = contents / name
        if not member.is_file():
            result.fail(
                "missing_member", f"{name} is listed in the manifest but not in the backup."
            )
        elif archive.sha256_file(member) != digest:
            result.fail("hash_mismatch", f"{name} does not match its SHA-256 in the manifest.")
    keystore = contents / "keystore.sqlite3"
    if keystore.is_file():
        verdict = snapshot.sqlite_integrity(keystore)
        if verdict != "ok":
            result.fail("integrity", "The keystore copy fails SQLite's integrity check.")
    result.checks["files"] = len(files)


def _verify_data(result: Verification, manifest: dict[str, Any], contents: Path) -> None:
    dump = contents / str(manifest.get("dump_file", ""))
    if not manifest.get("dump_file") or not dump.is_file():
        result.fail("missing_member", "The backup holds no database dump.")
        return
    if archive.sha256_file(dump) != manifest.get("dump_sha256"):
        result.fail(
            "hash_mismatch",
            "The database dump does not match the SHA-256 in the manifest: it was altered.",
        )
        return
    vendor = manifest.get("database_vendor")
    if vendor == "sqlite":
        verdict = snapshot.sqlite_integrity(dump)
        result.checks["integrity"] = verdict
        if verdict != "ok":
            result.fail("integrity", "The restored database fails SQLite's integrity check.")
            return
        with snapshot.restored_sqlite(dump) as alias:
            _compare(result, manifest, alias)
    elif vendor == "postgresql":
        try:
            with snapshot.restored_postgresql(
                dump, manifest.get("database_schema") or "public"
            ) as alias:
                _compare(result, manifest, alias)
        except BackupError as exc:
            result.fail(exc.code, exc.message)
    else:
        result.fail("manifest", "The manifest names no supported database vendor.")


def _compare(result: Verification, manifest: dict[str, Any], alias: str) -> None:
    try:
        _compare_restored(result, manifest, alias)
    except DatabaseError:
        # Rows the restored copy cannot even read: the dump was damaged before hashing.
        result.fail("unreadable", "The restored copy holds rows the database cannot read.")


def _compare_restored(result: Verification, manifest: dict[str, Any], alias: str) -> None:
    facts = snapshot.facts_of_alias(alias)
    expected = manifest.get("row_counts") or {}
    mismatched = []
    for table in sorted(set(expected) | set(facts.row_counts)):
        want, have = expected.get(table), facts.row_counts.get(table)
        if want != have:
            mismatched.append(table)
            result.fail(
                "count_mismatch",
                f"table {table}: the manifest records {want} rows, the restored copy has {have}.",
            )
    result.checks["tables"] = len(facts.row_counts)
    result.checks["rows"] = sum(facts.row_counts.values())
    _check_ledger(result, manifest, alias)
    _check_seals(result, alias)


def _check_ledger(result: Verification, manifest: dict[str, Any], alias: str) -> None:
    from shelfguard.ledger.verify import verify as verify_chain

    # An empty home: the live checkpoints describe the live chain, not this copy.
    with tempfile.TemporaryDirectory(prefix="shelfguard-verify-home-") as empty:
        report = verify_chain(using=alias, home=Path(empty))
    result.checks["ledger_entries"] = report.entries
    if not report.ok:
        first = report.first
        where = f" at #{first.seq}" if first and first.seq is not None else ""
        result.fail(
            "broken_chain",
            f"The restored access ledger does not verify ({first.kind if first else '?'}{where}).",
        )
        return
    recorded = manifest.get("ledger_head")
    from shelfguard.ledger.verify import read_head

    head = read_head(alias)
    actual = {"seq": head[0], "hash": head[1]} if head else None
    if recorded != actual:
        result.fail(
            "broken_chain",
            "The restored access ledger does not end at the head recorded in the manifest.",
        )


def _check_seals(result: Verification, alias: str) -> None:
    """Open a sample of sealed patron fields with the live keystore."""
    from shelfguard.patrons.models import Patron, PatronStatus
    from shelfguard.vault import KeyDestroyed, SealBroken, keystore, sealing

    sealed = [f.column for f in Patron._meta.concrete_fields if f.column.endswith(_SEALED_SUFFIX)]
    ids = list(
        Patron.objects.using(alias)
        .exclude(status=PatronStatus.ERASED)
        .exclude(key_id="")
        .values_list("pk", flat=True)
    )
    sample = sorted(random.sample(ids, min(SAMPLE_SIZE, len(ids))))
    erased = keystore.erased_key_ids()
    readable = expected_erased = 0
    broken: list[int] = []
    missing: list[int] = []
    rows = Patron.objects.using(alias).filter(pk__in=sample).values("pk", "key_id", *sealed)
    for row in rows:
        owner = _owner(row["pk"])
        try:
            key = sealing.open_key(row["key_id"])
        except (KeyDestroyed, ValueError):
            if str(row["key_id"]) in erased:
                expected_erased += 1
            else:
                missing.append(row["pk"])
            continue
        fields = [c.removesuffix(_SEALED_SUFFIX) for c in sealed if row[c] is not None]
        result.opened.append((row["pk"], fields))
        try:
            for column in sealed:
                if row[column] is not None:
                    key.unseal(owner, column.removesuffix(_SEALED_SUFFIX), bytes(row[column]))
        except SealBroken:
            broken.append(row["pk"])
            continue
        readable += 1
    result.checks["sealed_sampled"] = len(sample)
    result.checks["sealed_readable"] = readable
    result.checks["expected_erased"] = expected_erased
    if missing:
        result.fail(
            "key_missing",
            f"{len(missing)} sampled patron(s) have no key in the live keystore and no erasure "
            f"record (patron ids {_ids(missing)}): the keystore may have been restored from an "
            "older keys backup.",
        )
    if broken:
        result.fail(
            "seal_broken",
            f"{len(broken)} sampled patron(s) have sealed fields that do not open "
            f"(patron ids {_ids(broken)}): the backup's ciphertext was altered.",
        )


_OWNER = re.compile(r"^patron:(\d+)$")


def _owner(patron_id: int) -> str:
    # The patrons app's vault owner id for a patron (`patrons.records._owner`).
    return f"patron:{patron_id}"


def patron_id_of(owner: str) -> int | None:
    match = _OWNER.match(owner)
    return int(match.group(1)) if match else None


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:10])
    return shown + (", ..." if len(ids) > 10 else "")
