"""Recompute the chain and compare it with the chain head, prune anchors and checkpoints.

What can be wrong, and the kind each is reported as (with the first bad seq):

- `altered`    an entry's content no longer matches its hash (or an entry
               was rewritten with a fresh hash, so its successor no longer
               links to it);
- `missing`    a gap in the sequence, or entries removed without a recorded
               prune;
- `reordered`  an entry stands at another place than it was written at (its
               content hashes under a different seq, or it links to an entry
               other than its predecessor);
- `truncated`  the newest entries are gone: the chain ends before the chain
               head or a checkpoint, or a checkpoint's hash is not the
               chain's hash at that seq;
- `checkpoint` a checkpoint file is unreadable, or its signature is bad.

Verification streams the entries in seq order straight from the database
cursor and recomputes each hash with `hashlib`, at well over 100,000 entries a
second on SQLite.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import router
from django.db.models import ExpressionWrapper, F, TextField
from django.db.models.functions import Cast

from shelfguard.ledger import chain, checkpoints
from shelfguard.ledger.errors import ChainBroken
from shelfguard.ledger.models import ChainHead, Entry, PruneAnchor

KINDS = ("altered", "missing", "reordered", "truncated", "checkpoint")
#: Problems kept in a report; the count goes on beyond it.
MAX_LISTED = 100
# Finding where a moved entry came from needs lookups by hash, which have no
# index (an index would slow every append); a handful is plenty to name the
# first problems precisely.
_LOOKUP_BUDGET = 16
_CHUNK = 5000
_PROGRESS_EVERY = 20000
_UTC = dt.UTC

Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class Problem:
    kind: str
    seq: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "message": self.message}


def _order(problem: Problem) -> float:
    # Ties keep the order of discovery (sorts and min() are stable): the
    # problem found first at a seq is the cause, later ones its echoes.
    return problem.seq if problem.seq is not None else float("inf")


@dataclass
class VerifyReport:
    """What `verify` found. `ok` is True only if the chain and every checkpoint agree."""

    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_seq: int | None = None
    pruned_through: int | None = None
    checkpoints: int = 0
    newest_checkpoint: int | None = None
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first(self) -> Problem | None:
        return min(self.problems, key=_order) if self.problems else None

    def as_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "head_seq": self.head_seq,
            "pruned_through": self.pruned_through,
            "checkpoints": self.checkpoints,
            "newest_checkpoint": self.newest_checkpoint,
            "first_problem": first.as_dict() if first else None,
            "problem_count": self.problem_count,
            "problems": [p.as_dict() for p in sorted(self.problems, key=_order)],
            "seconds": round(self.seconds, 3),
            "entries_per_second": round(self.entries / self.seconds) if self.seconds else None,
        }


class _Problems:
    """Collects problems, keeping the first MAX_LISTED and counting all."""

    def __init__(self) -> None:
        self.listed: list[Problem] = []
        self.count = 0

    def add(self, kind: str, seq: int | None, message: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown problem kind {kind!r}")
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(Problem(kind, seq, message))


def _fast_time(at: Any) -> bool:
    """Whether `at` is UTC text in the exact shape the database hands back by default.

    SQLite keeps Django datetimes as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff';
    PostgreSQL's timestamptz cast to text in a UTC session reads
    'YYYY-MM-DD HH:MM:SS.ffffff+00'. Rearranging that text is several times
    cheaper than parsing a datetime and formatting it again.
    """
    return (
        at.__class__ is str
        and at[10:11] == " "
        # 26 characters is also PostgreSQL's shape when the fraction has three
        # digits ('.816+00', trailing zeros trimmed): tell them apart by the sign.
        and ((len(at) == 26 and at[23] not in "+-") or (len(at) == 29 and at[26:] == "+00"))
    )


def _time_text(at: Any) -> str:
    """The canonical time of a stored entry, from a datetime or the database's text for it."""
    if isinstance(at, str):
        if _fast_time(at):
            return f"{at[:10]}T{at[11:26]}+00:00"
        # Other shapes (no fraction, trailing zeros trimmed, another session time zone).
        at = dt.datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=_UTC)
    return at.astimezone(_UTC).isoformat(timespec="microseconds")


def read_head(using: str) -> tuple[int, str] | None:
    """The chain head's (seq, hash), or None if no entry was ever appended to this table."""
    return ChainHead.objects.using(using).filter(pk=1).values_list("seq", "hash").first()


def _start(anchor: PruneAnchor | None) -> tuple[int, str]:
    return (anchor.last_seq, anchor.last_hash) if anchor else (0, chain.GENESIS)


def _anchor_problems(anchors: list[PruneAnchor], problems: _Problems) -> None:
    """Anchors must tile the pruned prefix from #1 without gaps."""
    expected = 1
    for anchor in anchors:
        if anchor.first_seq != expected:
            problems.add(
                "missing",
                expected,
                f"entries #{expected}–#{anchor.first_seq - 1} are gone and no prune anchor "
                "covers them",
            )
        if (
            anchor.count != anchor.last_seq - anchor.first_seq + 1
            or anchor.entry_seq <= anchor.last_seq
        ):
            problems.add(
                "missing",
                anchor.first_seq,
                f"the prune anchor for #{anchor.first_seq}–#{anchor.last_seq} is inconsistent "
                "(its count or recording entry does not fit the range)",
            )
        expected = anchor.last_seq + 1


class _Walk:
    """One pass over entries (after_seq, upto_seq], chaining from after_hash."""

    def __init__(
        self,
        using: str,
        after_seq: int,
        after_hash: str,
        upto_seq: int | None,
        problems: _Problems,
        *,
        head: tuple[int, str] | None = None,
        expect_hash: dict[int, list[tuple[str, str, str]]] | None = None,
        expect_prune: dict[int, PruneAnchor] | None = None,
        progress: Progress | None = None,
        start_label: str = "",
    ) -> None:
        self.using = using
        self.after_seq = after_seq
        self.after_hash = after_hash
        self.upto_seq = upto_seq
        self.problems = problems
        self.head = head
        self.expect_hash = expect_hash or {}
        self.expect_prune = expect_prune or {}
        self.progress = progress
        self.start_label = start_label
        self.lookups = _LOOKUP_BUDGET
        self.count = 0
        self.first_seq: int | None = None
        self.last_seq = after_seq
        self.last_hash = after_hash

    def _rows(self) -> Any:
        entries = Entry.objects.using(self.using).filter(seq__gt=self.after_seq)
        if self.upto_seq is not None:
            entries = entries.filter(seq__lte=self.upto_seq)
        # fields and detail as their stored text: it is what was hashed, and
        # parsing it would only cost time.
        as_text = TextField()
        # The time, too, is read as text (see _fast_time).
        at = Cast("at", as_text)
        return (
            entries.order_by("seq")
            .values_list(
                "seq",
                at,
                "actor_kind",
                "actor_id",
                "channel",
                "action",
                "patron_id",
                ExpressionWrapper(F("fields"), output_field=as_text),
                "purpose",
                "origin",
                ExpressionWrapper(F("detail"), output_field=as_text),
                "prev_hash",
                "hash",
            )
            .iterator(chunk_size=_CHUNK)
        )

    def run(self) -> _Walk:
        # The loop is the whole cost of verification: locals only, one hash per
        # entry, and any irregularity handed to _diagnose off the fast path.
        encode, sha256, time_text = chain.encode, hashlib.sha256, _time_text
        expect_hash, expect_prune = self.expect_hash, self.expect_prune
        checked = bool(expect_hash or expect_prune)
        progress, every = self.progress, _PROGRESS_EVERY
        expected, last, sound = self.after_seq + 1, self.after_hash, True
        count = 0
        first_seq = None
        for row in self._rows():
            # (seq, at, actor_kind, actor_id, channel, action, patron_id, fields,
            #  purpose, origin, detail, prev_hash, hash): see _rows.
            seq, at, prev, stored = row[0], row[1], row[11], row[12]
            try:
                # _fast_time and _time_text inline: a call per entry costs 5%.
                if (
                    at.__class__ is str
                    and at[10:11] == " "
                    and (
                        (len(at) == 26 and at[23] not in "+-")
                        or (len(at) == 29 and at[26:] == "+00")
                    )
                ):
                    at = f"{at[:10]}T{at[11:26]}+00:00"
                else:
                    at = time_text(at)
                encoded = encode(seq, at, *row[2:11])
                digest = sha256((prev + encoded).encode("utf-8")).hexdigest()
            except (AttributeError, TypeError, ValueError, OverflowError):
                # A value of the wrong type can only come from a write that bypassed append.
                digest = None
            if seq != expected or digest != stored or (prev != last and sound):
                sound = self._diagnose(row, digest, expected, last, sound)
            else:
                sound = True
            if checked and seq in expect_hash:
                for kind_, want, message in expect_hash[seq]:
                    if stored != want:
                        self.problems.add(kind_, seq, message)
            if checked and seq in expect_prune:
                self._check_prune_entry(seq, row[5], row[10], expect_prune[seq])
            if first_seq is None:
                first_seq = seq
            last, expected = stored, seq + 1
            count += 1
            if progress is not None and count % every == 0:
                progress(count, None)
        self.count, self.first_seq = count, first_seq
        self.last_seq, self.last_hash = expected - 1, last
        if progress is not None:
            progress(count, None)
        return self

    # -- the slow path: say precisely what is wrong -----------------------------------

    def _lookup(self, **where: str) -> int | None:
        if self.lookups <= 0:
            return None
        self.lookups -= 1
        return Entry.objects.using(self.using).filter(**where).values_list("seq", flat=True).first()

    def _original_seq(self, row: tuple) -> int | None:
        """The seq an entry hashes correctly under, if it is not its present one.

        Candidates come from the entry's neighbours in the chain as written:
        one after the entry its prev_hash names, one before the entry naming
        its hash, or the head's seq if the head names it.
        """
        seq, at, prev, stored = row[0], row[1], row[11], row[12]
        candidates = []
        before = self._lookup(hash=prev)
        if before is not None:
            candidates.append(before + 1)
        after = self._lookup(prev_hash=stored)
        if after is not None:
            candidates.append(after - 1)
        if self.head is not None and self.head[1] == stored:
            candidates.append(self.head[0])
        for candidate in candidates:
            if candidate == seq:
                continue
            try:
                encoded = chain.encode(candidate, _time_text(at), *row[2:11])
            except (AttributeError, TypeError, ValueError, OverflowError):
                return None
            if chain.link(prev, encoded) == stored:
                return candidate
        return None

    def _diagnose(
        self, row: tuple, digest: str | None, expected: int, last: str, sound: bool
    ) -> bool:
        """Record what is wrong with `row`; return whether the row itself is sound."""
        seq, prev, stored = row[0], row[11], row[12]
        link_checkable = sound
        if seq > expected:
            span = f"#{expected}" if seq == expected + 1 else f"#{expected}–#{seq - 1}"
            self.problems.add("missing", expected, f"entries {span} are missing from the chain")
            # Across a gap there is nothing to link to: trust this entry's own prev_hash.
            link_checkable = False
        elif seq < expected:
            # Only possible for an entry re-inserted inside a pruned range.
            self.problems.add("altered", seq, f"entry #{seq} lies inside the pruned range")
            return False
        if digest != stored:
            original = self._original_seq(row)
            if original is not None:
                self.problems.add(
                    "reordered", seq, f"entry #{seq} was written as #{original}: entries were moved"
                )
            else:
                self.problems.add("altered", seq, f"entry #{seq}'s content does not match its hash")
            return False
        if link_checkable and prev != last:
            elsewhere = self._lookup(hash=prev)
            if elsewhere is not None and elsewhere != seq - 1:
                self.problems.add(
                    "reordered",
                    seq,
                    f"entry #{seq} follows entry #{elsewhere}, not #{seq - 1}: entries were moved",
                )
                # This entry is out of place, so its successor's link to it says nothing new.
                return False
            at_start = seq - 1 == self.after_seq and self.start_label
            what = self.start_label if at_start else f"entry #{seq - 1}"
            self.problems.add(
                "altered",
                seq - 1,
                f"{what} was rewritten: entry #{seq} recorded a different hash for it",
            )
        return True

    def _check_prune_entry(self, seq: int, action: str, detail: str, anchor: PruneAnchor) -> None:
        try:
            recorded = json.loads(detail)
        except ValueError:
            recorded = {}
        if not (
            action == "ledger.prune"
            and isinstance(recorded, dict)
            and recorded.get("through_seq") == anchor.last_seq
            and recorded.get("through_hash") == anchor.last_hash
        ):
            self.problems.add(
                "missing",
                anchor.first_seq,
                f"entries #{anchor.first_seq}–#{anchor.last_seq} were removed, but entry #{seq} "
                "does not record that prune",
            )


def _read_anchors(using: str) -> list[PruneAnchor]:
    return list(PruneAnchor.objects.using(using).order_by("last_seq"))


def _verify_once(
    using: str, public_key: Ed25519PublicKey | None, directory: Path, progress: Progress | None
) -> tuple[VerifyReport, list[tuple[int, int]]]:
    started = time.perf_counter()
    report = VerifyReport()
    problems = _Problems()

    # Order matters while other processes append: anchors, then checkpoints,
    # then the head. A checkpoint read before the head can never be newer
    # than it, and every entry up to the head was committed with it.
    anchors = _read_anchors(using)
    snapshot = [(a.pk, a.last_seq) for a in anchors]
    good, bad = checkpoints.read_checkpoints(public_key, directory)
    head = read_head(using)

    _anchor_problems(anchors, problems)
    latest = anchors[-1] if anchors else None
    after_seq, after_hash = _start(latest)
    report.pruned_through = latest.last_seq if latest else None
    report.head_seq = head[0] if head else None
    stray = (
        Entry.objects.using(using).filter(seq__lte=after_seq).values_list("seq", flat=True).first()
    )
    if stray is not None:
        problems.add("altered", stray, f"entry #{stray} lies inside the pruned range")

    for item in bad:
        problems.add("checkpoint", item.seq, f"checkpoint {item.path.name}: {item.reason}")

    expect_hash: dict[int, list[tuple[str, str, str]]] = {}
    if head is not None:
        expect_hash.setdefault(head[0], []).append(
            ("altered", head[1], f"entry #{head[0]} is not the entry the chain head recorded")
        )
    for cp in good:
        expect_hash.setdefault(cp.seq, []).append(
            (
                "truncated",
                cp.hash,
                (
                    f"checkpoint {cp.path.name} signed a different entry #{cp.seq}: "
                    "the chain was cut back and grown again"
                ),
            )
        )
    expect_prune = {a.entry_seq: a for a in anchors if a.entry_seq > after_seq}

    total = head[0] - after_seq if head else None

    def step(done: int, _total: int | None) -> None:
        if progress is not None:
            progress(done, total)

    walk = _Walk(
        using,
        after_seq,
        after_hash,
        head[0] if head else None,
        problems,
        head=head,
        expect_hash=expect_hash,
        expect_prune=expect_prune,
        progress=step if progress else None,
        start_label="the newest prune anchor",
    ).run()
    report.entries, report.first_seq = walk.count, walk.first_seq
    report.last_seq = walk.last_seq if walk.count else None
    end_seq, end_hash = walk.last_seq, walk.last_hash

    # The end of the chain against the head and the checkpoints.
    ahead = []
    if head is not None and head[0] > end_seq:
        ahead.append(f"the chain head is #{head[0]}")
    elif head is not None and head[0] == end_seq == after_seq and head[1] != end_hash:
        problems.add("truncated", end_seq, "the chain head does not match the prune anchor")
    for cp in good:
        if cp.seq > end_seq:
            ahead.append(f"checkpoint {cp.path.name} signed #{cp.seq}")
        elif cp.seq == after_seq and cp.hash != after_hash:
            problems.add(
                "truncated", cp.seq, f"checkpoint {cp.path.name} signed a different #{cp.seq}"
            )
    if ahead:
        problems.add(
            "truncated",
            end_seq + 1,
            f"the chain ends at #{end_seq} but {ahead[-1]}: the newest entries were deleted",
        )

    for missing_prune in (a for a in anchors if a.entry_seq > end_seq):
        problems.add(
            "missing",
            missing_prune.first_seq,
            f"entries #{missing_prune.first_seq}–#{missing_prune.last_seq} were removed, "
            f"but the entry recording that prune (#{missing_prune.entry_seq}) is gone",
        )

    report.checkpoints = len(good)
    report.newest_checkpoint = good[-1].seq if good else None
    report.problems, report.problem_count = problems.listed, problems.count
    report.seconds = time.perf_counter() - started
    return report, snapshot


def verify(
    progress: Progress | None = None, *, using: str | None = None, home: Path | None = None
) -> VerifyReport:
    """Verify the whole retained chain, the chain head, the prune anchors and the checkpoints.

    `progress(done, total)` is called every few thousand entries. Safe to run
    while others append: it verifies the chain up to the head it read first.
    A prune committed during the run would look like missing entries, so the
    run is repeated once if the prune anchors changed meanwhile.
    """
    db = using or router.db_for_read(Entry)
    public_key = checkpoints.public_key_of(home)
    directory = checkpoints.checkpoints_dir(home)
    report, before = _verify_once(db, public_key, directory, progress)
    if not report.ok and [(a.pk, a.last_seq) for a in _read_anchors(db)] != before:
        report, _ = _verify_once(db, public_key, directory, progress)
    return report


def verify_segment(
    after_seq: int, after_hash: str, upto_seq: int, *, using: str | None = None
) -> tuple[list[Problem], str]:
    """Verify entries (after_seq, upto_seq] chained from `after_hash`, and the link after them.

    Returns the problems found and the stored hash of entry `upto_seq`. Used
    before pruning a segment and before signing a checkpoint.
    """
    db = using or router.db_for_read(Entry)
    problems = _Problems()
    walk = _Walk(db, after_seq, after_hash, upto_seq, problems).run()
    if walk.last_seq < upto_seq:
        problems.add(
            "missing", walk.last_seq + 1, f"entries #{walk.last_seq + 1}–#{upto_seq} are missing"
        )
    following = (
        Entry.objects.using(db).filter(seq=upto_seq + 1).values_list("prev_hash", flat=True).first()
    )
    if following is not None and following != walk.last_hash:
        problems.add(
            "altered", upto_seq, f"entry #{upto_seq + 1} recorded a different hash for #{upto_seq}"
        )
    return sorted(problems.listed, key=_order), walk.last_hash


def checkpointable_head(
    public_key: Ed25519PublicKey, *, home: Path | None = None, using: str | None = None
) -> tuple[int, str]:
    """The head's (seq, hash), once the chain since the newest good checkpoint verifies.

    Raises `ChainBroken` if it does not, or if a checkpoint is ahead of the
    head (entries were deleted): a new checkpoint must never cover tampering.
    """
    db = using or router.db_for_read(Entry)
    anchors = _read_anchors(db)
    good, _ = checkpoints.read_checkpoints(public_key, checkpoints.checkpoints_dir(home))
    head = read_head(db)
    after_seq, after_hash = _start(anchors[-1] if anchors else None)
    if head is None:
        newest = Entry.objects.using(db).order_by("-seq").values_list("seq", "hash").first()
        head = newest or (after_seq, after_hash)
    if good and good[-1].seq > head[0]:
        raise ChainBroken(
            f"Not signing: checkpoint #{good[-1].seq} is newer than the chain head #{head[0]} "
            "(entries were deleted). Run `shelfguard audit verify`."
        )
    usable = [cp for cp in good if cp.seq >= after_seq]
    if usable:
        after_seq, after_hash = usable[-1].seq, usable[-1].hash
    if head[0] == after_seq:
        if head[1] != after_hash:
            raise ChainBroken(
                f"Not signing: the chain head #{head[0]} differs from the checkpoint or anchor "
                "at the same seq. Run `shelfguard audit verify`."
            )
        return head
    problems, last_hash = verify_segment(after_seq, after_hash, head[0], using=db)
    if not problems and last_hash != head[1]:
        problems = [Problem("altered", head[0], "the chain head records a different hash")]
    if problems:
        first = problems[0]
        raise ChainBroken(
            f"Not signing: {first.kind} at #{first.seq} ({first.message}). "
            "Run `shelfguard audit verify`."
        )
    return head
