"""Passkeys (WebAuthn): registration, sign-in, refusals, removal rules, throttling.

A software authenticator built here (an ES256 key from `cryptography`,
'none' attestation, CBOR with `cbor2`) answers the server's options with
the same bytes a browser and a platform authenticator would produce:
clientDataJSON, authenticator data (RP id hash, flags, counter, attested
credential data with a COSE key) and an ES256 signature over
authenticatorData || SHA-256(clientDataJSON). Nothing in it comes from the
`webauthn` package the server uses, so the server is checked against an
independent implementation.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client

from shelfguard.accounts import mfa, passkeys, services, signin, throttle
from shelfguard.accounts.models import Passkey, StaffUser
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from tests.accounts.helpers import (
    ADMIN,
    PASSWORD,
    branches,
    device_of,
    make_staff,
    totp_code,
)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 9, 1, 9, 0, 5, tzinfo=dt.UTC)
RP = passkeys.RelyingParty(id="library.example", origin="https://library.example")
SRC = "192.0.2.10"

# --- a software authenticator ----------------------------------------------------------------

UP, UV, AT = 0x01, 0x04, 0x40


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class SoftAuthenticator:
    def __init__(self, *, user_verified: bool = True) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_verified = user_verified
        self.user_handle = b""

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _auth_data(self, rp_id: str, flags: int, attested: bool) -> bytes:
        data = hashlib.sha256(rp_id.encode()).digest()
        data += bytes([flags]) + self.sign_count.to_bytes(4, "big")
        if attested:
            data += bytes(16)  # AAGUID of a 'none' attestation
            data += len(self.credential_id).to_bytes(2, "big") + self.credential_id
            data += self.cose_key()
        return data

    def _flags(self, extra: int = 0) -> int:
        return UP | (UV if self.user_verified else 0) | extra

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()

    def create(self, options, *, origin: str = RP.origin, rp_id: str | None = None) -> str:
        opts = json.loads(options) if isinstance(options, str) else options
        rp_id = rp_id or opts["rp"]["id"]
        self.user_handle = base64.urlsafe_b64decode(opts["user"]["id"] + "==")
        client_data = self._client_data("webauthn.create", opts["challenge"], origin)
        auth_data = self._auth_data(rp_id, self._flags(AT), attested=True)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": b64u(self.credential_id),
                "rawId": b64u(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64u(client_data),
                    "attestationObject": b64u(attestation),
                    "transports": ["internal"],
                },
                "clientExtensionResults": {},
            }
        )

    def get(
        self, options, *, origin: str = RP.origin, rp_id: str | None = None, counter_step: int = 1
    ) -> str:
        opts = json.loads(options) if isinstance(options, str) else options
        rp_id = rp_id or opts["rpId"]
        self.sign_count += counter_step
        client_data = self._client_data("webauthn.get", opts["challenge"], origin)
        auth_data = self._auth_data(rp_id, self._flags(), attested=False)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps(
            {
                "id": b64u(self.credential_id),
                "rawId": b64u(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64u(client_data),
                    "authenticatorData": b64u(auth_data),
                    "signature": b64u(signature),
                    "userHandle": b64u(self.user_handle),
                },
                "clientExtensionResults": {},
            }
        )


# --- helpers -----------------------------------------------------------------------------------


def register(staff: StaffUser, authenticator: SoftAuthenticator, state: dict, **kwargs) -> Passkey:
    options = passkeys.begin_registration(staff, rp=RP, state=state)
    return passkeys.finish_registration(
        staff, authenticator.create(options), rp=RP, state=state, source=SRC, **kwargs
    )


def authenticate(staff: StaffUser, authenticator: SoftAuthenticator, state: dict, **kwargs):
    options = passkeys.begin_authentication(staff, rp=RP, state=state)
    return passkeys.finish_authentication(
        staff, authenticator.get(options, **kwargs), rp=RP, state=state, source=SRC
    )


def actions() -> list[str]:
    return list(Entry.objects.order_by("seq").values_list("action", flat=True))


@pytest.fixture
def desk() -> StaffUser:
    with clock.frozen(T0):
        return make_staff("desk", "circulation-desk")


# --- registration and sign-in -----------------------------------------------------------------


def test_register_then_sign_in_with_a_passkey(desk):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        passkey = register(desk, authenticator, state, name="  Desk   laptop ")
        assert passkey.name == "Desk laptop"
        assert passkey.credential_id == b64u(authenticator.credential_id)
        assert bytes(passkey.public_key) == authenticator.cose_key()
        assert passkey.user_verified and passkey.confirmed

        used = authenticate(desk, authenticator, state)
    assert used == passkey
    used.refresh_from_db()
    assert used.sign_count == 1 and used.last_used_at == T0
    assert "accounts.passkey_register" in actions()
    assert "accounts.passkey_use" in actions()
    entry = Entry.objects.filter(action="accounts.passkey_use").get()
    assert entry.actor_id == "desk" and entry.purpose == "sign-in"


def test_options_name_the_relying_party_and_prefer_user_verification(desk):
    state = {}
    with clock.frozen(T0):
        options = json.loads(passkeys.begin_registration(desk, rp=RP, state=state))
    assert options["rp"]["id"] == "library.example"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["user"]["name"] == "desk"
    # The user handle is opaque: not the username, not the database id.
    assert base64.urlsafe_b64decode(options["user"]["id"] + "==") not in (b"desk", b"1")
    # The challenge is kept server-side, in the session.
    assert state[passkeys._STATE]["register"]["challenge"] == options["challenge"]


def test_a_passkey_without_user_verification_is_still_a_second_factor(desk):
    authenticator, state = SoftAuthenticator(user_verified=False), {}
    with clock.frozen(T0):
        passkey = register(desk, authenticator, state)
        assert not passkey.user_verified
        assert authenticate(desk, authenticator, state) == passkey


def test_relying_party_comes_from_the_request_host(rf, settings):
    settings.ALLOWED_HOSTS = ["library.example"]
    request = rf.get("/staff/verify/", HTTP_HOST="library.example:8443", secure=True)
    rp = passkeys.RelyingParty.for_request(request)
    assert rp.id == "library.example"
    assert rp.origin == "https://library.example:8443"


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin, rp_id",
    [
        ("https://library.example.evil.test", None),  # a phishing site relaying
        ("http://library.example", None),  # same host, other scheme
        ("https://library.example", "evil.test"),  # credential made for another site
    ],
)
def test_registration_for_another_origin_or_rp_id_is_refused(desk, origin, rp_id):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        options = passkeys.begin_registration(desk, rp=RP, state=state)
        with pytest.raises(passkeys.PasskeyError):
            passkeys.finish_registration(
                desk,
                authenticator.create(options, origin=origin, rp_id=rp_id),
                rp=RP,
                state=state,
                source=SRC,
            )
    assert not Passkey.objects.exists()


@pytest.mark.parametrize(
    "origin, rp_id",
    [("https://library.example.evil.test", None), ("https://library.example", "evil.test")],
)
def test_assertion_for_another_origin_or_rp_id_is_refused(desk, origin, rp_id):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        register(desk, authenticator, state)
        with pytest.raises(passkeys.PasskeyError):
            authenticate(desk, authenticator, state, origin=origin, rp_id=rp_id)
    assert "accounts.passkey_use" not in actions()


def test_options_issued_for_one_host_do_not_serve_another(desk):
    authenticator, state = SoftAuthenticator(), {}
    other = passkeys.RelyingParty(id="other.example", origin="https://other.example")
    with clock.frozen(T0):
        register(desk, authenticator, state)
        options = passkeys.begin_authentication(desk, rp=RP, state=state)
        answer = authenticator.get(options, origin=other.origin, rp_id=other.id)
        with pytest.raises(passkeys.PasskeyError):
            passkeys.finish_authentication(desk, answer, rp=other, state=state, source=SRC)


def test_a_replayed_assertion_is_refused(desk):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        register(desk, authenticator, state)
        options = passkeys.begin_authentication(desk, rp=RP, state=state)
        answer = authenticator.get(options)
        passkeys.finish_authentication(desk, answer, rp=RP, state=state, source=SRC)
        # The challenge was used: the same answer again finds none.
        with pytest.raises(passkeys.PasskeyError):
            passkeys.finish_authentication(desk, answer, rp=RP, state=state, source=SRC)
        # Nor does it answer a new challenge.
        passkeys.begin_authentication(desk, rp=RP, state=state)
        with pytest.raises(passkeys.PasskeyError):
            passkeys.finish_authentication(desk, answer, rp=RP, state=state, source=SRC)


def test_a_failed_answer_uses_the_challenge_up(desk):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        register(desk, authenticator, state)
        options = passkeys.begin_authentication(desk, rp=RP, state=state)
        with pytest.raises(passkeys.PasskeyError):
            passkeys.finish_authentication(desk, "{}", rp=RP, state=state, source=SRC)
        with pytest.raises(passkeys.PasskeyError):
            passkeys.finish_authentication(
                desk, authenticator.get(options), rp=RP, state=state, source=SRC
            )


def test_an_expired_challenge_is_refused(desk):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        register(desk, authenticator, state)
        options = passkeys.begin_authentication(desk, rp=RP, state=state)
    later = T0 + passkeys.CHALLENGE_TTL + dt.timedelta(seconds=1)
    with clock.frozen(later), pytest.raises(passkeys.PasskeyError):
        passkeys.finish_authentication(
            desk, authenticator.get(options), rp=RP, state=state, source=SRC
        )


def test_another_staff_members_challenge_or_passkey_is_refused(desk):
    with clock.frozen(T0):
        other = make_staff("other", "circulation-desk")
        mine, theirs, state = SoftAuthenticator(), SoftAuthenticator(), {}
        register(desk, mine, state)
        register(other, theirs, state)
        # A challenge issued for `desk` does not serve `other`.
        options = passkeys.begin_authentication(desk, rp=RP, state=state)
        with pytest.raises(passkeys.PasskeyError):
            passkeys.finish_authentication(other, mine.get(options), rp=RP, state=state, source=SRC)
        # `other`'s passkey does not sign `desk` in.
        options = passkeys.begin_authentication(desk, rp=RP, state=state)
        with pytest.raises(passkeys.PasskeyError):
            passkeys.finish_authentication(
                desk, theirs.get(options), rp=RP, state=state, source=SRC
            )


def test_a_credential_is_never_registered_twice(desk):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        other = make_staff("other", "circulation-desk")
        register(desk, authenticator, state)
        with pytest.raises(passkeys.PasskeyError):
            register(other, authenticator, state)
    assert list(Passkey.objects.values_list("user__username", flat=True)) == ["desk"]


def test_a_forged_signature_is_refused(desk):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        register(desk, authenticator, state)
        options = passkeys.begin_authentication(desk, rp=RP, state=state)
        answer = json.loads(authenticator.get(options))
        impostor = SoftAuthenticator()
        impostor.credential_id = authenticator.credential_id
        forged = json.loads(impostor.get(options))
        answer["response"]["signature"] = forged["response"]["signature"]
        with pytest.raises(passkeys.PasskeyError):
            passkeys.finish_authentication(desk, json.dumps(answer), rp=RP, state=state, source=SRC)


@pytest.mark.parametrize("garbage", ["", "not json", "[]", '{"id": 1}', "x" * 40_000])
def test_garbage_answers_are_refused_cleanly(desk, garbage):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        register(desk, authenticator, state)
        passkeys.begin_authentication(desk, rp=RP, state=state)
        with pytest.raises(passkeys.PasskeyError) as error:
            passkeys.finish_authentication(desk, garbage, rp=RP, state=state, source=SRC)
    assert "Traceback" not in str(error.value)


def test_a_counter_that_does_not_grow_means_a_clone_and_is_refused(desk):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        register(desk, authenticator, state)
        authenticate(desk, authenticator, state, counter_step=5)  # counter 5
        # A copy of the key that has not seen those uses answers with 5 again.
        with pytest.raises(passkeys.PasskeyError):
            authenticate(desk, authenticator, state, counter_step=0)
        with pytest.raises(passkeys.PasskeyError):
            authenticator.sign_count = 2
            authenticate(desk, authenticator, state, counter_step=0)
    entries = Entry.objects.filter(action="accounts.passkey_clone_suspected")
    assert entries.count() == 2
    assert entries.first().detail["review"] is True
    assert Passkey.objects.get().sign_count == 5


def test_authenticators_without_a_counter_are_accepted(desk):
    # Many passkeys (synced ones) always report 0: nothing to compare.
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        register(desk, authenticator, state)
        authenticate(desk, authenticator, state, counter_step=0)
        authenticate(desk, authenticator, state, counter_step=0)


def test_failures_are_throttled_like_wrong_codes(desk):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        register(desk, authenticator, state)
        retry = 0
        for _ in range(throttle.ACCOUNT_FREE_ATTEMPTS):
            passkeys.begin_authentication(desk, rp=RP, state=state)
            try:
                passkeys.finish_authentication(desk, "{}", rp=RP, state=state, source=SRC)
            except passkeys.PasskeyError as exc:
                retry = exc.retry_after
        assert retry > 0
        # Even a good answer waits now, and a TOTP code too: one throttle per account.
        with pytest.raises(passkeys.PasskeyError) as error:
            authenticate(desk, authenticator, state)
        assert error.value.retry_after > 0
        with pytest.raises(signin.SignInFailed):
            signin.check_second_factor(desk, totp_code(device_of(desk).key), source=SRC)
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        authenticate(desk, authenticator, state)
        # Success clears the account's failures.
        assert throttle.check(desk.username, "").allowed


def test_a_disabled_account_cannot_use_its_passkey(desk):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        register(desk, authenticator, state)
        desk.is_active = False
        desk.save(update_fields=["is_active"])
        with pytest.raises(passkeys.PasskeyError):
            authenticate(desk, authenticator, state)


# --- removal, renaming, counting as a factor ----------------------------------------------------


def test_a_passkey_counts_as_a_second_factor_and_reset_removes_it():
    with clock.frozen(T0):
        staff = make_staff("solo", "circulation-desk", enrol=False)
        assert not mfa.has_second_factor(staff)
        register(staff, SoftAuthenticator(), {})
        assert mfa.has_second_factor(staff)
        services.issue_enrolment_code(staff, reset=True, actor=ADMIN)
    assert not Passkey.objects.filter(user=staff).exists()
    assert not mfa.has_second_factor(staff)


def test_the_only_factor_cannot_be_removed():
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        staff = make_staff("solo", "circulation-desk", enrol=False)
        passkey = register(staff, authenticator, state)
        options = passkeys.begin_authentication(staff, rp=RP, state=state)
        with pytest.raises(passkeys.PasskeyError, match="only second factor"):
            passkeys.remove(
                staff,
                passkey.pk,
                password=PASSWORD,
                response=authenticator.get(options),
                rp=RP,
                state=state,
                source=SRC,
            )
    assert Passkey.objects.filter(pk=passkey.pk).exists()
    assert "accounts.passkey_remove" not in actions()


def test_removal_needs_the_password_and_a_fresh_factor(desk):
    authenticator, state = SoftAuthenticator(), {}
    with clock.frozen(T0):
        passkey = register(desk, authenticator, state)
        with pytest.raises(signin.SignInFailed):
            passkeys.remove(desk, passkey.pk, password="wrong", code=totp_code(device_of(desk).key),
                            source=SRC)  # fmt: skip
        with pytest.raises(signin.SignInFailed):
            passkeys.remove(desk, passkey.pk, password=PASSWORD, code="", source=SRC)
        assert Passkey.objects.filter(pk=passkey.pk).exists()
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        passkeys.remove(
            desk, passkey.pk, password=PASSWORD, code=totp_code(device_of(desk).key), source=SRC
        )
    assert not Passkey.objects.filter(pk=passkey.pk).exists()
    entry = Entry.objects.filter(action="accounts.passkey_remove").get()
    assert entry.detail == {"passkey": passkey.pk, "factors_left": 1}


def test_one_passkey_removed_with_another_as_re_authentication():
    first, second, state = SoftAuthenticator(), SoftAuthenticator(), {}
    with clock.frozen(T0):
        staff = make_staff("solo", "circulation-desk", enrol=False)
        one = register(staff, first, state)
        register(staff, second, state)
        options = passkeys.begin_authentication(staff, rp=RP, state=state)
        passkeys.remove(
            staff, one.pk, password=PASSWORD, response=second.get(options), rp=RP, state=state,
            source=SRC,
        )  # fmt: skip
    assert (
        list(Passkey.objects.filter(user=staff)) != []
        and not Passkey.objects.filter(pk=one.pk).exists()
    )
    assert mfa.has_second_factor(staff)


def test_another_staff_members_passkey_cannot_be_removed_or_renamed(desk):
    with clock.frozen(T0):
        other = make_staff("other", "circulation-desk")
        theirs = register(other, SoftAuthenticator(), {})
        with pytest.raises(passkeys.PasskeyError):
            passkeys.rename(desk, theirs.pk, "mine now")
        with pytest.raises(passkeys.PasskeyError):
            passkeys.remove(
                desk, theirs.pk, password=PASSWORD, code=totp_code(device_of(desk).key), source=SRC
            )
    theirs.refresh_from_db()
    assert theirs.name == "Passkey"


def test_rename_is_recorded(desk):
    with clock.frozen(T0):
        passkey = register(desk, SoftAuthenticator(), {})
        passkeys.rename(desk, passkey.pk, "Security key\u00a0(blue)")
    passkey.refresh_from_db()
    assert passkey.name == "Security key (blue)"
    assert "accounts.passkey_rename" in actions()


# --- the pages ----------------------------------------------------------------------------------

WEB = {"origin": "http://testserver", "rp_id": "testserver"}


def _json(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    return json.loads(response.content)


def test_sign_in_with_a_passkey_through_the_pages(client: Client, desk):
    authenticator = SoftAuthenticator()
    with clock.frozen(T0):
        web_rp = passkeys.RelyingParty(id="testserver", origin="http://testserver")
        state: dict = {}
        options = passkeys.begin_registration(desk, rp=web_rp, state=state)
        passkeys.finish_registration(
            desk, authenticator.create(options, **WEB), rp=web_rp, state=state, source=SRC
        )

        response = client.post("/staff/login/", {"username": "desk", "password": PASSWORD})
        assert response["Location"].startswith("/staff/verify/")
        page = client.get(response["Location"]).content.decode()
        assert 'data-passkey="signin"' in page and "passkeys.js" in page

        options = _json(client.post("/staff/verify/passkey/options/"))
        response = client.post(
            "/staff/verify/passkey/?next=/staff/sessions/",
            {"credential": authenticator.get(options, **WEB)},
        )
        assert response.status_code == 302 and response["Location"] == "/staff/sessions/"
        assert client.get("/staff/").status_code == 200
        assert "accounts.passkey_use" in actions()


def test_passkey_sign_in_needs_the_password_step_first(client: Client, desk):
    with clock.frozen(T0):
        response = client.post("/staff/verify/passkey/options/")
        assert response.status_code == 403 and "error" in _json(response)
        response = client.post("/staff/verify/passkey/", {"credential": "{}"})
        assert response["Location"] == "/staff/login/"


def test_a_bad_passkey_answer_shows_the_verify_page_again(client: Client, desk):
    authenticator = SoftAuthenticator()
    with clock.frozen(T0):
        web_rp = passkeys.RelyingParty(id="testserver", origin="http://testserver")
        state: dict = {}
        options = passkeys.begin_registration(desk, rp=web_rp, state=state)
        passkeys.finish_registration(
            desk, authenticator.create(options, **WEB), rp=web_rp, state=state, source=SRC
        )
        client.post("/staff/login/", {"username": "desk", "password": PASSWORD})
        options = _json(client.post("/staff/verify/passkey/options/"))
        answer = authenticator.get(options, origin="http://evil.test", rp_id="testserver")
        response = client.post("/staff/verify/passkey/", {"credential": answer})
        assert response.status_code == 400
        assert "Second step" in response.content.decode()
        assert client.get("/staff/").status_code == 302


def test_passkey_posts_without_csrf_token_are_refused(desk):
    import re

    client = Client(enforce_csrf_checks=True)
    with clock.frozen(T0):
        register(desk, SoftAuthenticator(), {})
        page = client.get("/staff/login/").content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        response = client.post(
            "/staff/login/",
            {"username": "desk", "password": PASSWORD, "csrfmiddlewaretoken": token},
        )
        assert response["Location"].startswith("/staff/verify/")
        page = client.get(response["Location"]).content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        # Without the token: refused before the view runs.
        for url in ("/staff/verify/passkey/options/", "/staff/verify/passkey/"):
            response = client.post(url, {"credential": "{}"})
            assert response.status_code == 403 and b"options" not in response.content
        # A request from another origin, even with the token, is refused too.
        response = client.post(
            "/staff/verify/passkey/options/", HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="http://evil.test"
        )
        assert response.status_code == 403
        # With the token, from this origin (as passkeys.js sends it): the options.
        response = client.post(
            "/staff/verify/passkey/options/",
            HTTP_X_CSRFTOKEN=token,
            HTTP_ORIGIN="http://testserver",
        )
        assert response.status_code == 200 and "challenge" in _json(response)


def test_enrol_with_a_passkey_as_the_first_factor(client: Client):
    authenticator = SoftAuthenticator()
    with clock.frozen(T0):
        branches()
        staff, code = services.create_staff(
            "nova", roles=["circulation-desk"], branch="MAIN", password=PASSWORD, actor=ADMIN
        )
        response = client.post(
            "/staff/enrol/",
            {"username": "nova", "code": code, "password": PASSWORD, "password_again": ""},
        )
        assert response["Location"] == "/staff/enrol/device/"
        page = client.get("/staff/enrol/device/").content.decode()
        assert 'data-passkey="register"' in page and 'id="totp-secret"' in page

        options = _json(client.post("/staff/enrol/passkey/options/"))
        response = client.post(
            "/staff/enrol/passkey/",
            {"credential": authenticator.create(options, **WEB), "name": "Front desk key"},
        )
        assert response.status_code == 200
        assert "recovery" in response.content.decode().lower()
        assert client.get("/staff/").status_code == 200

    staff.refresh_from_db()
    assert Passkey.objects.get(user=staff).name == "Front desk key"
    assert not mfa.TOTPDevice.objects.filter(user=staff).exists()
    assert mfa.recovery_codes_left(staff) == mfa.RECOVERY_CODES
    assert "accounts.mfa_enrol" in actions()
    # The enrolment code is used up: enrolling again is refused.
    other = Client()
    with clock.frozen(T0):
        response = other.post(
            "/staff/enrol/",
            {"username": "nova", "code": code, "password": PASSWORD, "password_again": ""},
        )
        assert response.status_code == 200 and "Sign-in failed" in response.content.decode()


def test_enrolment_passkey_after_the_enrolment_step_expired_is_refused(client: Client):
    authenticator = SoftAuthenticator()
    with clock.frozen(T0):
        branches()
        staff, code = services.create_staff(
            "nova", roles=["circulation-desk"], branch="MAIN", password=PASSWORD, actor=ADMIN
        )
        client.post(
            "/staff/enrol/",
            {"username": "nova", "code": code, "password": PASSWORD, "password_again": ""},
        )
        options = _json(client.post("/staff/enrol/passkey/options/"))
    with clock.frozen(T0 + dt.timedelta(hours=1)):
        response = client.post(
            "/staff/enrol/passkey/", {"credential": authenticator.create(options, **WEB)}
        )
        assert response["Location"] == "/staff/enrol/"
    assert not Passkey.objects.exists()
    assert not mfa.has_second_factor(staff)


def test_account_page_adds_and_removes_a_passkey(client: Client, desk):
    from tests.staff.signin import sign_in

    authenticator = SoftAuthenticator()
    with clock.frozen(T0):
        sign_in(client, desk)
        page = client.get("/staff/account/passkeys/")
        assert page.status_code == 200 and "You have no passkey yet." in page.content.decode()

        # Without re-authentication there are no options.
        refused = client.post("/staff/account/passkeys/add/options/", {"current_password": "x"})
        assert refused.status_code in (400, 403)
        # And no registration without options.
        response = client.post(
            "/staff/account/passkeys/add/", {"credential": authenticator.create(
                {"rp": {"id": "testserver"}, "user": {"id": "AA"}, "challenge": "AA"}, **WEB)}
        )  # fmt: skip
        assert response.status_code == 400
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        options = _json(
            client.post(
                "/staff/account/passkeys/add/options/",
                {"current_password": PASSWORD, "code": totp_code(device_of(desk).key)},
            )
        )
        response = client.post(
            "/staff/account/passkeys/add/",
            {"credential": authenticator.create(options, **WEB), "name": "Laptop"},
        )
        assert response["Location"] == "/staff/account/passkeys/"
        page = client.get("/staff/account/passkeys/").content.decode()
        assert "Laptop" in page and "added" in page
        passkey = Passkey.objects.get(user=desk)

        response = client.post(f"/staff/account/passkeys/{passkey.pk}/rename/", {"name": "Old"})
        assert response.status_code == 302
    with clock.frozen(T0 + dt.timedelta(minutes=2)):
        options = _json(client.post("/staff/account/passkeys/reauth/options/"))
        response = client.post(
            f"/staff/account/passkeys/{passkey.pk}/remove/",
            {"current_password": PASSWORD, "reauth_credential": authenticator.get(options, **WEB)},
        )
        assert response["Location"] == "/staff/account/passkeys/"
    assert not Passkey.objects.filter(user=desk).exists()
    assert [a for a in actions() if a.startswith("accounts.passkey")] == [
        "accounts.passkey_register",
        "accounts.passkey_rename",
        "accounts.passkey_use",
        "accounts.passkey_remove",
    ]


def test_removing_the_passkey_a_session_was_verified_with_keeps_it_signed_in(client: Client):
    first, second = SoftAuthenticator(), SoftAuthenticator()
    web_rp = passkeys.RelyingParty(id="testserver", origin="http://testserver")
    with clock.frozen(T0):
        staff = make_staff("solo", "circulation-desk", enrol=False)
        for authenticator in (first, second):
            state: dict = {}
            options = passkeys.begin_registration(staff, rp=web_rp, state=state)
            passkeys.finish_registration(
                staff, authenticator.create(options, **WEB), rp=web_rp, state=state, source=SRC
            )
        client.post("/staff/login/", {"username": "solo", "password": PASSWORD})
        options = _json(client.post("/staff/verify/passkey/options/"))
        client.post("/staff/verify/passkey/", {"credential": first.get(options, **WEB)})
        assert client.get("/staff/").status_code == 200
        used = Passkey.objects.get(credential_id=b64u(first.credential_id))

        options = _json(client.post("/staff/account/passkeys/reauth/options/"))
        response = client.post(
            f"/staff/account/passkeys/{used.pk}/remove/",
            {"current_password": PASSWORD, "reauth_credential": second.get(options, **WEB)},
        )
        assert response["Location"] == "/staff/account/passkeys/"
        assert client.get("/staff/").status_code == 200
        # The last one stays: the page says why and offers no form.
        last = Passkey.objects.get(user=staff)
        page = client.get(f"/staff/account/passkeys/{last.pk}/remove/").content.decode()
        assert "only second factor" in page and "current_password" not in page


def test_passkey_pages_need_a_signed_in_staff_member(client: Client, desk):
    with clock.frozen(T0):
        passkey = register(desk, SoftAuthenticator(), {})
        for url in ("/staff/account/passkeys/", f"/staff/account/passkeys/{passkey.pk}/remove/"):
            assert client.get(url)["Location"].startswith("/staff/login/")
        for url in ("/staff/account/passkeys/add/options/", "/staff/account/passkeys/add/",
                    "/staff/account/passkeys/reauth/options/",
                    f"/staff/account/passkeys/{passkey.pk}/rename/"):  # fmt: skip
            assert client.post(url, {"name": "x"})["Location"].startswith("/staff/login/")
    passkey.refresh_from_db()
    assert passkey.name == "Passkey"


def test_every_passkey_view_declares_its_access_rule():
    from django.urls import get_resolver

    from shelfguard.staff import passkey_urls

    for pattern in passkey_urls.urlpatterns:
        assert getattr(pattern.callback, "staff_access", None) in ("public", "signed-in"), pattern
    assert get_resolver()  # the URLconf loads
