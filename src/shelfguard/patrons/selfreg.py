"""Self-registration: a card applied for online, confirmed by e-mail, provisional until a desk.

The library switches it on with `[portal] self_registration = true` in
shelfguard.toml (off by default: a library decides to accept cards from the
internet; `shelfguard demo` switches it on). The form asks only for the
register's self-registration fields this library collects (name and e-mail
by default), the patron's consent to the current privacy notice and a
portal password.

1. `apply` registers the patron in the `provisional` category with a
   generated card number, *blocked* until the e-mail address is confirmed
   (a blocked card cannot sign in or borrow), and mails a one-time link.
   Only a keyed hash of the link's token is stored; it works for 48 hours.
   An address that already belongs to a card gets a mail saying so instead,
   and the page answers the same either way, so the form does not tell
   anyone whether an address is registered.
2. `verify_email` (the link) unblocks the card and returns its number once,
   for the page; the number is never put in a mail.
3. `verify_identity` (a desk, permission `patron.change`) records the kind
   of document shown, when the library records identity checks, and moves
   the card to its final category. Until then the loan rules of the
   `provisional` category apply (2 items; made at the first application by
   `ensure_provisional_rule`; the library may change that rule).

`purge_unverified(now)` erases applications whose address was not
confirmed within 30 days (`shelfguard patron purge-unverified`; a job
runner will schedule it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils.translation import gettext as _

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons import register as reg
from shelfguard.patrons.erasure import erase
from shelfguard.patrons.errors import PatronNotFound
from shelfguard.patrons.lookup import find_by_email, reveal
from shelfguard.patrons.models import (
    IdentityDocument,
    Patron,
    PatronCategory,
    PatronStatus,
    SelfRegistration,
)
from shelfguard.patrons.records import _actor_label
from shelfguard.patrons.registration import _discard_key, register, update
from shelfguard.patrons.validation import PatronError

logger = logging.getLogger(__name__)

PROVISIONAL_CATEGORY = "provisional"
TOKEN_LIFETIME = dt.timedelta(hours=48)
UNVERIFIED_RETENTION = dt.timedelta(days=30)
CARD_PREFIX = "SR"
PURPOSE = "self-registration"
IDENTITY_PURPOSE = "identity checked at the desk"
PURGE_REASON = "self-registration not confirmed within 30 days"
#: The loan rule a provisional card starts with (the library may change it).
PROVISIONAL_RULE = {"max_items": 2, "renewals": 1}


class SelfRegistrationError(PatronError):
    """A refused application or link; the message holds no personal value."""


# --- configuration -------------------------------------------------------------------


def enabled() -> bool:
    """`[portal] self_registration` (default false): may the public apply for a card?"""
    section = getattr(settings, "CONFIG", {}).get("portal", {})
    value = section.get("self_registration", False) if isinstance(section, dict) else False
    if not isinstance(value, bool):
        raise ImproperlyConfigured(
            "[portal] self_registration in shelfguard.toml must be true or false."
        )
    return value


def available() -> bool:
    """Switched on, and possible: the confirmation needs an e-mail address to write to."""
    return enabled() and "email" in reg.self_registration_keys()


def form_fields() -> tuple[str, ...]:
    """The personal fields the public form asks for (register-driven)."""
    return reg.self_registration_keys()


# --- tokens --------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    key = hmac.new(settings.SECRET_KEY.encode(), b"patrons-selfreg-link", hashlib.sha256).digest()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _clean_token(token: Any) -> str | None:
    if not isinstance(token, str) or not 20 <= len(token) <= 64:
        return None
    if not all(ch.isalnum() or ch in "-_" for ch in token):
        return None
    return token


def _new_card_number() -> str:
    return CARD_PREFIX + "".join(secrets.choice("0123456789") for _ in range(10))


# --- applying ------------------------------------------------------------------------


@dataclass(frozen=True)
class Application:
    """What `apply` did, for tests and the operator; the page says the same in every case."""

    #: The new patron's id, or None when the address already belongs to a card.
    patron_id: int | None
    mail_sent: bool


def apply(
    values: Mapping[str, Any],
    *,
    home_branch: str,
    consents: Iterable[str] = (),
    set_credentials: Callable[[Patron], None],
    link_for: Callable[[str], str],
    actor: Actor,
    purpose: str = PURPOSE,
    origin: str = "",
) -> Application:
    """Register an applicant (blocked, provisional) and mail the confirmation link.

    `values` holds the form's personal fields; `consents` the optional
    purposes ticked (service is implied by accepting the notice).
    `set_credentials(patron)` stores the portal password in the same
    transaction (the portal owns passwords); `link_for(token)` makes the
    link's absolute address. Raises `SelfRegistrationError` when switched
    off, `PatronError` for refused values.
    """
    if not available():
        raise SelfRegistrationError("This library does not take card applications online.")
    allowed = set(form_fields())
    extra = [k for k in values if k not in allowed]
    if extra:
        raise PatronError(f"The application form does not ask for {', '.join(sorted(extra))}.")
    if not values.get("email"):
        raise PatronError("Give your e-mail address: the confirmation link is sent there.")
    wanted = [reg.REQUIRED_CONSENT, *(c for c in consents if c != reg.REQUIRED_CONSENT)]

    existing = find_by_email(str(values["email"]))
    holders = [p for p in existing if not _unconfirmed(p)]
    if holders:
        return Application(patron_id=None, mail_sent=_send_already(str(values["email"])))

    # An earlier application with this address that was never confirmed gives
    # way to this one: only whoever reads the mailbox can confirm either.
    for old in existing:
        with transaction.atomic():
            _erase_application(old, actor, "replaced by a new application")

    token = secrets.token_urlsafe(32)
    now = clock.now()
    patron: Patron | None = None
    try:
        with transaction.atomic():
            ensure_provisional_rule()
            patron = _register_new(values, home_branch, wanted, actor, purpose, origin)
            Patron.objects.filter(pk=patron.pk).update(status=PatronStatus.BLOCKED)
            patron.status = PatronStatus.BLOCKED
            SelfRegistration.objects.create(
                patron=patron,
                token_hash=_token_hash(token),
                token_expires_at=now + TOKEN_LIFETIME,
                created_at=now,
            )
            set_credentials(patron)
            ledger.append(
                actor=actor,
                action="patron.self_register",
                purpose=purpose,
                patron_id=patron.pk,
                origin=origin,
                detail={"step": "applied", "link_hours": TOKEN_LIFETIME // dt.timedelta(hours=1)},
            )
    except BaseException:
        if patron is not None:
            # The registration committed its key to the vault; nothing uses it now.
            _discard_key(patron.key_id)
        raise
    return Application(patron_id=patron.pk, mail_sent=_send_link(patron, link_for(token)))


def ensure_provisional_rule() -> None:
    """The `provisional` category and, unless it has one, its loan rule (2 items at a time).

    Made at the first application rather than shipped with every
    installation, so that a library that never takes applications online has
    neither. The rule is an ordinary cell of the loan-rule matrix, made
    through the circulation service (and recorded like any rule change): the
    library edits it like any other. A library that deletes it gets it back
    at the next application; to lift the limit, raise it instead.
    """
    from shelfguard.circulation import services as circulation
    from shelfguard.circulation.models import LoanPolicy

    category, _created = PatronCategory.objects.get_or_create(
        code=PROVISIONAL_CATEGORY, defaults={"name": "Provisional (identity not yet checked)"}
    )
    has_rule = LoanPolicy.objects.filter(
        patron_category=category, item_type__isnull=True, branch__isnull=True
    ).exists()
    if not has_rule:
        circulation.set_policy(
            category=PROVISIONAL_CATEGORY,
            actor=Actor.system("self-registration"),
            purpose="loan rule of provisional cards",
            **PROVISIONAL_RULE,
        )


def _register_new(
    values: Mapping[str, Any],
    home_branch: str,
    consents: list[str],
    actor: Actor,
    purpose: str,
    origin: str,
) -> Patron:
    """`register` with a generated card number (a new one should it be taken by chance)."""
    for _attempt in range(5):
        try:
            return register(
                card_number=_new_card_number(),
                category=PROVISIONAL_CATEGORY,
                home_branch=home_branch,
                consents=consents,
                actor=actor,
                purpose=purpose,
                origin=origin,
                **values,
            )
        except PatronError as exc:
            if "card number is already registered" not in str(exc):
                raise
    raise SelfRegistrationError("No free card number was found; try again.")


def _unconfirmed(patron: Patron) -> bool:
    return SelfRegistration.objects.filter(patron=patron, verified_at__isnull=True).exists()


def _erase_application(patron: Patron, actor: Actor, reason: str) -> None:
    erase(patron, actor=actor, reason=reason, purpose=PURPOSE)
    SelfRegistration.objects.filter(patron_id=patron.pk).delete()


def _library() -> str:
    return str(getattr(settings, "LIBRARY_NAME", "") or _("the library"))


def _send(to: str, subject: str, body: str, patron_id: int | None) -> bool:
    try:
        EmailMessage(subject=subject, body=body, to=[to]).send()
    except Exception:  # noqa: BLE001  (any transport failure: the page says to try later)
        # Ids only: the address stays out of the log.
        logger.warning("The self-registration mail for patron %s could not be sent.", patron_id)
        return False
    return True


def _send_link(patron: Patron, link: str) -> bool:
    sender = Actor(kind="system", ident="self-registration", channel="web")
    email = reveal(patron, ["email"], actor=sender, purpose="send the confirmation link")
    body = _(
        "Someone (we hope you) applied for a library card at %(library)s with this e-mail "
        "address.\n\nTo confirm it, open this link within 48 hours:\n\n%(link)s\n\n"
        "Your card number is shown on the page the link opens; it is not sent by e-mail. "
        "If you did not apply, ignore this message: the application is deleted after 30 days."
    ) % {"library": _library(), "link": link}
    return _send(email["email"] or "", _("Confirm your library card application"), body, patron.pk)


def _send_already(email: str) -> bool:
    body = _(
        "Someone asked for a library card at %(library)s with this e-mail address, which "
        "already belongs to a card. Nothing was changed.\n\nIf it was you, sign in to your "
        "account, or ask at the library if you have lost your card or password. If it was "
        "not you, ignore this message."
    ) % {"library": _library()}
    return _send(email, _("Your library card application"), body, None)


# --- confirming the address -------------------------------------------------------------


@dataclass(frozen=True)
class Confirmed:
    patron_id: int
    card_number: str


def open_link(token: Any) -> SelfRegistration | None:
    """The application a live link belongs to (unused, unexpired, not erased), or None."""
    clean = _clean_token(token)
    if clean is None:
        return None
    return (
        SelfRegistration.objects.select_related("patron")
        .filter(
            token_hash=_token_hash(clean),
            verified_at__isnull=True,
            token_expires_at__gt=clock.now(),
            patron__status=PatronStatus.BLOCKED,
        )
        .first()
    )


def verify_email(token: Any, *, actor_for: Callable[[int], Actor]) -> Confirmed:
    """Confirm the address: the card is unblocked; its number is returned to show once.

    `actor_for(patron_id)` names the actor (the patron on the portal). The
    link works once: a second use, or one after 48 hours, is refused.
    """
    found = open_link(token)
    if found is None:
        raise SelfRegistrationError(
            "This link is not valid any more: it was used already or is older than 48 hours. "
            "Apply again, or ask at the library."
        )
    actor = actor_for(found.patron_id)
    with transaction.atomic():
        # Claimed first by a conditional update: of two uses racing, the second finds nothing.
        claimed = SelfRegistration.objects.filter(pk=found.pk, verified_at__isnull=True).update(
            verified_at=clock.now(), token_hash="", token_expires_at=None
        )
        if not claimed:
            raise SelfRegistrationError("This link has already been used.")
        update(
            found.patron_id,
            {"status": PatronStatus.ACTIVE},
            actor=actor,
            purpose="self-registration: e-mail address confirmed",
        )
        ledger.append(
            actor=actor,
            action="patron.self_register",
            purpose=PURPOSE,
            patron_id=found.patron_id,
            detail={"step": "email-confirmed"},
        )
        card = reveal(
            found.patron_id,
            ["card_number"],
            actor=actor,
            purpose="self-registration: show the new card number",
        )["card_number"]
    return Confirmed(patron_id=found.patron_id, card_number=card or "")


# --- the desk: identity checked ------------------------------------------------------------


def is_provisional(patron: Patron | int) -> bool:
    """A confirmed self-registration whose identity no desk has checked yet."""
    pk = patron if isinstance(patron, int) else patron.pk
    return SelfRegistration.objects.filter(
        patron_id=pk, verified_at__isnull=False, identity_checked_at__isnull=True
    ).exists()


def verify_identity(
    patron: Patron | int,
    *,
    document: str = "",
    actor: Actor,
    purpose: str = IDENTITY_PURPOSE,
    origin: str = "",
) -> Patron:
    """A desk saw the holder: record the document kind (if recorded here), lift the provisional status.

    The change goes through `update` (the record's change history names the
    staff member), and one more ledger entry records the check itself.
    """
    pk = patron if isinstance(patron, int) else patron.pk
    records_documents = reg.is_collected("identity_verification")
    document = (document or "").strip()
    if records_documents and document not in [d for d in IdentityDocument.values if d]:
        raise PatronError("Choose the kind of document that was shown.")
    if not records_documents and document:
        raise PatronError(
            "This library does not record identity checks; leave the document kind out."
        )
    with transaction.atomic():
        row = SelfRegistration.objects.select_for_update().filter(patron_id=pk).first()
        if row is None or row.verified_at is None:
            raise PatronNotFound(
                "This card was not applied for online, or its e-mail address is not confirmed yet."
            )
        if row.identity_checked_at is not None:
            raise PatronError("The identity of this card holder was checked already.")
        changes: dict[str, Any] = {"category": row.target_category}
        if records_documents:
            changes["identity_document"] = document
        updated = update(pk, changes, actor=actor, purpose=purpose, origin=origin)
        row.identity_checked_at = clock.now()
        row.save(update_fields=["identity_checked_at"])
        ledger.append(
            actor=actor,
            action="patron.identity_check",
            purpose=purpose,
            patron_id=pk,
            fields=["identity_verification"] if records_documents else [],
            origin=origin,
            detail={"provisional_lifted": True, "by": _actor_label(actor)},
        )
    return updated


# --- unconfirmed applications are erased -------------------------------------------------


def purge_unverified(
    now: dt.datetime | None = None,
    *,
    actor: Actor | None = None,
    on_patron: Callable[[], None] | None = None,
) -> int:
    """Erase applications not confirmed within 30 days of being made; returns how many.

    An application made exactly 30 days before `now` is erased. Each is
    erased on its own (`patrons.erase`, one transaction and ledger entry
    each), so one failure does not keep the others.
    """
    now = now or clock.now()
    actor = actor or Actor.system("purge-unverified")
    due = list(
        SelfRegistration.objects.filter(
            verified_at__isnull=True, created_at__lte=now - UNVERIFIED_RETENTION
        )
        .exclude(patron__status=PatronStatus.ERASED)
        .values_list("patron_id", flat=True)
    )
    erased = 0
    for patron_id in due:
        try:
            with transaction.atomic():
                _erase_application(Patron.objects.get(pk=patron_id), actor, PURGE_REASON)
        except PatronError:
            logger.warning("Unconfirmed application of patron %s was not erased.", patron_id)
        else:
            erased += 1
        if on_patron is not None:
            on_patron()
    return erased


def count_unverified_due(now: dt.datetime | None = None) -> int:
    """How many applications `purge_unverified(now)` would erase (for a progress bar)."""
    now = now or clock.now()
    return SelfRegistration.objects.filter(
        verified_at__isnull=True, created_at__lte=now - UNVERIFIED_RETENTION
    ).count()
