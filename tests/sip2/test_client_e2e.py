"""End to end: a third-party SIP2 client (PyPI `sip2`) against the real server and handlers.

The client (`Sip2.sip2.Sip2`) does TLS itself: it first tries to verify the
server's certificate against the system's authorities; a self-signed one
fails that, so it fetches the certificate and pins it (its
`tlsAcceptSelfsigned` mode), checking that the name matches. The server runs
in a thread of this process on an ephemeral port, with the real handlers
(`sip2.handlers.handle`), the real services and the real database; every
step is checked in the database and the ledger, not only in the replies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from Sip2.sip2 import Sip2

from shelfguard.catalog.models import Item, ItemStatus
from shelfguard.circulation.models import Hold, Loan, LoanOutcome
from shelfguard.core import tls
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons
from shelfguard.sip2 import protocol
from shelfguard.sip2 import services as sip2
from shelfguard.sip2.server import Limits, ServerThread, Sip2Server
from tests.catalog.factories import make_item, make_record
from tests.circulation.conftest import DESK
from tests.patrons.conftest import adult_values, library  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "keystore"])

TERMINAL = "selfcheck-e2e"
TERMINAL_PASSWORD = "terminal-secret-1"  # synthetic
PIN = "4321"  # synthetic


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    made = tls.make_self_signed(
        tmp_path_factory.mktemp("tls"), ["127.0.0.1"], days=2, now=dt.datetime.now(dt.UTC)
    )
    return made.cert, made.key


@contextlib.contextmanager
def running(*, context=None, host="127.0.0.1", **limits) -> Iterator[Sip2Server]:
    """The real server (real handlers) on an ephemeral port, stopped afterwards."""
    server = Sip2Server(
        host=host, port=0, ssl_context=context, limits=Limits(shutdown_grace=5, **limits)
    )
    thread = ServerThread(server).start()
    try:
        yield server
    finally:
        thread.stop()


def add_terminal(login: str = TERMINAL, **options) -> None:
    sip2.add_terminal(
        login,
        branch="MAIN",
        password=TERMINAL_PASSWORD,
        actor=DESK,
        purpose="set up a self-check machine",
        **options,
    )


def client(server: Sip2Server, *, use_tls: bool, host: str = "127.0.0.1") -> Sip2:
    """A connected `sip2` client, its log kept in memory-free silence (it would log PINs)."""
    machine = Sip2()
    machine.hostName = host
    machine.hostPort = server.port
    machine.tlsEnable = use_tls
    machine.tlsAcceptSelfsigned = True
    machine.socketTimeout = 10
    machine.institutionId = "MAIN"
    machine.scLocation = "MAIN"
    quiet = logging.getLogger("tests.sip2.client")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    machine.log = quiet  # the library's own logger writes every request, PIN included, to a file
    machine.connect()
    return machine


def close(machine: Sip2) -> None:
    with contextlib.suppress(OSError):
        machine.disconnect()
    machine._socket = None


def ask(machine: Sip2, request: str, parse: Callable[[str], dict]) -> dict:
    return parse(machine.get_response(request))


def login(machine: Sip2) -> dict:
    return ask(
        machine,
        machine.sip_login_request(TERMINAL, TERMINAL_PASSWORD),
        machine.sip_login_response,
    )


@pytest.fixture
def fast_hashing(settings):
    """Django's fast hasher for the tests that sign in many times (same code path).

    Each Argon2 hash costs most of a second on a shared machine; the session
    test keeps the shipped Argon2, these only need many sign-ins.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def reader(transactional_db, library):  # noqa: F811
    return patrons.register(**adult_values(pin=PIN), actor=DESK)


def entries(action: str, patron_id: int | None = None) -> int:
    found = Entry.objects.filter(action=action)
    if patron_id is not None:
        found = found.filter(patron_id=patron_id)
    return found.count()


@pytest.mark.parametrize("use_tls", [True, False], ids=["tls", "loopback-plaintext"])
def test_a_self_check_session_from_login_to_hold(reader, cert, use_tls):
    add_terminal()
    book = make_item(make_record("A Synthetic Atlas", index=False), branch="MAIN")
    wanted = make_item(make_record("A Synthetic Herbal", index=False), branch="MAIN")
    card_number = patrons.reveal(reader, ["card_number"], actor=DESK, purpose="test")["card_number"]
    context = tls.server_context(*cert) if use_tls else None
    with running(context=context) as server:
        machine = client(server, use_tls=use_tls)
        try:
            if use_tls:
                assert machine._socket.version() in ("TLSv1.2", "TLSv1.3")
            else:
                assert not isinstance(machine._socket, ssl.SSLSocket)
            assert login(machine)["fixed"]["Ok"] == "1"

            status = ask(machine, machine.sip_sc_status_request(), machine.sip_sc_status_response)
            assert status["fixed"]["OnlineStatus"] == "Y"
            assert status["fixed"]["CheckoutOk"] == "Y"

            machine.patron, machine.patronpwd = card_number, PIN
            machine.terminalPassword = ""
            patron_status = ask(
                machine, machine.sip_patron_status_request(), machine.sip_patron_status_response
            )
            assert patron_status["variable"]["BL"] == ["Y"]  # valid patron
            assert patron_status["variable"]["CQ"] == ["Y"]  # valid PIN
            # As machines do, the PIN is not sent again in this patron's session
            # (each check is an Argon2 hash, most of a second on a busy machine).
            machine.patronpwd = ""

            info = ask(
                machine,
                machine.sip_patron_information_request("charged"),
                machine.sip_patron_information_response,
            )
            assert info["fixed"]["ChargedItemsCount"] == "0000"

            out = ask(
                machine,
                machine.sip_checkout_request(book.barcode),
                machine.sip_checkout_response,
            )
            assert out["fixed"]["Ok"] == "1", out
            loan = Loan.objects.get(item=book)
            assert loan.patron_id == reader.pk and loan.outcome == LoanOutcome.OPEN
            book.refresh_from_db()
            assert book.status == ItemStatus.ON_LOAN
            assert entries("circulation.checkout", reader.pk) == 1

            info = ask(
                machine,
                machine.sip_patron_information_request("charged"),
                machine.sip_patron_information_response,
            )
            assert info["fixed"]["ChargedItemsCount"] == "0001"

            renewed = ask(
                machine, machine.sip_renew_request(book.barcode), machine.sip_renew_response
            )
            assert renewed["fixed"]["Ok"] == "1", renewed
            loan.refresh_from_db()
            assert loan.renewals == 1
            assert entries("circulation.renew", reader.pk) == 1

            back = ask(
                machine, machine.sip_checkin_request(book.barcode), machine.sip_checkin_response
            )
            assert back["fixed"]["Ok"] == "1", back
            loan.refresh_from_db()
            assert loan.outcome != LoanOutcome.OPEN and loan.ended_on is not None
            assert loan.patron_id is None  # no history kept: the link goes when the loan ends
            book.refresh_from_db()
            assert book.status == ItemStatus.AVAILABLE
            assert entries("circulation.checkin") == 1

            held = ask(
                machine,
                machine.sip_hold_request("+", itemIdentifier=wanted.barcode),
                machine.sip_hold_response,
            )
            assert held["fixed"]["Ok"] == "1", held
            hold = Hold.objects.get(patron=reader)
            assert hold.record_id == wanted.record_id and hold.pickup_branch.code == "MAIN"
            assert entries("circulation.hold_place", reader.pk) == 1
        finally:
            close(machine)
    assert Loan.objects.filter(outcome=LoanOutcome.OPEN).count() == 0
    assert Item.objects.get(pk=book.pk).status == ItemStatus.AVAILABLE


def test_a_wrong_terminal_password_is_refused_and_nothing_is_served(fast_hashing, reader, cert):
    add_terminal()
    with running(context=tls.server_context(*cert)) as server:
        machine = client(server, use_tls=True)
        try:
            answer = ask(
                machine,
                machine.sip_login_request(TERMINAL, "not-the-password"),
                machine.sip_login_response,
            )
            assert answer["fixed"]["Ok"] == "0"
        finally:
            close(machine)


def local_address() -> str | None:
    """This machine's own non-loopback IPv4 address, if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("allow_plaintext", [False, True], ids=["refused", "allowed"])
def test_plaintext_login_from_a_non_loopback_peer_needs_allow_plaintext(
    fast_hashing, reader, allow_plaintext
):
    address = local_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to listen on")
    add_terminal(allow_plaintext=allow_plaintext)
    with running(host=address) as server:
        machine = client(server, use_tls=False, host=address)
        try:
            answer = login(machine)
            assert answer["fixed"]["Ok"] == ("1" if allow_plaintext else "0")
        finally:
            close(machine)
    signins = Entry.objects.filter(action__startswith="sip2.").values_list("action", "detail")
    assert signins, "every terminal sign-in, good or refused, is recorded"


def test_abrupt_disconnects_mid_checkout_leave_loans_and_ledger_in_agreement(fast_hashing, reader):
    """A machine that drops right after sending 11: each checkout happened or not, never half."""
    from tests.sip2.test_concurrency import _checkout, _exchange

    add_terminal()
    record = make_record("A Synthetic Almanac", index=False)
    books = [make_item(record, branch="MAIN") for _ in range(6)]
    card = patrons.reveal(reader, ["card_number"], actor=DESK, purpose="test")["card_number"]
    # One worker: the suite's in-memory SQLite database refuses a second writer at
    # once instead of queueing it (the concurrency tests use a database file).
    with running(workers=1) as server:
        for n, book in enumerate(books):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            signin = protocol.Message(
                "93",
                {"uid_algorithm": "0", "pwd_algorithm": "0"},
                [("CN", TERMINAL), ("CO", TERMINAL_PASSWORD)],
            )
            assert _exchange(sock, signin).fixed["ok"] == "1"
            sock.sendall(protocol.build(_checkout(card, book.barcode, with_pin=True, sequence=n)))
            time.sleep(0.002 * n)  # from "before the server read it" to "mid-transaction"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        # The server goes on serving, and a stop waits for the calls still in flight.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"9900802.00\r")
            assert sock.recv(100).startswith(b"98")
    lent = set(Loan.objects.filter(patron=reader).values_list("item__barcode", flat=True))
    for book in books:
        book.refresh_from_db()
        assert (book.status == ItemStatus.ON_LOAN) == (book.barcode in lent)
    assert entries("circulation.checkout", reader.pk) == len(lent)
    assert Loan.objects.filter(item__in=books).count() == len(lent)
