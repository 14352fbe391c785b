"""Random codes for people to type, and keyed hashes to store in their place."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings

# Crockford-like alphabet without 0/O and 1/I/L, which are misread when typed.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` under the site secret, separated by `purpose`.

    The secret key lives in the home's key files, not in the database, so a
    copy of the database alone cannot test guesses against these hashes.
    """
    key = hmac.new(settings.SECRET_KEY.encode(), purpose.encode(), hashlib.sha256).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def new_code(groups: int = 4, size: int = 4) -> str:
    """A code such as 'k7qz-m2xp-…' (about 4.95 bits per character)."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(size)) for _ in range(groups))


def clean_code(typed: str) -> str:
    """A typed code without spaces, dashes or case, bounded in length."""
    return "".join(ch for ch in str(typed)[:64].lower() if ch.isalnum())
