"""The password rules (NIST SP 800-63B): length and a list of known-bad passwords.

No composition rules ("one capital, one digit") and no forced expiry: they
push people to predictable patterns. What is refused instead is short
passwords and passwords an attacker tries first: Django's shipped list of
20,000 common passwords, and the words anyone would guess at a library.
Passwords are NFKC-normalised before checking and hashing so that the same
password typed on two keyboards matches.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from django.conf import settings
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.utils.translation import gettext as _

MIN_WITH_SECOND_FACTOR = 8
MIN_WITHOUT_SECOND_FACTOR = 15
# Long passphrases are welcome; the cap only bounds hashing work per attempt.
MAX_LENGTH = 256
_LIBRARY_WORDS = ("library", "shelfguard")
_NOT_LETTERS = re.compile(r"[\W\d_]+")


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@functools.cache
def _common() -> frozenset[str]:
    return frozenset(CommonPasswordValidator().passwords)


def _library_words() -> set[str]:
    words = set(_LIBRARY_WORDS)
    name = str(getattr(settings, "LIBRARY_NAME", "")).casefold()
    if name:
        words.add(_NOT_LETTERS.sub("", name))
        words.update(w for w in _NOT_LETTERS.split(name) if len(w) >= 4)
    return {w for w in words if w}


def problems(password: str, *, second_factor: bool, username: str = "") -> list[str]:
    """Why this password is refused, one reason per rule broken; empty if it is fine."""
    if not isinstance(password, str):
        return [_("A password must be text.")]
    if len(password) > MAX_LENGTH * 4:
        return [_("A password is at most %(max)d characters.") % {"max": MAX_LENGTH}]
    password = normalise(password)
    reasons = []
    minimum = MIN_WITH_SECOND_FACTOR if second_factor else MIN_WITHOUT_SECOND_FACTOR
    if len(password) < minimum:
        reasons.append(
            _("A password needs at least %(min)d characters (this one has %(n)d).")
            % {"min": minimum, "n": len(password)}
        )
    if len(password) > MAX_LENGTH:
        reasons.append(_("A password is at most %(max)d characters.") % {"max": MAX_LENGTH})
    folded = password.casefold()
    if folded.strip() in _common():
        reasons.append(_("This password is on the list of commonly used passwords."))
    # "Library2024!", "shelfguardshelfguard": a library word padded with digits,
    # punctuation or repetition is among the first guesses.
    letters = _NOT_LETTERS.sub("", folded)
    for word in _library_words():
        if letters and letters == word * (len(letters) // len(word)):
            reasons.append(
                _("This password is built from a word anyone would guess here (%(word)s).")
                % {"word": word}
            )
            break
    if not letters and len(set(folded)) <= 2 and len(folded) >= 1:
        reasons.append(_("This password repeats one or two characters."))
    if username and len(username) >= 3 and username.casefold() in folded:
        reasons.append(_("A password must not contain the username."))
    return reasons
