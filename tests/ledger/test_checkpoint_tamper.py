"""A checkpoint file that was edited or signed by someone else is caught as `checkpoint`."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shelfguard.ledger import checkpoints
from shelfguard.ledger.verify import verify


def test_an_altered_checkpoint_file_is_caught(db, chain_of, signing_home):
    entries = chain_of(6)
    path = checkpoints.write_checkpoint()
    document = json.loads(path.read_text())
    document["hash"] = entries[2].hash  # claim a different head
    path.write_text(json.dumps(document))

    report = verify()

    assert not report.ok
    assert (report.first.kind, report.first.seq) == ("checkpoint", 6)
    assert "signature" in report.first.message


def test_a_renamed_checkpoint_file_is_caught(db, chain_of, signing_home):
    chain_of(6)
    path = checkpoints.write_checkpoint()
    path.rename(path.with_name("9.json"))

    report = verify()

    assert (report.first.kind, report.first.seq) == ("checkpoint", 9)


def test_a_checkpoint_signed_with_another_key_is_caught(db, chain_of, signing_home):
    chain_of(4)
    path = checkpoints.write_checkpoint()
    document = json.loads(path.read_text())
    forger = Ed25519PrivateKey.generate()
    # The forger signs a different hash for the head, to make the chain look cut
    # and regrown, and keeps our key id in the file.
    document["seq"], document["hash"] = 4, "f" * 64
    document["signature"] = base64.b64encode(
        forger.sign(checkpoints.signed_bytes(4, "f" * 64, document["at"]))
    ).decode()
    path.write_text(json.dumps(document))

    report = verify()

    assert (report.first.kind, report.first.seq) == ("checkpoint", 4)
    assert report.problem_count == 1  # the forged hash is not believed


def test_a_garbled_checkpoint_file_is_caught(db, chain_of, signing_home):
    chain_of(2)
    (signing_home / "ledger-checkpoints").mkdir()
    (signing_home / "ledger-checkpoints" / "2.json").write_bytes(b"\x00not json")

    report = verify()

    assert (report.first.kind, report.first.seq) == ("checkpoint", 2)


def test_checkpoints_without_the_key_to_check_them_are_reported(db, chain_of, signing_home):
    chain_of(2)
    checkpoints.write_checkpoint()
    (signing_home / "keys" / checkpoints.SIGNING_KEY_NAME).unlink()

    report = verify()

    assert report.first.kind == "checkpoint"
    assert "no ledger signing key" in report.first.message


def test_other_files_in_the_checkpoint_directory_are_ignored(db, chain_of, signing_home):
    chain_of(2)
    directory = checkpoints.write_checkpoint().parent
    (directory / "README").write_text("shipped by rsync")
    (directory / ".3.json.123.tmp").write_text("{")

    assert verify().ok
