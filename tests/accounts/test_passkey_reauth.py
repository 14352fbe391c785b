"""Re-authenticating with a passkey for the password and recovery codes; TOTP keys after a reset.

A staff member whose only factor is a passkey confirms a password change or
new recovery codes with that passkey (no recovery code is spent). The pages
use the same pattern as removing a passkey: assertion options from
`staff:passkey_reauth_options`, the answer in the hidden `reauth_credential`
field, and the code box still works without JavaScript.

After a second-factor reset the data key that sealed the staff member's
authenticator secrets is destroyed, but only once the reset has committed.

The software authenticator is the one from `test_passkeys.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from django.db import transaction
from django.test import Client

from shelfguard.accounts import mfa, passkeys, services, signin
from shelfguard.accounts.models import Passkey, StaffUser, Throttle
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.vault import KeyDestroyed, keystore
from shelfguard.vault.dbsettings import KEYSTORE_ALIAS
from shelfguard.vault.models import DataKey, ErasureEntry
from tests.accounts.helpers import ADMIN, PASSWORD, device_of, make_staff, totp_code
from tests.accounts.test_passkeys import WEB, SoftAuthenticator, _json

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 9, 1, 9, 0, 5, tzinfo=dt.UTC)
NEW = "an owl reads by lamplight"
WEB_RP = passkeys.RelyingParty(id="testserver", origin="http://testserver")
SRC = "192.0.2.10"
OPTIONS = "/staff/account/passkeys/reauth/options/"
PASSWORD_PAGE = "/staff/account/password/"
CODES_PAGE = "/staff/account/recovery-codes/"


def actions() -> list[str]:
    return list(Entry.objects.order_by("seq").values_list("action", flat=True))


def enrol_passkey(staff: StaffUser, authenticator: SoftAuthenticator) -> Passkey:
    state: dict = {}
    options = passkeys.begin_registration(staff, rp=WEB_RP, state=state)
    return passkeys.finish_registration(
        staff, authenticator.create(options, **WEB), rp=WEB_RP, state=state, source=SRC
    )


def sign_in_with_passkey(client: Client, staff: StaffUser, authenticator) -> None:
    response = client.post("/staff/login/", {"username": staff.username, "password": PASSWORD})
    assert response["Location"].startswith("/staff/verify/")
    options = _json(client.post("/staff/verify/passkey/options/"))
    response = client.post(
        "/staff/verify/passkey/", {"credential": authenticator.get(options, **WEB)}
    )
    assert response.status_code == 302, response.content.decode()[:1000]
    assert client.get("/staff/").status_code == 200


@pytest.fixture
def solo():
    """A staff member whose only second factor is one passkey, signed in with it."""
    authenticator, client = SoftAuthenticator(), Client()
    with clock.frozen(T0):
        staff = make_staff("solo", "circulation-desk", enrol=False)
        enrol_passkey(staff, authenticator)
        codes = mfa.new_recovery_codes(staff)
        sign_in_with_passkey(client, staff, authenticator)
    return staff, authenticator, client, codes


def answer(client: Client, authenticator: SoftAuthenticator, **kwargs) -> str:
    """A passkey answer to fresh re-authentication options from the page's endpoint."""
    response = client.post(OPTIONS)
    assert response.status_code == 200, response.content
    return authenticator.get(_json(response), **{**WEB, **kwargs})


def change_password(client: Client, **fields):
    data = {"current_password": PASSWORD, "new_password": NEW, "new_password_again": NEW}
    data.update(fields)
    return client.post(PASSWORD_PAGE, data)


# --- the pages offer the passkey ---------------------------------------------------------------


@pytest.mark.parametrize("url", [PASSWORD_PAGE, CODES_PAGE])
def test_pages_offer_the_passkey_to_someone_who_has_one(solo, url):
    _staff, _authenticator, client, _codes = solo
    with clock.frozen(T0):
        page = client.get(url).content.decode()
    assert 'data-passkey="reauth"' in page
    assert f'data-options-url="{OPTIONS}"' in page
    assert 'name="reauth_credential"' in page and "shelfguard/passkeys.js" in page
    assert "confirm with your passkey" in page
    # The code box is still there, for a code or a recovery code without JavaScript.
    assert 'name="code"' in page


@pytest.mark.parametrize("url", [PASSWORD_PAGE, CODES_PAGE])
def test_pages_without_a_passkey_ask_for_a_code_as_before(client: Client, url):
    from tests.staff.signin import sign_in

    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        sign_in(client, staff)
        page = client.get(url).content.decode()
    assert "data-passkey" not in page and "reauth_credential" not in page
    assert "passkeys.js" not in page
    assert re.search(r'<input type="text" name="code"[^>]*required', page)


# --- password change with a passkey ------------------------------------------------------------


def test_passkey_only_staff_changes_the_password_with_the_passkey(solo):
    staff, authenticator, client, _codes = solo
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        response = change_password(client, code="", reauth_credential=answer(client, authenticator))
        assert response.status_code == 200
        assert "Your password is changed." in response.content.decode()
        assert client.get("/staff/").status_code == 200  # this session stays
    assert StaffUser.objects.get(pk=staff.pk).check_password(NEW)
    # No recovery code was spent on it.
    assert mfa.recovery_codes_left(staff) == mfa.RECOVERY_CODES
    assert "accounts.recovery_code_use" not in actions()
    use = Entry.objects.filter(action="accounts.passkey_use").order_by("-seq").first()
    assert use.purpose == "account security"
    assert actions()[-1] == "accounts.password_change"


def test_password_change_with_a_passkey_needs_the_right_password(solo):
    staff, authenticator, client, _codes = solo
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        good = answer(client, authenticator)
        response = change_password(
            client, current_password="not my password", reauth_credential=good
        )
        assert "Sign-in failed" in response.content.decode()
        # The challenge went with the failed try: the same answer does not serve again.
        response = change_password(client, reauth_credential=good)
        assert "Your password is changed." not in response.content.decode()
    assert StaffUser.objects.get(pk=staff.pk).check_password(PASSWORD)
    assert "accounts.password_change" not in actions()


@pytest.mark.parametrize(
    "bad",
    [
        {"origin": "https://library.example.evil.test"},  # relayed through a look-alike site
        {"rp_id": "evil.test"},  # a credential for another site
    ],
)
def test_password_change_refuses_an_answer_for_another_site(solo, bad):
    staff, authenticator, client, _codes = solo
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        response = change_password(client, reauth_credential=answer(client, authenticator, **bad))
    assert "The passkey was not accepted." in response.content.decode()
    assert StaffUser.objects.get(pk=staff.pk).check_password(PASSWORD)


def test_an_answer_without_options_from_this_session_is_refused(solo):
    staff, authenticator, client, _codes = solo
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        # Options taken in another session (or a replayed answer) find no challenge here.
        other: dict = {}
        options = passkeys.begin_authentication(staff, rp=WEB_RP, state=other)
        response = change_password(client, reauth_credential=authenticator.get(options, **WEB))
        assert "The passkey was not accepted." in response.content.decode()
        used = answer(client, authenticator)
        assert (
            "Your password is changed."
            in change_password(client, reauth_credential=used).content.decode()
        )
        # Replayed: refused.
        response = client.post(
            PASSWORD_PAGE,
            {"current_password": NEW, "new_password": PASSWORD, "new_password_again": PASSWORD,
             "reauth_credential": used},
        )  # fmt: skip
        assert "The passkey was not accepted." in response.content.decode()
    assert StaffUser.objects.get(pk=staff.pk).check_password(NEW)


def test_neither_code_nor_passkey_is_refused_before_anything_is_checked(solo):
    staff, _authenticator, client, _codes = solo
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        response = change_password(client, code="", reauth_credential="")
    page = response.content.decode()
    assert "Enter your password, and a code or use a passkey." in page
    assert "Enter a code, or confirm with your passkey." in page
    assert StaffUser.objects.get(pk=staff.pk).check_password(PASSWORD)
    # Nothing was checked, so nothing counts towards the throttle.
    assert not Throttle.objects.exists()


def test_a_refused_answer_is_not_sent_back_in_the_page(solo):
    _staff, authenticator, client, _codes = solo
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        stale = answer(client, authenticator)
        response = change_password(client, current_password="wrong", reauth_credential=stale)
    page = response.content.decode()
    assert "Sign-in failed" in page
    field = re.search(r'<input[^>]*name="reauth_credential"[^>]*>', page).group(0)
    assert "value=" not in field
    assert json.loads(stale)["id"] not in page


def test_a_recovery_code_still_works_without_javascript(solo):
    staff, _authenticator, client, codes = solo
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        response = change_password(client, code=codes[0])
    assert "Your password is changed." in response.content.decode()
    assert mfa.recovery_codes_left(staff) == mfa.RECOVERY_CODES - 1


def test_a_totp_code_still_works_for_someone_with_both(client: Client):
    from tests.staff.signin import sign_in

    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        enrol_passkey(staff, SoftAuthenticator())
        sign_in(client, staff)
    at = T0 + dt.timedelta(seconds=30)
    with clock.frozen(at):
        page = client.get(PASSWORD_PAGE).content.decode()
        assert 'data-passkey="reauth"' in page
        response = change_password(client, code=totp_code(device_of(staff).key, at))
    assert "Your password is changed." in response.content.decode()


def test_someone_without_a_passkey_cannot_send_an_answer_instead_of_a_code(client: Client):
    from tests.staff.signin import sign_in

    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        sign_in(client, staff)
        response = change_password(client, code="", reauth_credential='{"id": "x"}')
    assert "Fill in every field." in response.content.decode()
    assert StaffUser.objects.get(pk=staff.pk).check_password(PASSWORD)


# --- new recovery codes with a passkey ---------------------------------------------------------


def test_passkey_only_staff_makes_new_recovery_codes_with_the_passkey(solo):
    staff, authenticator, client, old = solo
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        response = client.post(
            CODES_PAGE,
            {"current_password": PASSWORD, "code": "",
             "reauth_credential": answer(client, authenticator)},
        )  # fmt: skip
    page = response.content.decode()
    new = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", page)
    assert len(new) == mfa.RECOVERY_CODES and not set(new) & set(old)
    assert "Your old recovery codes no longer work." in page
    assert "accounts.recovery_code_use" not in actions()
    assert actions()[-2:] == ["accounts.passkey_use", "accounts.recovery_codes_replace"]
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        assert mfa.use_recovery_code(staff, old[0]) is None
        assert mfa.use_recovery_code(staff, new[0]) is not None


def test_new_recovery_codes_with_a_passkey_need_the_password(solo):
    staff, authenticator, client, old = solo
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        response = client.post(
            CODES_PAGE,
            {"current_password": "wrong", "reauth_credential": answer(client, authenticator)},
        )
        assert "Sign-in failed" in response.content.decode()
        response = client.post(CODES_PAGE, {"current_password": PASSWORD})
        assert "Enter your password, and a code or use a passkey." in response.content.decode()
        assert mfa.use_recovery_code(staff, old[0]) is not None  # the old codes still work


def test_services_accept_a_passkey_answer():
    authenticator = SoftAuthenticator()
    with clock.frozen(T0):
        staff = make_staff("solo", "circulation-desk", enrol=False)
        enrol_passkey(staff, authenticator)
        state: dict = {}
        options = passkeys.begin_authentication(staff, rp=WEB_RP, state=state)
        codes = signin.replace_recovery_codes(
            staff, password=PASSWORD, code="", response=authenticator.get(options, **WEB),
            rp=WEB_RP, state=state, source=SRC,
        )  # fmt: skip
        assert len(codes) == mfa.RECOVERY_CODES
        options = passkeys.begin_authentication(staff, rp=WEB_RP, state=state)
        signin.change_password(
            staff, current=PASSWORD, new=NEW, new_again=NEW, code="", keep_session=None,
            response=authenticator.get(options, **WEB), rp=WEB_RP, state=state, source=SRC,
        )  # fmt: skip
    assert StaffUser.objects.get(pk=staff.pk).check_password(NEW)


# --- the authenticator's data key after a reset -------------------------------------------------


def key_of(staff: StaffUser) -> str:
    return device_of(staff).key_id


def key_exists(key_id: str) -> bool:
    return DataKey.objects.using(KEYSTORE_ALIAS).filter(pk=uuid.UUID(key_id)).exists()


def test_reset_destroys_the_authenticator_key_after_commit(django_capture_on_commit_callbacks):
    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        device = device_of(staff)
        key_id = device.key_id
        assert mfa.unseal_secret(device)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            services.issue_enrolment_code(staff, reset=True, actor=ADMIN)
            # Not before the reset commits.
            assert key_exists(key_id)
        assert len(callbacks) == 1
    assert not key_exists(key_id)
    erasure = ErasureEntry.objects.using(KEYSTORE_ALIAS).get(pk=uuid.UUID(key_id))
    assert erasure.owner == f"staff:{staff.pk}"
    journal = keystore.read_journal(keystore.journal_path())
    assert any(str(e.key_id) == key_id for e in journal)
    # A copy of the sealed secret (a backup of the database) no longer opens.
    with pytest.raises(KeyDestroyed):
        mfa.unseal_secret(device)
    assert not mfa.TOTPDevice.objects.filter(user=staff).exists()


def test_a_rolled_back_reset_keeps_the_key(django_capture_on_commit_callbacks):
    class Stop(Exception):
        pass

    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        key_id = key_of(staff)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(Stop), transaction.atomic():
                services.issue_enrolment_code(staff, reset=True, actor=ADMIN)
                raise Stop
            with pytest.raises(Stop), transaction.atomic():
                mfa.remove_all(staff)
                raise Stop
        assert callbacks == []
        assert key_exists(key_id)
        # The authenticator is back and still works.
        device = device_of(staff)
        assert device.key_id == key_id
        assert signin.check_second_factor(staff, totp_code(device.key), source=SRC)
    assert not ErasureEntry.objects.using(KEYSTORE_ALIAS).filter(pk=uuid.UUID(key_id)).exists()


def test_a_key_a_device_uses_again_is_kept():
    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        key_id = key_of(staff)
        # The callback finds a device naming the key (a re-enrolment raced the reset).
        mfa._destroy_totp_keys(staff.pk, [key_id])
        assert key_exists(key_id)
        assert signin.check_second_factor(staff, totp_code(device_of(staff).key), source=SRC)


def test_re_enrolment_after_a_reset_gets_a_new_key(django_capture_on_commit_callbacks):
    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        old = key_of(staff)
        with django_capture_on_commit_callbacks(execute=True):
            services.issue_enrolment_code(staff, reset=True, actor=ADMIN)
        pending = mfa.start_totp_enrolment(staff)
        assert pending.key_id != old and key_exists(pending.key_id)
        assert mfa.confirm_totp(staff, mfa.code_at(pending, clock.now()))
    assert not key_exists(old)


def test_a_reset_of_a_passkey_only_account_destroys_nothing(django_capture_on_commit_callbacks):
    with clock.frozen(T0):
        staff = make_staff("solo", "circulation-desk", enrol=False)
        enrol_passkey(staff, SoftAuthenticator())
        before = DataKey.objects.using(KEYSTORE_ALIAS).count()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            services.issue_enrolment_code(staff, reset=True, actor=ADMIN)
    assert callbacks == []
    assert DataKey.objects.using(KEYSTORE_ALIAS).count() == before


def test_a_failed_destruction_is_logged_not_raised(monkeypatch, caplog):
    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        key_id = key_of(staff)
        mfa.TOTPDevice.objects.filter(user=staff).delete()

    def broken(*args, **kwargs):
        raise OSError("journal not writable")

    monkeypatch.setattr(keystore, "destroy_data_key", broken)
    mfa._destroy_totp_keys(staff.pk, [key_id])
    assert key_id in caplog.text and "could not destroy" in caplog.text
    assert key_exists(key_id)


def test_choosing_a_passkey_at_enrolment_destroys_the_pending_authenticator_key(
    client: Client, django_capture_on_commit_callbacks
):
    from tests.accounts.helpers import branches

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
        key_id = mfa.TOTPDevice.objects.get(user=staff, confirmed=False).key_id
        assert key_exists(key_id)
        options = _json(client.post("/staff/enrol/passkey/options/"))
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/staff/enrol/passkey/", {"credential": authenticator.create(options, **WEB)}
            )
        assert response.status_code == 200
    assert not mfa.TOTPDevice.objects.filter(user=staff).exists()
    assert not key_exists(key_id)


@pytest.mark.django_db(transaction=True)
def test_reset_and_rollback_with_real_commits():
    """The same without a test transaction around it: commit destroys, rollback keeps."""
    with clock.frozen(T0):
        staff = make_staff("desk", "circulation-desk")
        key_id = key_of(staff)
        with pytest.raises(RuntimeError), transaction.atomic():
            mfa.remove_all(staff)
            raise RuntimeError
        assert key_exists(key_id) and device_of(staff).key_id == key_id
        services.issue_enrolment_code(staff, reset=True, actor=ADMIN)
    assert not key_exists(key_id)
    assert ErasureEntry.objects.using(KEYSTORE_ALIAS).filter(pk=uuid.UUID(key_id)).exists()
