"""Signing a test client in through the real pages (password, then TOTP)."""

from __future__ import annotations

from django.test import Client

from shelfguard.accounts.models import StaffUser
from tests.accounts.helpers import PASSWORD, device_of, totp_code


def sign_in(client: Client, staff: StaffUser, *, code: str | None = None) -> None:
    response = client.post("/staff/login/", {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/staff/verify/"), (
        response
    )
    response = client.post(response["Location"], {"code": code or totp_code(device_of(staff).key)})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == "/staff/"
