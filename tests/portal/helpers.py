"""Small helpers shared by the portal tests."""

from __future__ import annotations

import json

from django.test import Client

from shelfguard.ledger.models import Entry
from shelfguard.portal.access import cookie_name


def portal_cookie(response_or_client):
    return response_or_client.cookies.get(cookie_name())


def token_of(client: Client) -> str:
    return client.cookies[cookie_name()].value


def ledger_text() -> str:
    """Every ledger entry as one text, to search for values that must never be there."""
    rows = Entry.objects.order_by("seq").values()
    return json.dumps(list(rows), default=str)


def actions() -> list[str]:
    return list(Entry.objects.order_by("seq").values_list("action", flat=True))
