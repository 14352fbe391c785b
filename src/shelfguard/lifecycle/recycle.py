"""The recycle bin: staff deletions are kept for `[lifecycle] bin_days`, then purged.

Promise 7 (nothing lost by accident). Deleting a record, an item, a loan
policy, a branch or a staff account takes a snapshot (Django's JSON
serialisation) of the object and of every row its deletion takes with it,
found by Django's own deletion collector, so nothing cascades unseen. A
deletion that would take rows the bin cannot give back (a hold, a loan) is
refused and says what to resolve first. A restore puts every row back with
its original primary key and links, or refuses, saying why, when something it
points to is gone or a unique value (a barcode, a branch code) was reused.

A patron is different: their row is sealed and their data key stays in the
keystore while in the bin. Binning a patron moves the blind indexes and name
tokens (keyed hashes, never plaintext) into the snapshot and closes the card,
so the card finds nobody at the desk, the portal refuses them and they cannot
borrow. When the period ends, the patron is crypto-erased through
`patrons.services.erase`.

Every delete, restore and purge writes its ledger entry in its transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.exceptions import ImproperlyConfigured
from django.db import models, router, transaction
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.utils.translation import gettext as _

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.lifecycle.models import BinEntry

Kind = BinEntry.Kind

PURGE_PURPOSE = "recycle bin purge"
_UNRESTORED = {"accounts.staffsession"}  # a deleted account's sessions end for good


class BinError(ValueError):
    """A bin action refused: `code` is stable, the message says what to do (no personal value)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- settings -------------------------------------------------------------------------------


def lifecycle_setting(name: str, default: int, low: int, high: int) -> int:
    """A whole-number `[lifecycle]` setting of shelfguard.toml, within bounds."""
    table = getattr(settings, "CONFIG", {}).get("lifecycle", {})
    if not isinstance(table, dict):
        raise ImproperlyConfigured("[lifecycle] in shelfguard.toml must be a table.")
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ImproperlyConfigured(
            f"[lifecycle] {name} in shelfguard.toml must be a whole number from {low} to {high}."
        )
    return value


def bin_days() -> int:
    return lifecycle_setting("bin_days", 30, 1, 3650)


# --- what each kind is ----------------------------------------------------------------------


@dataclass(frozen=True)
class KindSpec:
    model: str  # app_label.model
    permission: str
    branch_of: Callable[[Any], int | None]
    label: Callable[[Any], str]
    # Models (app_label.model) a deletion of this kind may take with it.
    dependents: frozenset[str] = frozenset()
    any_dependents: bool = False


SPECS: dict[str, KindSpec] = {
    Kind.RECORD: KindSpec(
        "catalog.record",
        "catalog.change",
        lambda o: None,
        lambda o: f"{o.control_number}: {o.title[:80]}",
        frozenset({"catalog.item"}),
    ),
    Kind.ITEM: KindSpec(
        "catalog.item", "catalog.change", lambda o: o.branch_id, lambda o: o.barcode
    ),
    Kind.POLICY: KindSpec(
        "circulation.loanpolicy",
        "circulation.rules",
        lambda o: o.branch_id,
        lambda o: f"policy {o.pk}",
    ),
    Kind.BRANCH: KindSpec(
        "core.branch",
        "staff.manage",
        lambda o: None,
        lambda o: o.code,
        frozenset(
            {"circulation.branchcalendar", "circulation.openinghours", "circulation.closedday"}
        ),
    ),
    Kind.STAFF: KindSpec(
        "accounts.staffuser",
        "staff.manage",
        lambda o: o.branch_id,
        lambda o: o.username,
        any_dependents=True,
    ),
    Kind.PATRON: KindSpec(
        "patrons.patron", "patron.erase", lambda o: o.home_branch_id, lambda o: f"patron {o.pk}"
    ),
}


def permission_for(kind: str) -> str:
    return SPECS[kind].permission


def _model(kind: str) -> type[models.Model]:
    return apps.get_model(SPECS[kind].model)


def _who(actor: Actor) -> str:
    return f"{actor.kind}:{actor.ident}"[:180]


def authorise(actor: Actor, code: str, *, purpose: str, branch: int | None = None) -> None:
    """Quietly return when `actor` may do `code`; raise `accounts` `AccessDenied` if not."""
    from shelfguard.accounts import services as accounts

    if not isinstance(purpose, str) or not purpose.strip():
        raise BinError("purpose", _("Say why: every use needs a purpose."))
    if actor.kind in ("system", "cli") or actor.channel == "job":
        return
    if actor.kind == "staff":
        staff = accounts.StaffUser.objects.filter(username=actor.ident).first()
        accounts.require(staff, code, purpose=purpose, branch=branch, channel=actor.channel)
        return
    raise BinError("not_staff", _("Only staff may use the recycle bin."))


# --- deleting -------------------------------------------------------------------------------


def _collect(objs: list[models.Model], spec: KindSpec) -> tuple[Collector, list[models.Model]]:
    db = router.db_for_write(type(objs[0]))
    collector = Collector(using=db)
    try:
        collector.collect(objs)
    except (ProtectedError, RestrictedError) as exc:
        blocking = getattr(exc, "protected_objects", None) or exc.restricted_objects
        names = sorted({str(type(o)._meta.verbose_name_plural) for o in blocking})
        raise BinError(
            "in_use",
            _("Other rows still use it (%(what)s); resolve or move those first, then delete.")
            % {"what": ", ".join(names)},
        ) from None
    instances: list[models.Model] = []
    for found in collector.data.values():
        instances.extend(found)
    for qs in collector.fast_deletes:
        instances.extend(qs)
    own = {type(o)._meta.label_lower for o in objs}
    foreign = sorted(
        {
            str(type(o)._meta.verbose_name_plural)
            for o in instances
            if type(o)._meta.label_lower not in own | spec.dependents
            and not type(o)._meta.auto_created
        }
    )
    if foreign and not spec.any_dependents:
        raise BinError(
            "takes_others",
            _(
                "Deleting it would also delete %(what)s, which the bin cannot give back; "
                "resolve those first."
            )
            % {"what": ", ".join(foreign)},
        )
    if any(_non_empty(batch) for batches in collector.field_updates.values() for batch in batches):
        raise BinError(
            "relinks",
            _("Other rows point to it and would lose that link; change them first."),
        )
    return collector, instances


def _non_empty(batch: Any) -> bool:
    return batch.exists() if isinstance(batch, models.QuerySet) else bool(batch)


def _serialise(instances: Iterable[models.Model]) -> list[dict[str, Any]]:
    kept = [
        o
        for o in instances
        if not type(o)._meta.auto_created and type(o)._meta.label_lower not in _UNRESTORED
    ]
    return _exact(kept)


class _ExactEncoder(json.JSONEncoder):
    """Like Django's JSON encoder, but times keep their microseconds (a restore is exact)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.date | dt.time):
            return o.isoformat()
        if isinstance(o, Decimal | UUID):
            return str(o)
        return super().default(o)


def _exact(instances: Iterable[models.Model], fields: list[str] | None = None) -> list[dict]:
    rows = serializers.serialize("python", list(instances), fields=fields)
    return json.loads(json.dumps(rows, cls=_ExactEncoder))


def _rows_of(snapshot: list[dict]) -> list[Any]:
    return list(serializers.deserialize("python", snapshot))


def _lock(kind: str, object_id: int) -> models.Model:
    model = _model(kind)
    obj = model._default_manager.select_for_update().filter(pk=object_id).first()
    if obj is None:
        raise BinError("not_found", _("There is no such %(kind)s.") % {"kind": kind})
    return obj


def _new_entry(
    kind: str, obj: models.Model, snapshot: list, *, actor: Actor, reason: str
) -> BinEntry:
    now = clock.now()
    return BinEntry.objects.create(
        kind=kind,
        object_id=obj.pk,
        label=SPECS[kind].label(obj)[:200],
        snapshot=snapshot,
        rows=len(snapshot),
        deleted_by=_who(actor),
        deleted_at=now,
        reason=reason[:200],
        purge_after=now + dt.timedelta(days=bin_days()),
    )


def _clean_reason(reason: str) -> str:
    reason = " ".join(str(reason or "").split())
    if len(reason) > 200:
        raise BinError(
            "reason", _("Keep the reason under 200 characters, without personal details.")
        )
    return reason


def move_to_bin(
    kind: str, obj: models.Model, *, actor: Actor, purpose: str, reason: str = ""
) -> BinEntry:
    """Bin an object the caller has authorised and locked, in the caller's transaction.

    For the delete paths of other services (e.g. `circulation.delete_policy`),
    which check their own rules first and write their own ledger entry too.
    """
    spec = SPECS[kind]
    reason = _clean_reason(reason)
    if kind == Kind.PATRON:
        return _bin_patron(obj, actor=actor, purpose=purpose, reason=reason)
    if kind == Kind.STAFF and actor.kind == "staff" and obj.username == actor.ident:
        raise BinError("self", _("You cannot delete your own account; ask another administrator."))
    snapshot: list[dict[str, Any]] = []
    if kind == Kind.RECORD:
        # Items protect their record: bin them with it, so the pair comes back whole.
        items = list(obj.items.select_for_update())
        if items:
            collector, found = _collect(items, SPECS[Kind.ITEM])
            snapshot += _serialise(found)
            collector.delete()
    collector, found = _collect([obj], spec)
    root = _serialise(found)
    # The object first, then what hangs from it, so a reader sees the root at [0].
    root.sort(key=lambda row: row["model"] != spec.model)
    snapshot = root + snapshot
    entry = _new_entry(kind, obj, snapshot, actor=actor, reason=reason)
    collector.delete()
    _reindex(kind, obj.pk if kind == Kind.RECORD else getattr(obj, "record_id", None), gone=True)
    ledger.append(
        actor=actor,
        action="bin.delete",
        purpose=purpose,
        detail={"entry": entry.pk, "kind": kind, "object": entry.object_id, "rows": entry.rows},
    )
    return entry


def delete(kind: str, object_id: int, *, actor: Actor, purpose: str, reason: str = "") -> BinEntry:
    """Delete one object by moving it to the recycle bin (the staff-facing delete)."""
    if kind not in SPECS:
        raise BinError("kind", _("Unknown kind; use one of: %(k)s.") % {"k": ", ".join(SPECS)})
    with transaction.atomic():
        obj = _lock(kind, object_id)
        authorise(actor, SPECS[kind].permission, purpose=purpose, branch=SPECS[kind].branch_of(obj))
        return move_to_bin(kind, obj, actor=actor, purpose=purpose, reason=reason)


def bulk_threshold() -> int:
    return lifecycle_setting("bulk_threshold", 100, 1, 1_000_000)


def delete_many(
    kind: str,
    object_ids: list[int],
    *,
    actor: Actor,
    purpose: str,
    reason: str = "",
    approval: int | None = None,
) -> list[BinEntry]:
    """Bin several objects at once; above `[lifecycle] bulk_threshold` it needs an approval."""
    from shelfguard.lifecycle import approvals

    ids = sorted({int(i) for i in object_ids})
    if not ids:
        raise BinError("empty", _("Name at least one object to delete."))
    with transaction.atomic():
        if len(ids) > bulk_threshold():
            approvals.consume(
                approval, approvals.BULK_DELETE, {"kind": kind, "ids": ids}, actor=actor
            )
        return [delete(kind, i, actor=actor, purpose=purpose, reason=reason) for i in ids]


def _reindex(kind: str, record_id: int | None, *, gone: bool) -> None:
    """Keep the catalogue search index in step with binned and restored records and items."""
    if kind not in (Kind.RECORD, Kind.ITEM) or record_id is None:
        return
    from shelfguard.catalog.search import get_backend

    if gone and kind == Kind.RECORD:
        get_backend().remove_records([record_id])
    else:
        get_backend().index_records([record_id])


# --- patrons --------------------------------------------------------------------------------

_PATRON_FIELDS = ["status", "card_index", "email_index", "phone_index", "address_index"]


def _bin_patron(row: Any, *, actor: Actor, purpose: str, reason: str) -> BinEntry:
    from shelfguard.patrons import services as patrons
    from shelfguard.patrons.models import PatronNameToken, PatronStatus

    if row.status == PatronStatus.ERASED:
        raise BinError("erased", _("This patron is erased already; nothing is left to delete."))
    if BinEntry.objects.filter(kind=Kind.PATRON, object_id=row.pk, state="binned").exists():
        raise BinError("binned", _("This patron is in the recycle bin already."))
    outstanding = patrons.outstanding_obligations(row)
    if outstanding:
        raise BinError(
            "obligations",
            _("The patron still has loans, holds or fees; settle them first, then delete."),
        )
    tokens = list(PatronNameToken.objects.filter(patron=row))
    snapshot = _exact([row], fields=_PATRON_FIELDS) + _exact(tokens)
    entry = _new_entry(Kind.PATRON, row, snapshot, actor=actor, reason=reason)
    PatronNameToken.objects.filter(patron=row).delete()
    row.card_index = row.email_index = row.phone_index = row.address_index = None
    row.status = PatronStatus.CLOSED
    row.updated_at = clock.now()
    row.save(update_fields=[*_PATRON_FIELDS, "updated_at"])
    ledger.append(
        actor=actor,
        action="bin.delete",
        purpose=purpose,
        patron_id=row.pk,
        detail={"entry": entry.pk, "kind": Kind.PATRON, "rows": entry.rows},
    )
    return entry


def binned_patron_ids() -> set[int]:
    return set(
        BinEntry.objects.filter(kind=Kind.PATRON, state=BinEntry.State.BINNED).values_list(
            "object_id", flat=True
        )
    )


def _restore_patron(entry: BinEntry) -> None:
    from shelfguard.patrons.models import Patron, PatronStatus

    row = Patron.objects.select_for_update().filter(pk=entry.object_id).first()
    if row is None or row.status == PatronStatus.ERASED:
        raise BinError("gone", _("The patron was erased meanwhile; there is nothing to restore."))
    saved = entry.snapshot[0]["fields"]
    card = _decode_binary(saved.get("card_index"))
    if card and Patron.objects.filter(card_index=card).exclude(pk=row.pk).exists():
        raise BinError(
            "reused",
            _(
                "The card number was given to another patron meanwhile; issue that patron a "
                "new card first, then restore."
            ),
        )
    for token in _rows_of(entry.snapshot[1:]):
        token.save()
    row.status = saved["status"]
    row.card_index = card
    row.email_index = _decode_binary(saved.get("email_index"))
    row.phone_index = _decode_binary(saved.get("phone_index"))
    row.address_index = _decode_binary(saved.get("address_index"))
    row.save(update_fields=_PATRON_FIELDS)


def _decode_binary(value: str | None) -> bytes | None:
    import base64

    return base64.b64decode(value) if value else None


# --- restoring ------------------------------------------------------------------------------


def _unique_problems(obj: models.Model, restoring: set[tuple[str, Any]]) -> list[str]:
    meta = type(obj)._meta
    manager = type(obj)._default_manager
    problems = []
    if manager.filter(pk=obj.pk).exists():
        problems.append(_("a %(what)s with the same id exists") % {"what": meta.verbose_name})
    groups = [[f.attname] for f in meta.local_fields if f.unique and not f.primary_key]
    for constraint in meta.constraints:
        whole = isinstance(constraint, models.UniqueConstraint) and constraint.condition is None
        if whole and constraint.fields:
            groups.append([meta.get_field(n).attname for n in constraint.fields])
    for group in groups:
        values = {name: getattr(obj, name) for name in group}
        if any(v is None for v in values.values()):
            continue
        if manager.filter(**values).exclude(pk=obj.pk).exists():
            problems.append(
                _(
                    "the %(field)s of this %(what)s is used by another one now; change that one "
                    "first"
                )
                % {
                    "field": ", ".join(n.removesuffix("_id") for n in group),
                    "what": meta.verbose_name,
                }
            )
    return problems


def _missing_links(obj: models.Model, restoring: set[tuple[str, Any]]) -> list[str]:
    problems = []
    for field in type(obj)._meta.concrete_fields:
        if not field.is_relation or not field.many_to_one and not field.one_to_one:
            continue
        value = getattr(obj, field.attname)
        if value is None:
            continue
        target = field.related_model
        if (target._meta.label_lower, value) in restoring:
            continue
        if not target._default_manager.filter(pk=value).exists():
            held = BinEntry.objects.filter(
                state=BinEntry.State.BINNED,
                object_id=value,
                kind__in=[k for k, s in SPECS.items() if s.model == target._meta.label_lower],
            ).first()
            hint = (
                _("restore bin entry %(n)d first") % {"n": held.pk}
                if held
                else _("it cannot come back; recreate it first")
            )
            problems.append(
                _("the %(what)s it belongs to is gone (%(hint)s)")
                % {"what": target._meta.verbose_name, "hint": hint}
            )
    return problems


def _missing_m2m(found: Any) -> list[str]:
    """Links to many (a staff member's roles) whose other end is gone."""
    problems = []
    for name, pks in (found.m2m_data or {}).items():
        target = type(found.object)._meta.get_field(name).related_model
        if target._default_manager.filter(pk__in=pks).count() != len(set(pks)):
            problems.append(
                _("a %(what)s it was linked to is gone; recreate it first")
                % {"what": target._meta.verbose_name}
            )
    return problems


def restore(entry_id: int, *, actor: Actor, purpose: str) -> BinEntry:
    """Put a binned object back exactly, links included, or refuse saying what to do."""
    with transaction.atomic():
        entry = BinEntry.objects.select_for_update().filter(pk=entry_id).first()
        if entry is None:
            raise BinError("not_found", _("There is no such recycle bin entry."))
        if entry.state != BinEntry.State.BINNED:
            raise BinError(
                "not_binned",
                _("This entry was %(state)s already; nothing to restore.") % {"state": entry.state},
            )
        spec = SPECS[entry.kind]
        branch = entry.snapshot[0]["fields"].get("branch") if entry.snapshot else None
        if entry.kind == Kind.PATRON:
            from shelfguard.patrons.models import Patron

            branch = (
                Patron.objects.filter(pk=entry.object_id)
                .values_list("home_branch_id", flat=True)
                .first()
            )
        authorise(actor, spec.permission, purpose=purpose, branch=branch)
        if entry.kind == Kind.PATRON:
            _restore_patron(entry)
        else:
            _restore_rows(entry)
            record_id = entry.snapshot[0]["fields"].get("record") or entry.object_id
            _reindex(entry.kind, record_id, gone=False)
        entry.state = BinEntry.State.RESTORED
        entry.restored_by = _who(actor)
        entry.restored_at = clock.now()
        entry.save(update_fields=["state", "restored_by", "restored_at"])
        ledger.append(
            actor=actor,
            action="bin.restore",
            purpose=purpose,
            patron_id=entry.object_id if entry.kind == Kind.PATRON else None,
            detail={
                "entry": entry.pk,
                "kind": entry.kind,
                "object": entry.object_id,
                "rows": entry.rows,
            },
        )
    return entry


def _restore_rows(entry: BinEntry) -> None:
    objects = _rows_of(entry.snapshot)
    restoring = {(type(o.object)._meta.label_lower, o.object.pk) for o in objects}
    problems: list[str] = []
    for found in objects:
        problems += _unique_problems(found.object, restoring)
        problems += _missing_links(found.object, restoring)
        problems += _missing_m2m(found)
    if problems:
        unique = list(dict.fromkeys(problems))
        raise BinError("cannot_restore", _("Cannot restore: %(why)s.") % {"why": "; ".join(unique)})
    # Foreign keys are checked at commit (deferred), so the order within is free.
    for found in objects:
        found.save()


# --- listing and purging --------------------------------------------------------------------


def entries(*, kind: str | None = None, state: str = BinEntry.State.BINNED) -> list[BinEntry]:
    rows = BinEntry.objects.defer("snapshot").filter(state=state)
    if kind:
        rows = rows.filter(kind=kind)
    return list(rows)


def entry_dict(entry: BinEntry, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or clock.now()
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "object_id": entry.object_id,
        "label": entry.label,
        "rows": entry.rows,
        "state": entry.state,
        "deleted_by": entry.deleted_by,
        "deleted_at": entry.deleted_at.isoformat(),
        "age_days": (now - entry.deleted_at).days,
        "purge_after": entry.purge_after.isoformat(),
        "restored_by": entry.restored_by,
        "restored_at": entry.restored_at.isoformat() if entry.restored_at else None,
    }


def due(now: dt.datetime | None = None) -> list[BinEntry]:
    """Entries whose period has ended: purge_after at or before now."""
    now = now or clock.now()
    return list(
        BinEntry.objects.filter(state=BinEntry.State.BINNED, purge_after__lte=now).order_by("id")
    )


def purge(
    *,
    actor: Actor,
    purpose: str = PURGE_PURPOSE,
    dry_run: bool = False,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Destroy what has been in the bin past its period; binned patrons are crypto-erased."""
    from shelfguard.core import progress
    from shelfguard.patrons import services as patrons

    now = clock.now()
    found = due(now)
    counts: dict[str, int] = {}
    refused: list[int] = []
    if dry_run:
        for entry in found:
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
        return {"dry_run": True, "purged": counts, "refused": refused}
    with progress.count_progress(len(found), "purging the recycle bin", show_progress) as bar:
        for entry in found:
            with transaction.atomic():
                locked = BinEntry.objects.select_for_update().get(pk=entry.pk)
                if locked.state != BinEntry.State.BINNED:
                    continue
                if locked.kind == Kind.PATRON:
                    try:
                        patrons.erase(
                            locked.object_id,
                            actor=actor,
                            reason="recycle bin period ended",
                            purpose=purpose,
                        )
                    except patrons.PatronError:
                        refused.append(locked.pk)
                        continue
                locked.snapshot = []
                locked.state = BinEntry.State.PURGED
                locked.purged_at = now
                locked.save(update_fields=["snapshot", "state", "purged_at"])
                counts[locked.kind] = counts.get(locked.kind, 0) + 1
            if bar is not None:
                bar.advance(bar.task_ids[0])
    with transaction.atomic():
        ledger.append(
            actor=actor,
            action="bin.purge",
            purpose=purpose,
            detail={**{f"purged_{k}": v for k, v in counts.items()}, "refused": len(refused)},
        )
    return {"dry_run": False, "purged": counts, "refused": refused}


def run_scheduled_purge() -> dict[str, int]:
    """The job runner's entry point (job "bin-purge")."""
    result = purge(actor=Actor.system("bin-purge"))
    return {**result["purged"], "refused": len(result["refused"])}
