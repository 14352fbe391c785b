"""The offline upload: checked first, applied in time order, back-dated, never twice."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from shelfguard.catalog.models import Item, ItemStatus
from shelfguard.circulation import offline, services
from shelfguard.circulation.models import Loan, LoanOutcome, OfflineTransaction
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry

from .conftest import BOTH_DATABASES, DESK, NOON, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]

OPERATOR = Actor(kind="cli", ident="operator", channel="cli")
HEADER = "timestamp,action,patron_card,item_barcode,branch\n"


def upload(text: str, **kwargs) -> offline.Report:
    return offline.apply(io.StringIO(text, newline=""), actor=OPERATOR, **kwargs)


def problems(report: offline.Report) -> dict[int, tuple[str, str]]:
    return {p.line: (p.outcome, p.code) for p in report.problems}


def test_lines_are_applied_in_time_order_and_back_dated(make_patron, copy):
    patron = make_patron(card_number="29000000501")
    item = copy()
    # The checkin is written first but happened later: sorted, both apply.
    text = (
        HEADER
        + f"2026-06-03T10:00:00+00:00,checkin,,{item.barcode},EAST\n"
        + f"2026-06-01T09:30:00+00:00,checkout,29000000501,{item.barcode},MAIN\n"
    )
    report = upload(text)
    assert (report.lines, report.applied, report.refused) == (2, 2, 0), report.as_dict()
    loan = Loan.objects.get(item=item)
    assert loan.loaned_on == dt.date(2026, 6, 1)
    assert loan.due_on == dt.date(2026, 6, 22)  # 21 days from the offline day, not from today
    assert loan.ended_on == dt.date(2026, 6, 3) and loan.outcome == LoanOutcome.RETURNED
    assert loan.patron_id is None  # the link goes as at the desk
    assert patron.pk


def test_naive_times_are_in_the_library_time_zone(settings, make_patron, copy):
    settings.TIME_ZONE = "Pacific/Auckland"
    make_patron(card_number="29000000502")
    item = copy()
    # 23:30 on 1 June in Auckland is 11:30 UTC on 1 June; 00:30 on 2 June is 12:30 UTC 1 June.
    upload(f"2026-06-02T00:30:00,checkout,29000000502,{item.barcode},MAIN\n")
    line = offline.read([f"2026-06-02T00:30:00,checkout,1,{item.barcode},MAIN"])[0][0]
    assert line.at == dt.datetime(2026, 6, 1, 12, 30, tzinfo=dt.UTC)


def test_renewal_counts_from_the_offline_day(make_patron, copy):
    make_patron(card_number="29000000503")
    item = copy()
    upload(
        f"2026-06-01T09:00:00Z,checkout,29000000503,{item.barcode},MAIN\n"
        f"2026-06-05T09:00:00Z,renew,29000000503,{item.barcode},MAIN\n"
    )
    loan = Loan.objects.get(item=item)
    assert loan.renewals == 1 and loan.due_on == dt.date(2026, 6, 26)


def test_each_refusal_is_reported_with_its_line_and_reason(make_patron, copy):
    make_patron(card_number="29000000504")
    other = make_patron(card_number="29000000505")
    lent = copy()
    services.checkout(other, lent.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    free = copy()
    text = (
        HEADER
        + f"2026-06-09T09:00:00Z,checkout,29000000504,{lent.barcode},MAIN\n"  # 2: lent to other
        + f"2026-06-09T09:01:00Z,checkout,29000009999,{free.barcode},MAIN\n"  # 3: unknown card
        + "2026-06-09T09:02:00Z,checkin,,NO-SUCH-ITEM,MAIN\n"  # 4: unknown item
        + f"2026-06-09T09:03:00Z,renew,29000000504,{free.barcode},MAIN\n"  # 5: not on loan
        + f"2026-06-09T09:04:00Z,renew,29000000504,{lent.barcode},MAIN\n"  # 6: not theirs
    )
    report = upload(text)
    assert report.applied == 0 and report.refused == 5
    assert problems(report) == {
        2: ("refused", "on_loan_to_other"),
        3: ("refused", "unknown_patron"),
        4: ("refused", "unknown_item"),
        5: ("refused", "not_on_loan"),
        6: ("refused", "not_yours"),
    }
    assert all(p.reason for p in report.problems)
    assert "29000000504" not in str(report.as_dict())  # lines by number, no card numbers


def test_invalid_lines_are_all_reported_and_nothing_is_applied(make_patron, copy):
    make_patron(card_number="29000000506")
    item = copy()
    text = (
        HEADER
        + f"2026-06-09T09:00:00Z,checkout,29000000506,{item.barcode},MAIN\n"  # 2: fine
        + f"yesterday,checkout,29000000506,{item.barcode},MAIN\n"  # 3
        + f"2026-06-09T09:00:00Z,borrow,29000000506,{item.barcode},MAIN\n"  # 4
        + f"2026-06-09T09:00:00Z,checkout,,{item.barcode},MAIN\n"  # 5
        + "2026-06-09T09:00:00Z,checkin,,,MAIN\n"  # 6
        + f"2026-06-09T09:00:00Z,checkin,,{item.barcode},NOWHERE\n"  # 7
        + f"2026-06-09T09:00:00Z,checkin,,{item.barcode}\n"  # 8
        + f"2026-06-11T09:00:00Z,checkin,,{item.barcode},MAIN\n"  # 9: future
        + f"2026-04-01T09:00:00Z,checkin,,{item.barcode},MAIN\n"  # 10: too old
        + f"2026-06-09,checkin,,{item.barcode},MAIN\n"  # 11: a date without a time
    )
    with pytest.raises(offline.InvalidUpload) as caught:
        upload(text)
    found = problems(caught.value.report)
    assert found == {
        3: ("invalid", "timestamp"),
        4: ("invalid", "action"),
        5: ("invalid", "patron_card"),
        6: ("invalid", "item_barcode"),
        7: ("invalid", "unknown_branch"),
        8: ("invalid", "fields"),
        9: ("invalid", "timestamp"),
        10: ("invalid", "timestamp"),
        11: ("invalid", "timestamp"),
    }
    assert not Loan.objects.exists() and not OfflineTransaction.objects.exists()
    # --skip-invalid applies the good line anyway.
    report = upload(text, skip_invalid=True)
    assert report.applied == 1 and report.invalid == 9


def test_malformed_csv_is_one_problem_and_nothing_is_applied(make_patron, copy):
    item = copy()
    text = HEADER + f'2026-06-09T09:00:00Z,checkin,,"{item.barcode},MAIN\n'
    with pytest.raises(offline.InvalidUpload) as caught:
        upload(text)
    assert [(p.line, p.code) for p in caught.value.report.problems] == [(2, "csv")]


def test_applying_the_same_file_twice_changes_nothing(make_patron, copy):
    make_patron(card_number="29000000507")
    a, b = copy(), copy()
    text = (
        HEADER
        + f"2026-06-08T09:00:00Z,checkout,29000000507,{a.barcode},MAIN\n"
        + f"2026-06-08T09:00:05Z,checkout,29000000507,{b.barcode},MAIN\n"
        + f"2026-06-09T09:00:00Z,renew,29000000507,{a.barcode},MAIN\n"
        + f"2026-06-09T10:00:00Z,checkin,,{b.barcode},MAIN\n"
        # Refused now (already on loan); it would apply after line 7 on a second run.
        + f"2026-06-09T11:00:00Z,checkout,29000000507,{a.barcode},MAIN\n"
        + f"2026-06-09T12:00:00Z,checkin,,{a.barcode},EAST\n"
    )
    first = upload(text)
    assert (first.applied, first.refused) == (5, 1)
    loans = list(Loan.objects.order_by("pk").values())
    items = list(Item.objects.order_by("pk").values("pk", "status"))
    entries = Entry.objects.count()
    second = upload(text)
    assert (second.applied, second.refused, second.skipped) == (0, 0, 6)
    assert {p.code for p in second.problems} == {"already_done"}
    assert list(Loan.objects.order_by("pk").values()) == loans
    assert list(Item.objects.order_by("pk").values("pk", "status")) == items
    assert Entry.objects.count() == entries
    # The same transaction written differently is the same transaction.
    respelt = f"2026-06-08T11:00:00+02:00,CHECKOUT, 29000000507 ,{a.barcode},main\n"
    assert upload(respelt).skipped == 1


def test_a_line_repeated_in_one_file_is_applied_once(make_patron, copy):
    make_patron(card_number="29000000508")
    item = copy()
    line = f"2026-06-09T09:00:00Z,renew,29000000508,{item.barcode},MAIN\n"
    checkout = f"2026-06-08T09:00:00Z,checkout,29000000508,{item.barcode},MAIN\n"
    report = upload(checkout + line + line)
    assert report.applied == 2 and problems(report)[3] == ("skipped", "duplicate")
    assert Loan.objects.get(item=item).renewals == 1


def test_digests_hold_no_card_or_barcode_and_expire(make_patron, copy):
    make_patron(card_number="29000000509")
    item = copy()
    upload(f"2026-06-09T09:00:00Z,checkout,29000000509,{item.barcode},MAIN\n")
    row = OfflineTransaction.objects.get()
    raw = bytes(row.digest)
    assert len(raw) == 32 and b"29000000509" not in raw and item.barcode.encode() not in raw
    assert row.expires_on == dt.date(2026, 7, 10)
    with clock.frozen(NOON + dt.timedelta(days=31)):
        assert offline.purge_expired() == 1
    assert not OfflineTransaction.objects.exists()


def test_dry_run_changes_nothing(make_patron, copy):
    make_patron(card_number="29000000510")
    item = copy()
    text = f"2026-06-09T09:00:00Z,checkout,29000000510,{item.barcode},MAIN\n"
    report = upload(text, dry_run=True)
    assert report.dry_run and report.applied == 1
    assert not Loan.objects.exists() and not OfflineTransaction.objects.exists()


def test_bom_and_crlf_are_read(make_patron, copy):
    make_patron(card_number="29000000511")
    item = copy()
    text = "\ufeff" + HEADER.replace("\n", "\r\n")
    text += f"2026-06-09T09:00:00Z,checkout,29000000511,{item.barcode},MAIN\r\n"
    raw = io.BytesIO(text.encode("utf-8"))
    stream = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    report = offline.apply(stream, actor=OPERATOR)
    assert (report.lines, report.applied) == (1, 1), report.as_dict()
    # A BOM left in by a reader that does not strip it is tolerated too.
    assert offline.read(["\ufefftimestamp,action,patron_card,item_barcode,branch"])[2] == 0


def test_a_huge_file_is_streamed(copy):
    item = copy()
    total = 50_000

    def lines():  # a generator: no length, no seeking, no whole-file string
        yield HEADER
        for n in range(total):
            second = n % 3600
            yield f"2026-06-09T08:{second // 60:02d}:{second % 60:02d}Z,checkin,,{item.barcode},MAIN\n"

    valid, invalid, counted = offline.read(lines())
    assert counted == total and not invalid and len(valid) == total


def test_ledger_entries_name_the_day_never_the_item(make_patron, copy, title):
    patron = make_patron(card_number="29000000512")
    item = copy(title("A Very Particular Offline Title"), barcode="31299999999")
    upload(
        f"2026-06-09T09:15:42Z,checkout,29000000512,{item.barcode},MAIN\n"
        f"2026-06-09T17:00:00Z,checkin,,{item.barcode},MAIN\n"
    )
    entries = list(Entry.objects.filter(action__startswith="circulation."))
    assert [e.action for e in entries] == ["circulation.checkout", "circulation.checkin"]
    for entry in entries:
        text = f"{entry.detail} {entry.fields} {entry.purpose}"
        assert item.barcode not in text and "Particular" not in text and "09:15" not in text
        assert entry.detail["on"] == "2026-06-09" and entry.purpose == offline.PURPOSE
        assert entry.patron_id == patron.pk
    assert Item.objects.get(pk=item.pk).status == ItemStatus.AVAILABLE


def test_back_dating_is_checked_by_the_services(make_patron, copy):
    patron = make_patron()
    item = copy()
    for bad in (
        NOON + dt.timedelta(seconds=1),
        NOON - dt.timedelta(days=31),
        dt.datetime(2026, 6, 9, 9, 0),
    ):
        with pytest.raises(services.CirculationError):
            services.checkout(
                patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE, at=bad
            )
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    # A return dated before the loan began is refused.
    with pytest.raises(services.CirculationError):
        services.checkin(
            item.barcode,
            branch="MAIN",
            actor=DESK,
            purpose=PURPOSE,
            at=NOON - dt.timedelta(days=2),
        )


def test_the_window_is_configurable(settings, make_patron, copy):
    settings.CONFIG = {"circulation": {"offline_window_days": 3}}
    item = copy()
    with pytest.raises(offline.InvalidUpload):
        upload(f"2026-06-05T09:00:00Z,checkin,,{item.barcode},MAIN\n")
    assert upload(f"2026-06-08T09:00:00Z,checkin,,{item.barcode},MAIN\n").applied == 1


def test_cli_apply(run_cli, make_patron, copy, tmp_path):
    make_patron(card_number="29000000513")
    item = copy()
    path = tmp_path / "offline.csv"
    path.write_text(
        HEADER + f"2026-06-09T09:00:00Z,checkout,29000000513,{item.barcode},MAIN\n",
        encoding="utf-8",
    )
    dry = run_cli("circ", "apply", str(path), "--dry-run", "--json")
    assert dry.code == 0, dry.err
    assert dry.json()["dry_run"] is True and not Loan.objects.exists()
    done = run_cli("circ", "apply", str(path), "--json")
    assert done.code == 0, done.err
    assert done.json()["applied"] == 1
    again = run_cli("circ", "apply", str(path))
    assert again.code == 0 and "skipped 1" in again.out and "line 2: skipped" in again.out
    path.write_text(HEADER + "nonsense\n", encoding="utf-8")
    bad = run_cli("circ", "apply", str(path), "--json")
    assert bad.code != 0 and "invalid" in bad.err
    assert bad.json()["problems"][0]["line"] == 2
    assert run_cli("circ", "apply", str(tmp_path / "missing.csv")).code != 0


def test_a_bad_window_setting_is_named(settings, copy):
    from django.core.exceptions import ImproperlyConfigured

    settings.CONFIG = {"circulation": {"offline_window_days": "thirty"}}
    with pytest.raises(ImproperlyConfigured, match="offline_window_days"):
        services.checkin(copy().barcode, branch="MAIN", actor=DESK, purpose=PURPOSE, at=NOON)
