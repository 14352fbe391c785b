"""Promise 4: reading history is the patron's.

After a loan ends nothing outside the ledger and the patrons app keeps the
patron's id; a kept history is the patron's to read and delete; withdrawing
consent unlinks it at once; statistics cannot identify anyone; the ledger
records that a patron borrowed, never what.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.core.management.color import no_style
from django.db import connections, models, router

from shelfguard.circulation import services
from shelfguard.circulation.models import CirculationStat, Hold, Loan
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Patron

from .conftest import BOTH_DATABASES, DESK, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]

#: A patron id that cannot be mistaken for any other number in the database.
DISTINCT_ID = 987_654_321


@pytest.fixture
def distinct_patron(make_patron):
    """A patron whose id is DISTINCT_ID, so a scan for it finds only real traces."""
    Patron.objects.create(pk=DISTINCT_ID - 1, status="closed")
    connection = connections[router.db_for_write(Patron)]
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [Patron]):
            cursor.execute(statement)
    patron = make_patron()
    assert patron.pk == DISTINCT_ID
    return patron


def traces_of(patron_id: int) -> list[str]:
    """Every column of every model outside the ledger and patrons apps that holds the id."""
    needle = str(patron_id)
    found = []
    for model in apps.get_models():
        if model._meta.app_label in {"ledger", "patrons"}:
            continue
        db = router.db_for_read(model)
        if not router.allow_migrate_model(db, model):
            continue
        fields = [f for f in model._meta.concrete_fields]
        for row in model._default_manager.using(db).values_list(*[f.attname for f in fields]):
            for field, value in zip(fields, row, strict=True):
                if value is None:
                    continue
                if isinstance(value, (bytes, memoryview)):
                    hit = needle.encode() in bytes(value)
                elif isinstance(field, models.ForeignKey) and field.related_model is Patron:
                    hit = value == patron_id
                else:
                    hit = needle in str(value)
                if hit:
                    found.append(f"{model._meta.label}.{field.attname}")
    return found


def test_nothing_outside_the_ledger_and_patrons_keeps_the_patron_after_a_return(
    distinct_patron, copy, title
):
    item = copy()
    services.checkout(distinct_patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert traces_of(DISTINCT_ID) == ["circulation.Loan.patron_id"]  # the scan does see it

    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)

    assert traces_of(DISTINCT_ID) == []
    loan = Loan.objects.get()
    assert (loan.patron_category, loan.age_band, loan.loaned_on) == (
        "adult",
        "14_plus",
        dt.date(2026, 6, 10),
    )


def test_nothing_keeps_the_patron_after_a_hold_is_filled_or_cancelled(distinct_patron, copy, title):
    record = title()
    item = copy(record)
    other = copy(title())
    services.place_hold(
        distinct_patron, record=record.pk, pickup_branch="MAIN", actor=DESK, purpose=PURPOSE
    )
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.checkout(distinct_patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    cancelled = services.place_hold(
        distinct_patron, record=other.record_id, pickup_branch="EAST", actor=DESK, purpose=PURPOSE
    )
    services.cancel_hold(cancelled.pk, actor=DESK, purpose=PURPOSE)

    assert traces_of(DISTINCT_ID) == []
    assert Hold.objects.filter(patron__isnull=True).count() == 2


def test_a_kept_history_is_the_patrons_and_withdrawal_unlinks_it_at_once(make_patron, copy):
    patron = make_patron(consents=("reading_history",))
    item = copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    result = services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert result.kept_link

    me = type(DESK)(kind="patron", ident=str(patron.pk), channel="web")
    history = services.reading_history(patron, actor=me, purpose="my history")
    assert [row["barcode"] for row in history] == [item.barcode]
    assert Entry.objects.filter(action="circulation.history_read", patron_id=patron.pk).exists()

    patrons.withdraw_consent(patron, "reading_history", actor=me)

    assert Loan.objects.get().patron_id is None
    assert services.reading_history(patron, actor=me, purpose="my history") == []


def test_the_patron_can_delete_their_history(make_patron, copy):
    patron = make_patron(consents=("reading_history",))
    item = copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    me = type(DESK)(kind="patron", ident=str(patron.pk), channel="web")
    assert services.delete_history(patron, actor=me, purpose="my history") == 1
    assert Loan.objects.get().patron_id is None


def test_a_patron_cannot_read_another_patrons_history(make_patron):
    from shelfguard.accounts.services import AccessDenied

    someone, other = make_patron(), make_patron()
    me = type(DESK)(kind="patron", ident=str(someone.pk), channel="web")
    with pytest.raises(AccessDenied):
        services.reading_history(other, actor=me, purpose="curiosity")


def test_erasure_removes_a_kept_history_link(make_patron, copy):
    patron = make_patron(consents=("reading_history",))
    item = copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.place_hold(
        patron, record=item.record_id, pickup_branch="MAIN", actor=DESK, purpose=PURPOSE
    )

    patrons.erase(patron, actor=DESK, reason="patron request")

    assert Loan.objects.get().patron_id is None
    assert Hold.objects.get().patron_id is None


#: The only columns a statistics cell may have: none of them can point at a person.
_STAT_COLUMNS = {
    "id",
    "day",
    "action",
    "branch",
    "item_type",
    "patron_category",
    "age_band",
    "count",
}


def _statistics_tables():
    return [
        m
        for m in apps.get_models()
        if m._meta.model_name.endswith(("stat", "stats", "statistic", "statistics"))
    ]


@pytest.mark.parametrize("model", _statistics_tables(), ids=lambda m: m._meta.label)
def test_no_statistics_column_can_identify_a_patron(model):
    for field in model._meta.concrete_fields:
        assert not field.is_relation, f"{field.name} links to another table"
        assert not isinstance(field, (models.DateTimeField, models.TimeField)), (
            f"{field.name} is finer than a day"
        )
        assert field.name in _STAT_COLUMNS, f"{field.name} is not a known de-identified column"


def test_every_statistics_table_is_checked():
    assert _statistics_tables() == [CirculationStat]


def test_statistics_are_recorded_de_identified_at_the_moment(make_patron, copy):
    item = copy()
    services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.checkin(item.barcode, branch="EAST", actor=DESK, purpose=PURPOSE)
    rows = list(CirculationStat.objects.order_by("action").values())
    assert [
        (
            r["action"],
            r["branch"],
            r["item_type"],
            r["patron_category"],
            r["age_band"],
            r["count"],
            r["day"],
        )
        for r in rows
    ] == [
        ("checkin", "EAST", "book", "adult", "14_plus", 1, dt.date(2026, 6, 10)),
        ("checkout", "MAIN", "book", "adult", "14_plus", 1, dt.date(2026, 6, 10)),
    ]


def test_the_ledger_does_not_become_a_reading_history(make_patron, copy, title):
    record = title("A Very Particular Title")
    item = copy(record, barcode="31234567890")
    patron = make_patron()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.renew(item.barcode, actor=DESK, purpose=PURPOSE)
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.place_hold(patron, record=record.pk, pickup_branch="MAIN", actor=DESK, purpose=PURPOSE)
    entries = Entry.objects.filter(action__startswith="circulation.")
    assert entries.count() == 4
    for entry in entries:
        text = f"{entry.detail} {entry.fields} {entry.origin} {entry.purpose}"
        assert item.barcode not in text and "Particular" not in text
        assert str(record.pk) not in str(entry.detail) and str(item.pk) not in str(entry.detail)
        assert set(entry.detail) <= {"branch", "on_loan"}


def test_no_time_of_day_is_left_to_match_against_the_ledger(make_patron, copy):
    """An exact time on the item or an ended hold would pair it with a ledger entry's patron."""
    patron = make_patron()
    item = copy()
    before = item.updated_at
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.checkin(item.barcode, branch="EAST", actor=DESK, purpose=PURPOSE)
    item.refresh_from_db()
    assert item.updated_at == before
    hold = services.place_hold(
        patron, record=item.record_id, pickup_branch="MAIN", actor=DESK, purpose=PURPOSE
    )
    services.cancel_hold(hold.pk, actor=DESK, purpose=PURPOSE)
    hold.refresh_from_db()
    assert hold.placed_at == dt.datetime(2026, 6, 10, tzinfo=dt.UTC)
