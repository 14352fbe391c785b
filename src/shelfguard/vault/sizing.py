"""How long each blind index is: the CipherSweet sizing rule, as code.

A blind index is a keyed hash truncated to L bits, so unrelated values share
an index by coincidence. For R indexed records the expected number of
coincidences for one value is

    C = R / 2^(sum of min(L_i, K_i))

summed over every index an observer sees for the same plaintext (K_i is the
input's own entropy in bits). CipherSweet's rule is `2 <= C < sqrt(R)`:

* C >= 2: every index value is shared by at least two records on average, so
  an equal index never proves equal values (privacy bound);
* C < sqrt(R): a lookup still narrows the candidates enough to be worth it
  (usefulness bound).

The lengths are planned from the number of patrons the library expects and
fixed in the index key file when a key version is made, so a lookup always
uses the lengths its rows were indexed with. `docs/privacy/blind-indexes.md`
explains the numbers and what blind indexes leak.

This module is pure: no Django, no keys.
"""

from __future__ import annotations

import math

KINDS: tuple[str, ...] = ("card", "email", "phone", "name_token", "address")
# The first byte of every index value: an index made for one kind can never
# equal one made for another, whatever the key or value.
KIND_CODES: dict[str, int] = {"card": 1, "email": 2, "phone": 3, "name_token": 4, "address": 5}
# Kinds added after index key files were first written, and the kind whose
# planned length they take when an older key file does not name them (both
# are one index per value, so the sizing rule gives them the same length).
LATER_KINDS: dict[str, str] = {"address": "email"}

# Plans for at least this many patrons unless told otherwise. A plan made for
# fewer records than the library will hold stays private (C only grows) and
# only gets slower; a plan made for more than it holds would leak, so the
# default is deliberately small: 12-bit card/email/phone indexes keep
# 2 <= C < sqrt(R) for every R from 8,192 to 16.7 million.
DEFAULT_POPULATION = 10_000
MIN_POPULATION = 16

# A name shows several token indexes on the same row (given and family name,
# a middle name, or a CJK name's whole run plus its bigrams); together they
# fingerprint the name, so their lengths must add up to the single-index
# budget. Three is the planned count.
NAME_TOKENS_PER_NAME = 3

MIN_BITS = 1
MAX_BITS = 256

# Card numbers are unique by construction: no two rows can share one, so there
# is no frequency or equality pattern for a truncated index to hide, and the
# C >= 2 bound (which protects rows holding *equal* values) has nothing to
# protect. The card index is therefore kept long enough that coincidences
# never happen (2^-128 per pair), which lets a desk look-up read one row
# without unsealing candidates. Its only
# remaining exposure is the one every blind index has: whoever holds the
# index key can test guesses.
UNIQUE_CARD_BITS = 128


def privacy_budget_bits(population: int) -> float:
    """The largest total index length with C >= 2: log2(R / 2)."""
    return math.log2(max(population, MIN_POPULATION) / 2)


def plan_bits(population: int) -> dict[str, int]:
    """Index length in bits for each kind, for `population` expected patrons.

    email, phone and address: one index per value, L = floor(log2(R / 2)).
    name_token: NAME_TOKENS_PER_NAME indexes per name share that budget,
    L = floor(log2(R / 2) / NAME_TOKENS_PER_NAME).
    card: UNIQUE_CARD_BITS, whatever R (see above).
    """
    if population < 1:
        raise ValueError("the expected number of patrons must be at least 1")
    budget = privacy_budget_bits(population)
    single = max(MIN_BITS, math.floor(budget))
    name = max(MIN_BITS, math.floor(budget / NAME_TOKENS_PER_NAME))
    return {
        "card": UNIQUE_CARD_BITS,
        "email": single,
        "phone": single,
        "name_token": name,
        "address": single,
    }


def coincidences(records: int, bits: list[int]) -> float:
    """C = R / 2^(sum of L_i): expected records sharing one value's indexes."""
    return max(1, records) / 2 ** sum(bits)


def check_bits(bits: dict[str, int]) -> dict[str, int]:
    """Validate a lengths table read from a key file (every kind, sane range).

    A key file written before a kind in `LATER_KINDS` existed does not name
    it; that kind takes the length of its like kind from the same file, so
    the plan the file was made with still holds.
    """
    bits = dict(bits)
    for later, like in LATER_KINDS.items():
        if later not in bits and like in bits:
            bits[later] = bits[like]
    if set(bits) != set(KINDS):
        raise ValueError("an index key must give a length for each of " + ", ".join(KINDS))
    for kind, value in bits.items():
        if not MIN_BITS <= value <= MAX_BITS:
            raise ValueError(f"index length for {kind} must be {MIN_BITS}..{MAX_BITS} bits")
    return dict(bits)
