"""The ledger's doors: append an entry, read entries (which is itself recorded), prune.

`append` is called by every service that reads or changes personal data, inside
that service's own transaction. `query` is how staff and the patron portal read
the ledger. `prune` applies the retention period to the ledger itself: entries
say who looked at whom, which is personal data too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import chain
from shelfguard.ledger.errors import ChainBroken, InvalidEntry, NotInTransaction
from shelfguard.ledger.models import ChainHead, Entry, PruneAnchor

#: Three years, unless `[ledger] retention_days` in shelfguard.toml says otherwise.
DEFAULT_RETENTION_DAYS = 3 * 365

# Column order shared with raw inserts below; `chain.encode` takes the same values.
_COLUMNS = (
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "channel",
    "action",
    "patron_id",
    "fields",
    "purpose",
    "origin",
    "detail",
    "prev_hash",
    "hash",
)


def _in_callers_transaction(connection: Any) -> bool:
    """True inside an `atomic()` block opened by application code.

    The atomic blocks a test case wraps around each test do not count: a
    service that forgot its own `transaction.atomic()` must fail in the test
    suite exactly as it would in production.
    """
    if not connection.in_atomic_block:
        return False
    blocks = getattr(connection, "atomic_blocks", None)
    if blocks is None:
        return True
    return any(not getattr(block, "_from_testcase", False) for block in blocks)


def _lock_head(using: str) -> tuple[int, str]:
    """Lock the chain head for the rest of the transaction; return its (seq, hash).

    On PostgreSQL `SELECT ... FOR UPDATE` makes a second appender wait here
    until the first commits, then read the new head, so two appends can never
    both take the same seq. On SQLite the transaction already holds the
    database's single write lock (settings use `transaction_mode=IMMEDIATE`),
    and there is no FOR UPDATE. If anything slipped through, the primary key
    on `seq` would refuse the second insert rather than let the chain fork.
    """
    connection = connections[using]
    sql = f"SELECT seq, hash FROM {_quoted(connection, ChainHead)} WHERE id = 1"
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        # Plain SQL: building this query through the ORM costs more than the
        # rest of an append together.
        cursor.execute(sql)
        row = cursor.fetchone()
        if row is not None:
            return row[0], row[1]
        # No head row yet: a new database, or tables emptied by a test. Start
        # from whatever the chain already holds; a concurrent first appender
        # inserts the same row and the conflict is ignored, then both queue on
        # the lock.
        newest = Entry.objects.using(using).order_by("-seq").values_list("seq", "hash").first()
        if newest is None:
            anchor = PruneAnchor.objects.using(using).order_by("-last_seq").first()
            newest = (anchor.last_seq, anchor.last_hash) if anchor else (0, chain.GENESIS)
        ChainHead.objects.using(using).bulk_create(
            [ChainHead(pk=1, seq=newest[0], hash=newest[1])], ignore_conflicts=True
        )
        cursor.execute(sql)
        row = cursor.fetchone()
    return row[0], row[1]


def append(
    *,
    actor: Actor,
    action: str,
    purpose: str,
    patron_id: int | None = None,
    fields: Iterable[str] = (),
    origin: str = "",
    detail: Mapping[str, Any] | None = None,
    using: str | None = None,
) -> Entry:
    """Record one access or change in the ledger, in the caller's transaction.

    Call it inside the same `transaction.atomic()` block as the action it
    records, so that both commit or neither does; outside one it raises
    `NotInTransaction`. `patron_id` is an id, never a value; `fields` names
    the personal fields touched; `detail` holds small non-personal extras
    (counts, codes). Codes with control characters, or values a reader could
    take for something else, are refused with `InvalidEntry`.
    """
    db = using or router.db_for_write(Entry)
    if not _in_callers_transaction(connections[db]):
        raise NotInTransaction(
            f"ledger.services.append({action!r}) must run inside the caller's "
            "transaction.atomic() block, so the action and its entry commit together."
        )
    actor_kind, actor_id, channel = chain.check_actor(actor)
    action = chain.check_action(action)
    purpose = chain.check_purpose(purpose)
    patron_id = chain.check_patron_id(patron_id)
    fields_text = chain.fields_json(fields)
    detail_text = chain.detail_json(detail)
    origin = chain.clean_origin(origin)

    prev_seq, prev_hash = _lock_head(db)
    seq = prev_seq + 1
    # Taken after the lock, so times never run backwards along the chain
    # (unless the clock itself does).
    at = clock.now().astimezone(dt.UTC)
    digest = chain.link(
        prev_hash,
        chain.encode(
            seq,
            chain.timestamp(at),
            actor_kind,
            actor_id,
            channel,
            action,
            patron_id,
            fields_text,
            purpose,
            origin,
            detail_text,
        ),
    )
    connection = connections[db]
    values = (
        seq,
        connection.ops.adapt_datetimefield_value(at),
        actor_kind,
        actor_id,
        channel,
        action,
        patron_id,
        fields_text,
        purpose,
        origin,
        detail_text,
        prev_hash,
        digest,
    )
    # Plain SQL for the same reason; the values are already exactly what the
    # columns hold.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One round trip for both writes: on a networked database each
            # statement costs a round trip, which is most of an append's time.
            cursor.execute(_append_sql_postgresql(connection), values)
        else:
            cursor.execute(_insert_sql(connection), values)
            cursor.execute(
                f"UPDATE {_quoted(connection, ChainHead)} SET seq = %s, hash = %s WHERE id = 1",
                (seq, digest),
            )
    entry = Entry(
        seq=seq,
        at=at,
        actor_kind=actor_kind,
        actor_id=actor_id,
        channel=channel,
        action=action,
        patron_id=patron_id,
        fields=json.loads(fields_text),
        purpose=purpose,
        origin=origin,
        detail=json.loads(detail_text),
        prev_hash=prev_hash,
        hash=digest,
    )
    entry._state.adding = False
    entry._state.db = db
    return entry


_SQL: dict[tuple[str, str], str] = {}


def _quoted(connection: Any, model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _insert_sql(connection: Any) -> str:
    sql = _SQL.get(("insert", connection.vendor))
    if sql is None:
        columns = ", ".join(connection.ops.quote_name(c) for c in _COLUMNS)
        placeholders = ", ".join(["%s"] * len(_COLUMNS))
        sql = f"INSERT INTO {_quoted(connection, Entry)} ({columns}) VALUES ({placeholders})"
        _SQL[("insert", connection.vendor)] = sql
    return sql


def _append_sql_postgresql(connection: Any) -> str:
    """The insert and the head update as one statement (a data-modifying CTE)."""
    sql = _SQL.get(("append", connection.vendor))
    if sql is None:
        head = _quoted(connection, ChainHead)
        sql = (
            f"WITH new AS ({_insert_sql(connection)} RETURNING seq, hash) "
            f"UPDATE {head} SET seq = new.seq, hash = new.hash FROM new WHERE {head}.id = 1"
        )
        _SQL[("append", connection.vendor)] = sql
    return sql


def _start_of(day: dt.date | dt.datetime) -> dt.datetime:
    """A date means its first moment in the library's time zone; datetimes must be aware."""
    if isinstance(day, dt.datetime):
        if timezone.is_naive(day):
            raise InvalidEntry("since must be a date or a timezone-aware datetime.")
        return day
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def query(
    *,
    actor: Actor,
    purpose: str,
    patron_id: int | None = None,
    actor_id: str | None = None,
    since: dt.date | dt.datetime | None = None,
    limit: int | None = None,
    using: str | None = None,
) -> list[Entry]:
    """Entries about one patron (`patron_id`) and/or by one actor (`actor_id`), oldest first.

    Reading the ledger is itself an access to personal data (who looked at
    whom), so it is recorded as a `ledger.query` entry in the same
    transaction: the kinds of filter used and the number of results, and the
    patron id when one was asked for; the actor and date searched for are not
    written down. `since` is a date (from its start in the library's time
    zone) or an aware datetime; `limit` keeps the newest N matches.
    """
    if patron_id is None and actor_id is None:
        raise InvalidEntry("Name a patron id or an actor to query the ledger.")
    patron_id = chain.check_patron_id(patron_id)
    if limit is not None and limit < 1:
        raise InvalidEntry("limit must be a positive number of entries.")
    db = using or router.db_for_write(Entry)
    entries = Entry.objects.using(db).all()
    filters = []
    if patron_id is not None:
        entries = entries.filter(patron_id=patron_id)
        filters.append("patron")
    if actor_id is not None:
        entries = entries.filter(actor_id=actor_id)
        filters.append("actor")
    if since is not None:
        entries = entries.filter(at__gte=_start_of(since))
        filters.append("since")
    with transaction.atomic(using=db):
        if limit is None:
            found = list(entries.order_by("seq"))
        else:
            found = list(entries.order_by("-seq")[:limit])[::-1]
        append(
            actor=actor,
            action="ledger.query",
            purpose=purpose,
            patron_id=patron_id,
            detail={"filters": filters, "results": len(found)},
            using=db,
        )
    return found


def entries_about(
    patron_id: int,
    *,
    actor: Actor,
    purpose: str,
    offset: int = 0,
    limit: int = 50,
    using: str | None = None,
) -> tuple[list[Entry], int]:
    """One page of the entries about a patron, newest first, and how many there are in all.

    For the patron's own "who looked at my record" page. Reading it is
    recorded like `query` (a `ledger.query` entry naming the patron, the
    page's size and the total), and that entry is written after the page is
    read, so it appears the next time.
    """
    patron_id = chain.check_patron_id(patron_id)
    if patron_id is None:
        raise InvalidEntry("Name the patron whose entries to read.")
    if offset < 0 or limit < 1:
        raise InvalidEntry("offset must be zero or more and limit a positive number of entries.")
    db = using or router.db_for_write(Entry)
    entries = Entry.objects.using(db).filter(patron_id=patron_id)
    with transaction.atomic(using=db):
        total = entries.count()
        found = list(entries.order_by("-seq")[offset : offset + limit])
        append(
            actor=actor,
            action="ledger.query",
            purpose=purpose,
            patron_id=patron_id,
            detail={"filters": ["patron", "page"], "results": len(found), "total": total},
            using=db,
        )
    return found, total


def retention_days() -> int:
    """Days ledger entries are kept: `[ledger] retention_days`, default three years."""
    value = settings.CONFIG.get("ledger", {}).get("retention_days", DEFAULT_RETENTION_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidEntry(
            f"[ledger] retention_days in shelfguard.toml must be a positive whole number "
            f"of days, not {value!r}."
        )
    return value


def default_prune_before() -> dt.date:
    """Today minus the retention period: entries older than this are due for pruning."""
    return clock.today() - dt.timedelta(days=retention_days())


def _month_start(moment: dt.datetime) -> dt.datetime:
    moment = moment.astimezone(dt.UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(start: dt.datetime) -> dt.datetime:
    return (start + dt.timedelta(days=32)).replace(day=1)


def prune(
    before: dt.date,
    *,
    actor: Actor | None = None,
    purpose: str = "retention",
    using: str | None = None,
) -> int:
    """Delete the entries of whole calendar months (UTC) that ended on or before `before`.

    Pruning works on whole months so the ledger is cut at predictable
    places: an entry is kept until the end of the month in which it passes
    `before`, never removed early. The oldest month goes first, each in its
    own transaction (a long backlog never holds the write lock for long, and
    an interrupted prune can simply run again). For each month it verifies the
    segment (evidence of tampering is never destroyed), deletes it, appends a
    `ledger.prune` entry and leaves a `PruneAnchor` (seq and hash of the last
    entry removed, and the count) from which `verify` continues. Returns the
    number of entries deleted.
    """
    from shelfguard.ledger.verify import verify_segment

    if isinstance(before, dt.datetime) or not isinstance(before, dt.date):
        raise InvalidEntry("prune(before=...) takes a date.")
    if before > clock.today():
        raise InvalidEntry("Cannot prune entries newer than today.")
    actor = actor or Actor.system("ledger-retention")
    cutoff = dt.datetime(before.year, before.month, 1, tzinfo=dt.UTC)
    db = using or router.db_for_write(Entry)
    total = 0
    limit_seq: int | None = None
    while True:
        with transaction.atomic(using=db):
            head_seq, _ = _lock_head(db)
            if limit_seq is None:
                # Only entries that existed when the prune began: never the
                # prune's own entries, whatever the clock says.
                limit_seq = head_seq
            anchor = PruneAnchor.objects.using(db).order_by("-last_seq").first()
            start, start_hash = (
                (anchor.last_seq + 1, anchor.last_hash) if anchor else (1, chain.GENESIS)
            )
            oldest = (
                Entry.objects.using(db)
                .filter(seq__gte=start, seq__lte=limit_seq)
                .order_by("seq")
                .values_list("seq", "at")
                .first()
            )
            if oldest is None or oldest[1] >= cutoff:
                return total
            month_end = min(_next_month(_month_start(oldest[1])), cutoff)
            # The segment is the prefix of the chain up to the first entry of a
            # later month. Deleting by prefix, not by date, keeps the rest of
            # the chain gapless even if the clock once stepped back.
            first_kept = (
                Entry.objects.using(db)
                .filter(seq__gte=start, at__gte=month_end)
                .order_by("seq")
                .values_list("seq", flat=True)
                .first()
            )
            end = min(limit_seq, first_kept - 1 if first_kept is not None else head_seq)
            problems, last_hash = verify_segment(start - 1, start_hash, end, using=db)
            if problems:
                first = problems[0]
                raise ChainBroken(
                    f"Not pruning: the ledger does not verify ({first.kind} at #{first.seq}: "
                    f"{first.message}). Run `shelfguard audit verify` and investigate first."
                )
            count = Entry.objects.using(db).filter(seq__gte=start, seq__lte=end)._prune()
            recorded = append(
                actor=actor,
                action="ledger.prune",
                purpose=purpose,
                detail={
                    "first_seq": start,
                    "through_seq": end,
                    "through_hash": last_hash,
                    "count": count,
                    "before": month_end.date().isoformat(),
                },
                using=db,
            )
            PruneAnchor.objects.using(db).create(
                first_seq=start,
                last_seq=end,
                last_hash=last_hash,
                count=count,
                cutoff=month_end,
                pruned_at=recorded.at,
                entry_seq=recorded.seq,
            )
            total += count
