"""Staff usernames: one canonical spelling, no look-alikes.

A name is NFKC-normalised and lower-cased (so full-width and compatibility
forms collapse onto their plain letters), then refused if it mixes writing
systems: "pаul" with a Cyrillic "а" would otherwise be a second account that
looks exactly like "paul" in the ledger and on screen.
"""

from __future__ import annotations

import unicodedata

MIN_LENGTH = 2
MAX_LENGTH = 64
_PUNCTUATION = frozenset(".-_")
# Japanese mixes these three scripts in ordinary names; they count as one.
_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "CJK": "CJK"}


class UsernameError(ValueError):
    """A username that cannot be used; the message says why."""


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0]
    return _SCRIPT_GROUPS.get(first, first)


def normalise(raw: str) -> str:
    """The canonical form of a username, or UsernameError saying what is wrong."""
    if not isinstance(raw, str):
        raise UsernameError("A username must be text.")
    # Bound the work before normalising: NFKC can expand a string many times.
    if len(raw) > MAX_LENGTH * 4:
        raise UsernameError(f"A username is at most {MAX_LENGTH} characters.")
    name = unicodedata.normalize("NFKC", raw).strip().casefold()
    name = unicodedata.normalize("NFKC", name)
    if len(name) < MIN_LENGTH:
        raise UsernameError(f"A username is at least {MIN_LENGTH} characters.")
    if len(name) > MAX_LENGTH:
        raise UsernameError(f"A username is at most {MAX_LENGTH} characters.")
    scripts = set()
    for ch in name:
        if ch in _PUNCTUATION or ch.isdigit() and ch.isascii():
            continue
        if not ch.isalpha():
            raise UsernameError(
                "A username may contain only letters, digits (0-9), '.', '-' and '_'."
            )
        scripts.add(_script(ch))
    if len(scripts) > 1:
        raise UsernameError(
            "A username must use one writing system; it mixes "
            + ", ".join(sorted(s.title() for s in scripts))
            + " letters, which can look alike."
        )
    if name[0] in _PUNCTUATION or name[-1] in _PUNCTUATION:
        raise UsernameError("A username must start and end with a letter or digit.")
    return name
