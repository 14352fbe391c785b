"""Signed checkpoints: the chain head, signed with Ed25519, kept outside the database.

The hash chain alone proves that no entry was changed in place, but someone
who can write to the database could delete the newest entries, or rewrite the
tail and recompute its hashes. A checkpoint pins the head as it was: its seq,
hash and time, signed with a key kept under `keys/` (not in the database), and
written to `$SHELFGUARD_HOME/ledger-checkpoints/<seq>.json`. A configured hook
command (`[ledger] checkpoint_hook`) ships each file off the machine, where
the database's owner cannot reach it. `verify` then reports any chain that
ends before, or disagrees with, a checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings

from shelfguard.core import clock
from shelfguard.core.home import home_dir, keys_dir, read_secret, write_secret_file
from shelfguard.ledger import chain
from shelfguard.ledger.errors import CheckpointError, CheckpointHookError

SIGNING_KEY_NAME = "ledger-signing.key"
SIGNING_KEY_ENV = "SHELFGUARD_LEDGER_SIGNING_KEY"
DIRECTORY_NAME = "ledger-checkpoints"
FORMAT_VERSION = 1
DEFAULT_HOOK_TIMEOUT = 120

_FILE_NAME = re.compile(r"(0|[1-9][0-9]{0,18})\.json\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_log = logging.getLogger("shelfguard.ledger")


def ensure_signing_key(home: Path | None = None) -> bool:
    """Create `keys/ledger-signing.key` (mode 0600) unless there is one. True if created.

    The key is never replaced: checkpoints signed with it would no longer
    verify. A key supplied through the environment is left to its owner.
    """
    if os.environ.get(SIGNING_KEY_ENV) or os.environ.get(f"{SIGNING_KEY_ENV}_FILE"):
        return False
    path = keys_dir(home) / SIGNING_KEY_NAME
    if path.exists():
        return False
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # PKCS#8 PEM, so `openssl pkey -in ... -pubout` gives the public key to a
    # remote party that checks shipped checkpoints.
    write_secret_file(path, pem.decode("ascii").strip())
    return True


def load_signing_key(home: Path | None = None) -> Ed25519PrivateKey | None:
    """The signing key from `$SHELFGUARD_LEDGER_SIGNING_KEY[_FILE]` or `keys/`, or None."""
    text = read_secret(SIGNING_KEY_NAME, env=SIGNING_KEY_ENV, home=home)
    if text is None:
        return None
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise CheckpointError(f"The ledger signing key is not a PEM private key ({exc}).") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError("The ledger signing key is not an Ed25519 key.")
    return key


def public_key_of(home: Path | None = None) -> Ed25519PublicKey | None:
    key = load_signing_key(home)
    return key.public_key() if key else None


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint naming the key a checkpoint was signed with."""
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def checkpoints_dir(home: Path | None = None) -> Path:
    return (home or home_dir()) / DIRECTORY_NAME


def signed_bytes(seq: int, hash_: str, at: str) -> bytes:
    """What is signed: the head's seq and hash and the time, as canonical JSON."""
    return json.dumps(
        {"at": at, "hash": hash_, "seq": seq, "v": FORMAT_VERSION},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file whose signature verified."""

    path: Path
    seq: int
    hash: str
    at: str


@dataclass(frozen=True)
class BadCheckpoint:
    """A checkpoint file that cannot be trusted, and why."""

    path: Path
    seq: int | None
    reason: str


def _check_file(path: Path, seq_from_name: int, public_key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in `path`, or ValueError saying why it cannot be trusted."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"unreadable ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict) or doc.get("v") != FORMAT_VERSION:
        raise ValueError("not a version-1 ledger checkpoint")
    seq, hash_, at = doc.get("seq"), doc.get("hash"), doc.get("at")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValueError("its seq is not a sequence number")
    if not isinstance(hash_, str) or not _HEX64.match(hash_) or not isinstance(at, str):
        raise ValueError("its hash or time is malformed")
    if seq != seq_from_name:
        raise ValueError(f"the file is named for #{seq_from_name} but signs #{seq}")
    if doc.get("key_id") != key_id(public_key):
        raise ValueError("it was signed with a different key than this installation's")
    try:
        signature = base64.b64decode(str(doc.get("signature", "")), validate=True)
        public_key.verify(signature, signed_bytes(seq, hash_, at))
    except (InvalidSignature, binascii.Error, ValueError):
        raise ValueError("its signature does not verify") from None
    return Checkpoint(path=path, seq=seq, hash=hash_, at=at)


def read_checkpoints(
    public_key: Ed25519PublicKey | None, directory: Path | None = None
) -> tuple[list[Checkpoint], list[BadCheckpoint]]:
    """Every `<seq>.json` in the checkpoint directory, split into good and bad, by seq.

    Other files (the hook's own notes, half-written temporary files) are not
    checkpoints and are ignored.
    """
    directory = directory or checkpoints_dir()
    good: list[Checkpoint] = []
    bad: list[BadCheckpoint] = []
    if not directory.is_dir():
        return good, bad
    for path in directory.iterdir():
        match = _FILE_NAME.match(path.name)
        if not match or not path.is_file():
            continue
        seq = int(match.group(1))
        if public_key is None:
            bad.append(BadCheckpoint(path, seq, "there is no ledger signing key to check it"))
            continue
        try:
            good.append(_check_file(path, seq, public_key))
        except ValueError as exc:
            bad.append(BadCheckpoint(path, seq, str(exc)))
    good.sort(key=lambda c: c.seq)
    bad.sort(key=lambda b: b.seq or 0)
    return good, bad


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a reader (or the hook) never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _ledger_config() -> dict[str, Any]:
    section = settings.CONFIG.get("ledger", {})
    if not isinstance(section, dict):
        raise CheckpointError("[ledger] in shelfguard.toml must be a table.")
    return section


def _one_line(text: str, limit: int = 300) -> str:
    """Hook output made safe to print on one line (no terminal escapes, no line breaks)."""
    last = [line for line in text.strip().splitlines() if line.strip()][-1:] or [""]
    return json.dumps(last[0][:limit], ensure_ascii=True)[1:-1]


def hook_configured() -> bool:
    """Whether `[ledger] checkpoint_hook` names a command to ship checkpoints with."""
    return bool(_ledger_config().get("checkpoint_hook"))


def run_hook(path: Path) -> bool:
    """Run `[ledger] checkpoint_hook` with the checkpoint's path; False if none is set.

    The command is split like a shell would but not run through one, and the
    path is passed as its last argument, so neither can inject commands.
    Raises `CheckpointHookError` if the command fails, times out or is missing.
    """
    config = _ledger_config()
    command = config.get("checkpoint_hook")
    if command is None or command == "":
        return False
    timeout = config.get("checkpoint_hook_timeout", DEFAULT_HOOK_TIMEOUT)
    if not isinstance(command, str):
        raise CheckpointHookError(
            "[ledger] checkpoint_hook must be a command line (a string).", path=path
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise CheckpointHookError(
            "[ledger] checkpoint_hook_timeout must be a positive number of seconds.", path=path
        )
    try:
        argv = shlex.split(command) + [str(path)]
    except ValueError as exc:
        raise CheckpointHookError(
            f"[ledger] checkpoint_hook cannot be parsed: {exc}.", path=path
        ) from None
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        message = f"checkpoint hook {argv[0]!r} was not found"
    except PermissionError:
        message = f"checkpoint hook {argv[0]!r} is not executable"
    except subprocess.TimeoutExpired:
        message = f"checkpoint hook did not finish within {timeout} s"
    else:
        if done.returncode == 0:
            return True
        said = _one_line(done.stderr or done.stdout)
        message = f"checkpoint hook exited with status {done.returncode}" + (
            f": {said}" if said else ""
        )
    _log.error("%s; the checkpoint %s was written but not shipped", message, path.name)
    raise CheckpointHookError(f"{message}; the checkpoint was written but not shipped.", path=path)


def write_checkpoint(
    *, home: Path | None = None, using: str | None = None, hook: bool = True
) -> Path:
    """Sign the current chain head into `ledger-checkpoints/<seq>.json`; return its path.

    The chain from the newest good checkpoint (or the start) to the head is
    verified first: signing a tampered chain would vouch for the tampering, so
    a broken chain raises `ChainBroken` and nothing is written. Then the
    configured hook ships the file; if it fails, the file stays written and
    `CheckpointHookError` (carrying `.path`) says why.
    """
    from shelfguard.ledger.verify import checkpointable_head

    key = load_signing_key(home)
    if key is None:
        raise CheckpointError(
            f"There is no ledger signing key ({SIGNING_KEY_NAME} under the keys directory); "
            "run `shelfguard init` to create one."
        )
    public = key.public_key()
    seq, hash_ = checkpointable_head(public, home=home, using=using)
    at = chain.timestamp(clock.now())
    document = {
        "v": FORMAT_VERSION,
        "seq": seq,
        "hash": hash_,
        "at": at,
        "key_id": key_id(public),
        # For a remote checker that pinned this key; never trusted from the file itself.
        "public_key": base64.b64encode(_raw(public)).decode("ascii"),
        "signature": base64.b64encode(key.sign(signed_bytes(seq, hash_, at))).decode("ascii"),
    }
    directory = checkpoints_dir(home)
    try:
        directory.mkdir(mode=0o750, exist_ok=True)
        path = directory / f"{seq}.json"
        _write_atomically(path, (json.dumps(document, indent=2) + "\n").encode("ascii"))
    except OSError as exc:
        raise CheckpointError(
            f"Cannot write the checkpoint in {directory}: {exc.strerror}."
        ) from exc
    if hook:
        run_hook(path)
    return path
