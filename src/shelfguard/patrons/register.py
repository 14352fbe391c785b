"""The data-classification register: the one list of every personal field a patron record holds.

Everything that treats patron data differently by field reads this list and
nothing else: which columns are sealed (`models.Patron` has one `<key>_sealed`
column per sealed entry, and a system check proves it), which values get a
blind index, how a value is masked on a screen, what goes into the patron's
own export, what the published privacy notice lists, and what
`shelfguard privacy register` prints as the library's record of processing.

Adding a personal field therefore starts here. A field that is not in the
register cannot be collected, sealed, revealed or exported.

Which optional fields this library collects is its own choice, made in
`shelfguard.toml`:

    [patrons]
    collect = ["email", "phone", "address", "birth_year"]
    guardian_age = 14

Nothing is collected "just in case": a value for a field that is not in
`collect` is refused (or, in a CSV import, the column is ignored).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class FieldClass(enum.StrEnum):
    IDENTIFIER = "identifier"
    CONTACT = "contact"
    DEMOGRAPHIC = "demographic"
    SENSITIVE = "sensitive"


class Protection(enum.StrEnum):
    #: Encrypted with the patron's own data key (envelope encryption).
    SEALED = "sealed"
    #: Kept only as a one-way password hash (Argon2); never recoverable.
    HASHED = "hashed"
    #: Kept in clear because the database must compare or count it, and it
    #: says little on its own (a branch code, a category, a consent flag).
    CLEAR = "clear"


class Requirement(enum.StrEnum):
    REQUIRED = "required"
    #: At least one of the collected contact channels must be given.
    ONE_CONTACT = "one contact channel required"
    #: Required for patrons below the guardian age, otherwise not kept.
    CHILDREN = "required for children"
    OPTIONAL = "optional"


class Masking(enum.StrEnum):
    """How a staff screen shows a value before anyone asks to reveal it."""

    LAST4 = "last four characters"
    LAST2 = "last two digits"
    INITIALS = "initials"
    EMAIL = "first letter and domain"
    HIDDEN = "hidden"
    NONE = "shown"


@dataclass(frozen=True)
class PersonalField:
    key: str
    label: str
    field_class: FieldClass
    purpose: str
    legal_basis: str
    retention: str
    protection: Protection
    #: The vault's blind-index kind, when the field can be looked up by value.
    blind_index: str | None
    masking: Masking
    #: Included in the patron's own data export (their right of access).
    exported: bool
    requirement: Requirement
    #: True when the library may switch the field on or off in `[patrons] collect`.
    optional_choice: bool
    default_collected: bool = True
    #: Fields of which at most one may be collected (the library's choice).
    excludes: str | None = None
    #: A change asked for by the patron is reviewed by staff (proof may be asked);
    #: unless listed in `[patrons] self_editable`, the patron cannot change it at once.
    needs_verification: bool = False
    #: Asked for by the public self-registration form (`/account/register/`).
    self_registration: bool = False

    @property
    def sealed(self) -> bool:
        return self.protection is Protection.SEALED

    @property
    def column(self) -> str | None:
        """The model column holding this field's ciphertext, for sealed fields."""
        return f"{self.key}_sealed" if self.sealed else None


_MEMBERSHIP = "Providing library membership (public task / contract of membership)"
_WHILE_MEMBER = (
    "While the card is held, and erased automatically two years after the card expires "
    "if nothing is outstanding (`[retention] expired_patron_days`, with an e-mail notice "
    "first); destroyed on erasure (the patron's key is destroyed, "
    "so copies in backups become unreadable too)"
)

FIELDS: tuple[PersonalField, ...] = (
    PersonalField(
        key="card_number",
        label="Library card number",
        field_class=FieldClass.IDENTIFIER,
        purpose="Identify the card holder at the desk, at self-check and at sign-in",
        legal_basis=_MEMBERSHIP,
        retention=_WHILE_MEMBER,
        protection=Protection.SEALED,
        blind_index="card",
        masking=Masking.LAST4,
        exported=True,
        requirement=Requirement.REQUIRED,
        optional_choice=False,
    ),
    PersonalField(
        key="name",
        label="Name",
        field_class=FieldClass.IDENTIFIER,
        purpose="Address the patron and confirm who they are at the desk",
        legal_basis=_MEMBERSHIP,
        retention=_WHILE_MEMBER,
        protection=Protection.SEALED,
        blind_index="name_token",
        masking=Masking.INITIALS,
        exported=True,
        requirement=Requirement.REQUIRED,
        optional_choice=False,
        needs_verification=True,
        self_registration=True,
    ),
    PersonalField(
        key="email",
        label="Email address",
        field_class=FieldClass.CONTACT,
        purpose="Reach the patron about their loans and holds; email notices only with consent",
        legal_basis=_MEMBERSHIP + "; notices by email with the patron's consent",
        retention=_WHILE_MEMBER + "; removed at once when the patron deletes it",
        protection=Protection.SEALED,
        blind_index="email",
        masking=Masking.EMAIL,
        exported=True,
        requirement=Requirement.ONE_CONTACT,
        optional_choice=True,
        self_registration=True,
    ),
    PersonalField(
        key="phone",
        label="Phone number",
        field_class=FieldClass.CONTACT,
        purpose="Reach the patron about their loans and holds; text messages only with consent",
        legal_basis=_MEMBERSHIP + "; text-message notices with the patron's consent",
        retention=_WHILE_MEMBER + "; removed at once when the patron deletes it",
        protection=Protection.SEALED,
        blind_index="phone",
        masking=Masking.LAST2,
        exported=True,
        requirement=Requirement.ONE_CONTACT,
        optional_choice=True,
    ),
    PersonalField(
        key="address",
        label="Postal address",
        field_class=FieldClass.CONTACT,
        purpose="Reach the patron by post when other channels fail; recover unreturned items",
        legal_basis=_MEMBERSHIP,
        retention=_WHILE_MEMBER + "; removed at once when the patron deletes it",
        protection=Protection.SEALED,
        # Compared, never searched: the monitoring household rule asks whether
        # a staff member and a patron may share an address.
        blind_index="address",
        masking=Masking.HIDDEN,
        exported=True,
        requirement=Requirement.ONE_CONTACT,
        optional_choice=True,
        needs_verification=True,
    ),
    PersonalField(
        key="birth_year",
        label="Year of birth",
        field_class=FieldClass.DEMOGRAPHIC,
        purpose="Decide the patron category and whether a guardian must consent",
        legal_basis=_MEMBERSHIP,
        retention=_WHILE_MEMBER,
        protection=Protection.SEALED,
        blind_index=None,
        masking=Masking.HIDDEN,
        exported=True,
        requirement=Requirement.OPTIONAL,
        optional_choice=True,
        excludes="birth_date",
        needs_verification=True,
    ),
    PersonalField(
        key="birth_date",
        label="Date of birth",
        field_class=FieldClass.DEMOGRAPHIC,
        purpose="Decide the patron category and whether a guardian must consent, to the day",
        legal_basis=_MEMBERSHIP,
        retention=_WHILE_MEMBER,
        protection=Protection.SEALED,
        blind_index=None,
        masking=Masking.HIDDEN,
        exported=True,
        requirement=Requirement.OPTIONAL,
        optional_choice=True,
        default_collected=False,
        excludes="birth_year",
        needs_verification=True,
    ),
    PersonalField(
        key="guardian_name",
        label="Guardian's name",
        field_class=FieldClass.CONTACT,
        purpose="Record who consented for a child below the guardian age, and whom to contact",
        legal_basis="Consent of the holder of parental responsibility",
        retention=_WHILE_MEMBER,
        protection=Protection.SEALED,
        blind_index=None,
        masking=Masking.INITIALS,
        exported=True,
        requirement=Requirement.CHILDREN,
        optional_choice=False,
        needs_verification=True,
    ),
    PersonalField(
        key="identity_verification",
        label="Identity check (kind of document, by whom, when; never the document number)",
        field_class=FieldClass.IDENTIFIER,
        purpose="Show that the card holder's identity was checked when the card was issued",
        legal_basis=_MEMBERSHIP,
        retention=_WHILE_MEMBER,
        protection=Protection.CLEAR,
        blind_index=None,
        masking=Masking.NONE,
        exported=True,
        requirement=Requirement.OPTIONAL,
        optional_choice=True,
        default_collected=False,
    ),
    PersonalField(
        key="category",
        label="Patron category (adult, child, ...)",
        field_class=FieldClass.DEMOGRAPHIC,
        purpose="Apply the right loan rules; tells whether guardian consent applies",
        legal_basis=_MEMBERSHIP,
        retention=_WHILE_MEMBER,
        protection=Protection.CLEAR,
        blind_index=None,
        masking=Masking.NONE,
        exported=True,
        requirement=Requirement.REQUIRED,
        optional_choice=False,
    ),
    PersonalField(
        key="home_branch",
        label="Home branch",
        field_class=FieldClass.DEMOGRAPHIC,
        purpose="Where holds are collected by default and which branch looks after the card",
        legal_basis=_MEMBERSHIP,
        retention=_WHILE_MEMBER,
        protection=Protection.CLEAR,
        blind_index=None,
        masking=Masking.NONE,
        exported=True,
        requirement=Requirement.REQUIRED,
        optional_choice=False,
    ),
    PersonalField(
        key="pin",
        label="PIN for self-service",
        field_class=FieldClass.IDENTIFIER,
        purpose="Let the patron sign in to the portal and the self-check machines",
        legal_basis=_MEMBERSHIP,
        retention=(
            "While the card is held (erased with the record two years after the card "
            "expires); the hash is deleted on erasure"
        ),
        protection=Protection.HASHED,
        blind_index=None,
        masking=Masking.HIDDEN,
        # A password hash is of no use to the patron and would help an attacker.
        exported=False,
        requirement=Requirement.OPTIONAL,
        optional_choice=False,
    ),
    PersonalField(
        key="consents",
        label="Consents given and withdrawn (purpose, notice version, when, how)",
        field_class=FieldClass.IDENTIFIER,
        purpose="Prove what the patron agreed to, and honour withdrawals at once",
        legal_basis="Legal obligation to demonstrate consent",
        retention=_WHILE_MEMBER,
        protection=Protection.CLEAR,
        blind_index=None,
        masking=Masking.NONE,
        exported=True,
        requirement=Requirement.REQUIRED,
        optional_choice=False,
    ),
)

BY_KEY: dict[str, PersonalField] = {f.key: f for f in FIELDS}
SEALED: tuple[PersonalField, ...] = tuple(f for f in FIELDS if f.sealed)
SEALED_KEYS: tuple[str, ...] = tuple(f.key for f in SEALED)
CONTACT_KEYS: tuple[str, ...] = tuple(
    f.key for f in FIELDS if f.requirement is Requirement.ONE_CONTACT
)
OPTIONAL_CHOICES: tuple[str, ...] = tuple(f.key for f in FIELDS if f.optional_choice)
DEFAULT_COLLECT: tuple[str, ...] = tuple(
    f.key for f in FIELDS if f.optional_choice and f.default_collected
)
DEFAULT_GUARDIAN_AGE = 14

# Consent purposes. `service` is the one without which nobody holds a card;
# the others are separate, optional choices and start switched off.
CONSENT_PURPOSES: dict[str, str] = {
    "service": "Hold a library card and borrow (required)",
    "reading_history": "Keep a history of my loans after I return them",
    "recommendations": "Suggest books from my loans and holds",
    "email_notices": "Send notices about loans and holds by email",
    "sms_notices": "Send notices about loans and holds by text message",
    "notice_titles": "Name the titles of my loans and holds in notices",
}
REQUIRED_CONSENT = "service"


def get(key: str) -> PersonalField:
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(
            f"{key!r} is not a field in the data-classification register "
            f"(known: {', '.join(BY_KEY)})."
        ) from None


def _patrons_config() -> dict[str, Any]:
    section = getattr(settings, "CONFIG", {}).get("patrons", {})
    if not isinstance(section, dict):
        raise ImproperlyConfigured("[patrons] in shelfguard.toml must be a table.")
    return section


def collected_choices() -> tuple[str, ...]:
    """The optional fields this library has chosen to collect (`[patrons] collect`).

    Read on every call so that a changed configuration takes effect without
    a restart of long-lived processes that re-read settings. Refuses a list
    that names unknown fields, both birth fields, or no contact channel: each
    would make registration impossible or collect more than was chosen.
    """
    raw = _patrons_config().get("collect", list(DEFAULT_COLLECT))
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ImproperlyConfigured(
            "[patrons] collect in shelfguard.toml must be a list of field names, e.g. "
            'collect = ["email", "phone"].'
        )
    unknown = [item for item in raw if item not in OPTIONAL_CHOICES]
    if unknown:
        raise ImproperlyConfigured(
            f"[patrons] collect names {', '.join(unknown)}, which the library cannot choose; "
            f"choose from {', '.join(OPTIONAL_CHOICES)}."
        )
    chosen = tuple(key for key in OPTIONAL_CHOICES if key in raw)
    for key in chosen:
        other = BY_KEY[key].excludes
        if other and other in chosen:
            raise ImproperlyConfigured(
                f"[patrons] collect names both {key} and {other}; choose one of them."
            )
    if not any(key in chosen for key in CONTACT_KEYS):
        raise ImproperlyConfigured(
            "[patrons] collect must include at least one contact channel "
            f"({', '.join(CONTACT_KEYS)}): a card needs a way to reach its holder."
        )
    return chosen


def is_collected(key: str) -> bool:
    """True when the library keeps this field (always-kept fields, or chosen in `collect`)."""
    field = get(key)
    return not field.optional_choice or key in collected_choices()


def collected_fields() -> tuple[PersonalField, ...]:
    chosen = collected_choices()
    return tuple(f for f in FIELDS if not f.optional_choice or f.key in chosen)


def collected_sealed_keys() -> tuple[str, ...]:
    return tuple(f.key for f in collected_fields() if f.sealed)


def collected_contact_keys() -> tuple[str, ...]:
    return tuple(key for key in CONTACT_KEYS if key in collected_choices())


def birth_field() -> str | None:
    """`birth_year` or `birth_date`, whichever the library collects, or None."""
    chosen = collected_choices()
    for key in ("birth_year", "birth_date"):
        if key in chosen:
            return key
    return None


def guardian_age() -> int:
    """Below this age a guardian consents for the child (`[patrons] guardian_age`, default 14)."""
    value = _patrons_config().get("guardian_age", DEFAULT_GUARDIAN_AGE)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 25:
        raise ImproperlyConfigured(
            f"[patrons] guardian_age in shelfguard.toml must be a whole number of years "
            f"from 1 to 25, not {value!r}."
        )
    return value


def correctable_keys() -> tuple[str, ...]:
    """Sealed fields a patron may ask to change from the portal (not the card number)."""
    return tuple(k for k in collected_sealed_keys() if k != "card_number")


def self_editable() -> tuple[str, ...]:
    """Fields the patron changes at once, after re-authenticating (`[patrons] self_editable`).

    The default is the contact channels that need no proof (e-mail, phone);
    every other correctable field goes through a reviewed correction request.
    A library may list fewer, or add other correctable fields it trusts.
    """
    default = [k for k in CONTACT_KEYS if not BY_KEY[k].needs_verification]
    raw = _patrons_config().get("self_editable", default)
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ImproperlyConfigured(
            "[patrons] self_editable in shelfguard.toml must be a list of field names, e.g. "
            'self_editable = ["email", "phone"].'
        )
    allowed = [k for k in SEALED_KEYS if k != "card_number"]
    unknown = [item for item in raw if item not in allowed]
    if unknown:
        raise ImproperlyConfigured(
            f"[patrons] self_editable names {', '.join(unknown)}, which a patron cannot change "
            f"themselves; choose from {', '.join(allowed)}."
        )
    return tuple(k for k in correctable_keys() if k in raw)


def reviewed_keys() -> tuple[str, ...]:
    """Correctable fields whose change the staff review (everything not self-editable)."""
    own = self_editable()
    return tuple(k for k in correctable_keys() if k not in own)


def self_registration_keys() -> tuple[str, ...]:
    """Fields the public self-registration form asks for, of those this library collects."""
    return tuple(f.key for f in collected_fields() if f.self_registration)


def exported_keys() -> tuple[str, ...]:
    """Fields that belong in the patron's own data export, in register order."""
    return tuple(f.key for f in collected_fields() if f.exported)


# --- Masking -------------------------------------------------------------------

_DOT = "•"


def mask(key: str, value: str | None) -> str:
    """The value as a staff screen shows it before a reveal (never enough to identify)."""
    if value is None or value == "":
        return ""
    style = get(key).masking
    if style is Masking.NONE:
        return value
    if style is Masking.LAST4:
        return _DOT * 4 + value[-4:] if len(value) > 6 else _DOT * len(value)
    if style is Masking.LAST2:
        digits = "".join(ch for ch in value if ch.isdigit())
        return _DOT * 4 + digits[-2:] if len(digits) > 4 else _DOT * 4
    if style is Masking.INITIALS:
        return " ".join(part[0] + "." for part in value.split() if part)
    if style is Masking.EMAIL:
        local, _, domain = value.partition("@")
        return f"{local[:1]}{_DOT * 3}@{domain}" if domain else _DOT * 4
    return _DOT * 4


# --- The record of processing ----------------------------------------------------


def as_records(fields: Iterable[PersonalField] | None = None) -> list[dict[str, Any]]:
    chosen = collected_choices()
    records = []
    for f in FIELDS if fields is None else fields:
        records.append(
            {
                "key": f.key,
                "label": f.label,
                "class": f.field_class.value,
                "purpose": f.purpose,
                "legal_basis": f.legal_basis,
                "retention": f.retention,
                "protection": f.protection.value,
                "sealed": f.sealed,
                "blind_indexed": f.blind_index is not None,
                "masked": f.masking is not Masking.NONE,
                "masking": f.masking.value,
                "exported": f.exported,
                "requirement": f.requirement.value,
                "optional_choice": f.optional_choice,
                "collected": not f.optional_choice or f.key in chosen,
            }
        )
    return records


def as_document() -> dict[str, Any]:
    """The register as data: what `shelfguard privacy register --format json` prints."""
    return {
        "library": getattr(settings, "LIBRARY_NAME", ""),
        "collect": list(collected_choices()),
        "guardian_age": guardian_age(),
        "consent_purposes": [
            {"purpose": key, "description": text, "required": key == REQUIRED_CONSENT}
            for key, text in CONSENT_PURPOSES.items()
        ],
        "fields": as_records(),
    }


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def as_markdown() -> str:
    """The register as the library's record of processing, in Markdown."""
    doc = as_document()
    lines = [
        f"# Record of processing: patron data — {doc['library']}",
        "",
        (
            "Generated from Shelfguard's data-classification register and this library's "
            "configuration (`[patrons]` in shelfguard.toml)."
        ),
        "",
        f"- Optional fields collected: {', '.join(doc['collect']) or 'none'}",
        f"- Guardian consent needed below age {doc['guardian_age']}",
        "",
        "| Field | Class | Collected | Protection | Blind index | Masked | Exported | Requirement |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in doc["fields"]:
        lines.append(
            f"| {_cell(r['label'])} (`{r['key']}`) | {r['class']} | {_yes(r['collected'])} | "
            f"{r['protection']} | {_yes(r['blind_indexed'])} | {r['masking']} | "
            f"{_yes(r['exported'])} | {r['requirement']} |"
        )
    lines += ["", "## Purpose, legal basis and retention", ""]
    for r in doc["fields"]:
        state = "collected" if r["collected"] else "not collected by this library"
        lines += [
            f"### {r['label']} (`{r['key']}`, {state})",
            "",
            f"- Purpose: {r['purpose']}",
            f"- Legal basis: {r['legal_basis']}",
            f"- Retention: {r['retention']}",
            "",
        ]
    lines += ["## Consent purposes", ""]
    for c in doc["consent_purposes"]:
        note = " (required to hold a card)" if c["required"] else " (off unless the patron opts in)"
        lines.append(f"- `{c['purpose']}`: {c['description']}{note}")
    return "\n".join(lines) + "\n"
