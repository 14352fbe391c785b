"""Checking and normalising personal values before they are sealed and indexed.

Every value is normalised once, here, so that the sealed text, the blind
index and a later look-up all agree (a card typed with spaces finds the card
stored without them). Error messages name the field and the rule, never the
value: they end up on screens and in logs.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from shelfguard.core import clock


class PatronError(ValueError):
    """A patron request that cannot be carried out; the message says why and what to do."""


NAME_MAX = 200
ADDRESS_MAX = 500
EMAIL_MAX = 254
PIN_MIN, PIN_MAX = 4, 64
EARLIEST_BIRTH_YEAR = 1900

_CARD = re.compile(r"[A-Z0-9][A-Z0-9-]{2,31}\Z")
_PHONE_CHARS = re.compile(r"\+?[0-9 ()./-]+\Z")
_email_validator = EmailValidator()


def _no_controls(text: str, label: str, *, allow_newline: bool = False) -> None:
    for ch in text:
        if ch == "\n" and allow_newline:
            continue
        if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"}:
            raise PatronError(f"{label} contains control or invisible formatting characters.")


def _text(value: Any, label: str) -> str:
    if not isinstance(value, str):
        raise PatronError(f"{label} must be text.")
    return unicodedata.normalize("NFC", value)


def card_number(value: Any) -> str:
    """Upper case, spaces removed: 3–32 letters, digits or '-', starting with a letter or digit."""
    text = "".join(_text(value, "The card number").split()).upper()
    if not _CARD.match(text):
        raise PatronError(
            "The card number must be 3–32 letters, digits or '-' (spaces are ignored)."
        )
    return text


def person_name(value: Any, label: str = "The name") -> str:
    text = " ".join(_text(value, label).split())
    if not text:
        raise PatronError(f"{label} is empty.")
    if len(text) > NAME_MAX:
        raise PatronError(f"{label} is longer than {NAME_MAX} characters.")
    _no_controls(text, label)
    return text


def email(value: Any) -> str:
    text = _text(value, "The email address").strip()
    if len(text) > EMAIL_MAX:
        raise PatronError(f"The email address is longer than {EMAIL_MAX} characters.")
    try:
        _email_validator(text)
    except ValidationError:
        raise PatronError("The email address is not valid (expected name@example.org).") from None
    return text


def phone(value: Any) -> str:
    text = " ".join(_text(value, "The phone number").split())
    digits = sum(ch.isdigit() for ch in text)
    if not _PHONE_CHARS.match(text) or not 5 <= digits <= 20:
        raise PatronError(
            "The phone number must be 5–20 digits, optionally starting with + "
            "(spaces, dots, dashes and brackets are allowed)."
        )
    return text


def address(value: Any) -> str:
    text = _text(value, "The address").replace("\r\n", "\n").replace("\r", "\n")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = "\n".join(line for line in lines if line)
    if not text:
        raise PatronError("The address is empty.")
    if len(text) > ADDRESS_MAX:
        raise PatronError(f"The address is longer than {ADDRESS_MAX} characters.")
    _no_controls(text, "The address", allow_newline=True)
    return text


def birth_year(value: Any) -> str:
    if isinstance(value, bool):
        raise PatronError("The year of birth must be a year such as 1984.")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise PatronError("The year of birth must be a year such as 1984.")
        value = int(value)
    if not isinstance(value, int):
        raise PatronError("The year of birth must be a year such as 1984.")
    if not EARLIEST_BIRTH_YEAR <= value <= clock.today().year:
        raise PatronError(f"The year of birth must be between {EARLIEST_BIRTH_YEAR} and this year.")
    return str(value)


def birth_date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise PatronError("The date of birth must be a date such as 1984-05-31.") from None
    if not isinstance(value, dt.date):
        raise PatronError("The date of birth must be a date such as 1984-05-31.")
    if not dt.date(EARLIEST_BIRTH_YEAR, 1, 1) <= value <= clock.today():
        raise PatronError(
            f"The date of birth must be between {EARLIEST_BIRTH_YEAR}-01-01 and today."
        )
    return value.isoformat()


def pin(value: Any) -> str:
    text = _text(value, "The PIN")
    if not PIN_MIN <= len(text) <= PIN_MAX or any(ch.isspace() for ch in text):
        raise PatronError(f"The PIN must be {PIN_MIN}–{PIN_MAX} characters without spaces.")
    _no_controls(text, "The PIN")
    return text


#: Normaliser of each sealed field (register key -> function returning the text to seal).
SEALED_NORMALISERS = {
    "card_number": card_number,
    "name": person_name,
    "email": email,
    "phone": phone,
    "address": address,
    "birth_year": birth_year,
    "birth_date": birth_date,
    "guardian_name": lambda value: person_name(value, "The guardian's name"),
}


def youngest_possible_age(birth: str, field: str, today: dt.date) -> int:
    """The lowest age the patron can be today: with a year only, assume the birthday is yet to come.

    Taking the lowest age fails closed: a patron who may still be below the
    guardian age is treated as below it.
    """
    if field == "birth_year":
        return today.year - int(birth) - 1
    born = dt.date.fromisoformat(birth)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
