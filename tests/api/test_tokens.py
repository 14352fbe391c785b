"""Staff API tokens: shown once, stored hashed, expire, revoke, refuse alike, throttled."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from shelfguard.accounts import services as accounts
from shelfguard.accounts.models import Throttle
from shelfguard.api import services
from shelfguard.api.models import ApiToken
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from tests.accounts.helpers import ADMIN, make_staff
from tests.api.helpers import add_items, bearer, staff_with_token

pytestmark = pytest.mark.django_db

ITEM = "/api/v1/items/MOSS-0001"


def everything_in_the_database() -> str:
    with connection.cursor() as cursor:
        dump = []
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            dump.append(repr(cursor.fetchall()))
    return "\n".join(dump)


def test_the_secret_is_returned_once_and_only_its_hash_is_stored():
    _staff, token, secret = staff_with_token()
    assert secret.startswith(f"sgt_{token.prefix}_")
    assert len(secret) == 4 + 12 + 1 + 43
    secret_part = secret.rsplit("_", 1)[-1]
    stored = everything_in_the_database()
    assert secret_part not in stored and secret not in stored
    assert token.secret_hash in stored
    entry = Entry.objects.get(action="api.token_create")
    assert entry.detail["token"] == token.pk and entry.detail["scopes"] == ["items"]
    assert secret_part not in repr(entry.__dict__)


def test_defaults_and_limits_of_lifetime():
    staff = make_staff("desk9", "circulation-desk", enrol=False)
    token, _ = services.create_token(staff, ["items"], actor=ADMIN)
    assert token.expires_at - token.created_at == dt.timedelta(days=90)
    for bad in (dt.timedelta(days=366), dt.timedelta(hours=1), dt.timedelta(days=-1)):
        with pytest.raises(services.TokenError, match="1 day to 365 days"):
            services.create_token(staff, ["items"], expires=bad, actor=ADMIN)


def test_scopes_are_checked():
    staff = make_staff("desk9", "circulation-desk", enrol=False)
    with pytest.raises(services.TokenError, match="Unknown scope"):
        services.create_token(staff, ["everything"], actor=ADMIN)
    with pytest.raises(services.TokenError, match="at least one scope"):
        services.create_token(staff, [], actor=ADMIN)
    with pytest.raises(services.TokenError, match="not a single string"):
        services.create_token(staff, "items", actor=ADMIN)


def test_a_scope_the_roles_cannot_use_is_refused_at_creation():
    cataloguer = make_staff("cat9", "cataloguer", enrol=False)
    with pytest.raises(services.TokenError, match="circulation needs circulation.loan"):
        services.create_token(cataloguer, ["circulation"], actor=ADMIN)
    assert not ApiToken.objects.exists()


def test_tokens_for_someone_else_need_token_manage():
    desk = make_staff("desk9", "circulation-desk", enrol=False)
    other = make_staff("desk8", "circulation-desk", enrol=False)
    admin = make_staff("admin9", "system-administrator", enrol=False)
    with pytest.raises(accounts.AccessDenied):
        services.create_token(other, ["items"], actor=ADMIN, by=desk)
    own, _ = services.create_token(desk, ["items"], actor=ADMIN, by=desk)
    theirs, _ = services.create_token(other, ["items"], actor=ADMIN, by=admin)
    with pytest.raises(accounts.AccessDenied):
        services.revoke_token(theirs, actor=ADMIN, by=desk)
    with pytest.raises(accounts.AccessDenied):
        services.list_tokens(other, by=desk)
    assert services.list_tokens(desk, by=desk) == [own]
    services.revoke_token(theirs, actor=ADMIN, by=admin)
    services.revoke_token(own, actor=ADMIN, by=desk)


def test_no_token_for_a_disabled_staff_member():
    staff = make_staff("desk9", "circulation-desk", enrol=False)
    accounts.disable_staff(staff, actor=ADMIN)
    with pytest.raises(services.TokenError, match="disabled"):
        services.create_token(staff, ["items"], actor=ADMIN)


def test_a_good_token_works_and_records_the_day_it_was_used(client):
    add_items()
    staff, token, secret = staff_with_token()
    assert token.last_used_on is None
    response = client.get(ITEM, headers=bearer(secret))
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_on == clock.today()
    auth = services.authenticate(f"Bearer {secret}", source="192.0.2.1")
    assert auth.staff == staff and auth.token == token
    assert auth.actor.kind == "staff" and auth.actor.channel == "api"


def refusal(client, secret, source="192.0.2.7"):
    response = client.get(ITEM, headers=bearer(secret), REMOTE_ADDR=source)
    body = tuple(sorted(response.json().items()))
    return response.status_code, body, response.headers.get("WWW-Authenticate")


def test_every_bad_token_gets_the_same_answer(client):
    add_items()
    _staff, token, secret = staff_with_token()
    wrong_secret = secret[:-4] + ("aaaa" if not secret.endswith("aaaa") else "bbbb")
    unknown_prefix = "sgt_" + "0" * 12 + secret[16:]
    answers = {
        refusal(client, wrong_secret, "192.0.2.1"),
        refusal(client, unknown_prefix, "192.0.2.2"),
        refusal(client, "not a token at all", "192.0.2.3"),
        refusal(client, secret + "x", "192.0.2.4"),
    }
    services.revoke_token(token, actor=ADMIN)
    answers.add(refusal(client, secret, "192.0.2.5"))
    assert len(answers) == 1
    status, body, challenge = answers.pop()
    assert status == 401
    assert dict(body) == {"code": "not_authenticated", "detail": services.GENERIC_REFUSAL}
    assert challenge == 'Bearer realm="shelfguard", error="invalid_token"'


def test_refusals_are_in_the_ledger_without_the_token(client):
    add_items()
    _staff, token, secret = staff_with_token()
    wrong = secret[:-6] + "zzzzzz"
    refusal(client, wrong)
    refusal(client, "sgt_" + "1" * 12 + "_" + "q" * 43)
    entries = list(Entry.objects.filter(action="api.token_refused").order_by("seq"))
    assert [e.detail["reason"] for e in entries] == ["wrong_secret", "unknown"]
    assert entries[0].detail["token"] == token.pk
    assert entries[1].detail["token"] is None
    assert all(e.actor_kind == "public" and e.channel == "api" for e in entries)
    text = repr([e.__dict__ for e in entries])
    assert wrong.rsplit("_", 1)[-1] not in text and "q" * 43 not in text


def test_tokens_expire(client):
    add_items()
    _staff, token, secret = staff_with_token(days=3)
    assert client.get(ITEM, headers=bearer(secret)).status_code == 200
    with clock.frozen(token.expires_at + dt.timedelta(seconds=1)):
        assert client.get(ITEM, headers=bearer(secret)).status_code == 401
    assert Entry.objects.get(action="api.token_refused").detail["reason"] == "expired"


def test_revoked_token_stops_at_once_and_revoking_twice_is_refused(client):
    add_items()
    _staff, token, secret = staff_with_token()
    assert client.get(ITEM, headers=bearer(secret)).status_code == 200
    services.revoke_token(token, actor=ADMIN)
    assert client.get(ITEM, headers=bearer(secret)).status_code == 401
    assert Entry.objects.get(action="api.token_revoke").detail["token"] == token.pk
    with pytest.raises(services.TokenError, match="already revoked"):
        services.revoke_token(token, actor=ADMIN)


def test_disabling_the_staff_member_stops_their_tokens_at_once(client):
    add_items()
    staff, _token, secret = staff_with_token()
    assert client.get(ITEM, headers=bearer(secret)).status_code == 200
    accounts.disable_staff(staff, actor=ADMIN)
    assert client.get(ITEM, headers=bearer(secret)).status_code == 401
    assert Entry.objects.get(action="api.token_refused").detail["reason"] == "staff_disabled"


def test_a_missing_scope_is_a_403_with_the_reason(client):
    add_items()
    desk, _token, secret = staff_with_token("desk7", scopes=("circulation",))
    assert client.get(ITEM, headers=bearer(secret)).status_code == 200  # circulation includes items
    token = ApiToken.objects.get(staff=desk)
    token.scopes = []  # as if every scope had been withdrawn
    token.save()
    response = client.get(ITEM, headers=bearer(secret))
    assert response.status_code == 403
    assert response.json()["code"] == "scope_missing"
    assert "items, circulation" in response.json()["detail"]
    assert response["WWW-Authenticate"] == (
        'Bearer realm="shelfguard", error="insufficient_scope", scope="items circulation"'
    )


def test_failures_are_throttled_per_token_and_locked_out(client, settings):
    settings.CONFIG = {**settings.CONFIG, "accounts": {"lockout_after": 5, "lockout_minutes": 30}}
    add_items()
    _staff, token, secret = staff_with_token()
    wrong = secret[:-6] + "zzzzzz"
    at = clock.now()
    waits = []
    for _ in range(5):
        with clock.frozen(at):
            response = client.get(ITEM, headers=bearer(wrong))
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        waits.append(int(response.headers.get("Retry-After", "0")))
        at += dt.timedelta(seconds=max(waits[-1], 1)) if len(waits) < 5 else dt.timedelta(0)
    assert waits[:4] == [0, 0, 1, 2]
    assert waits[4] == 30 * 60  # locked out
    lockout = Entry.objects.get(action="accounts.lockout")
    assert lockout.detail["subject"] == f"staff:{token.staff_id}"
    assert lockout.channel == "api"
    # Locked: even the right token waits, from any address, and is not tried.
    with clock.frozen(at + dt.timedelta(minutes=1)):
        response = client.get(ITEM, headers=bearer(secret), REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 30 * 60
    assert Entry.objects.filter(action="api.token_refused").count() == 5
    # After the lockout the right token works again and clears the count.
    with clock.frozen(at + dt.timedelta(minutes=31)):
        response = client.get(ITEM, headers=bearer(secret), REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 200
    assert not Throttle.objects.filter(scope=Throttle.Scope.ACCOUNT).exists()


def test_many_bad_tokens_from_one_source_are_slowed_down(client):
    at = clock.now()
    statuses = []
    for n in range(22):
        with clock.frozen(at):
            bogus = f"sgt_{n:012x}_" + "k" * 43  # a different made-up prefix each time
            statuses.append(client.get(ITEM, headers=bearer(bogus)).status_code)
    assert statuses[:20] == [401] * 20
    assert statuses[-1] == 429
