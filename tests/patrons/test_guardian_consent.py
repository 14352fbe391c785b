"""Children below the guardian age need a guardian's recorded consent, for every purpose."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.core import clock
from shelfguard.patrons import services
from shelfguard.patrons.models import Consent
from shelfguard.patrons.validation import PatronError

from .conftest import BOTH_DATABASES, DESK, adult_values

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]

TODAY = dt.datetime(2026, 6, 15, 10, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fixed_day():
    with clock.frozen(TODAY):
        yield


def child_values(**overrides):
    return adult_values(category="child", birth_year=2016, **overrides)


def test_a_child_is_registered_only_with_a_guardian(library):
    with pytest.raises(PatronError, match="give the name of the parent or guardian"):
        services.register(**child_values(), by_guardian=True, actor=DESK)
    with pytest.raises(PatronError, match="parent or guardian must give the consent"):
        services.register(**child_values(guardian_name="Gwen Guardian"), actor=DESK)

    child = services.register(
        **child_values(guardian_name="Gwen Guardian"), by_guardian=True, actor=DESK
    )

    assert child.guardian_required
    assert Consent.objects.get(patron=child).by_guardian
    assert services.has_consent(child, "service")
    assert services.reveal(child, ["guardian_name"], actor=DESK, purpose="check") == {
        "guardian_name": "Gwen Guardian"
    }


def test_a_child_cannot_consent_alone(library):
    child = services.register(
        **child_values(guardian_name="Gwen Guardian"), by_guardian=True, actor=DESK
    )

    with pytest.raises(PatronError, match="only a parent or guardian can give consent"):
        services.give_consent(child, "reading_history", actor=DESK)
    services.give_consent(child, "reading_history", actor=DESK, by_guardian=True)
    assert services.has_consent(child, "reading_history")
    # Withdrawing only ever stops processing, so the child may do it alone.
    services.withdraw_consent(child, "reading_history", actor=DESK)
    assert not services.has_consent(child, "reading_history")


@pytest.mark.parametrize(
    ("birth_year", "guardian_age", "needs_guardian"),
    [
        (2013, 14, True),  # 12 or 13 this year
        (2012, 14, True),  # 13 or 14: may still be 13, so a guardian consents (fail closed)
        (2011, 14, False),  # 14 or 15
        (2011, 16, True),
        (1990, 14, False),
    ],
)
def test_the_guardian_age_follows_the_birth_year_and_configuration(
    library, settings, birth_year, guardian_age, needs_guardian
):
    settings.CONFIG = {"patrons": {"guardian_age": guardian_age}}
    values = adult_values(birth_year=birth_year, category="child")
    if needs_guardian:
        with pytest.raises(PatronError, match=f"under {guardian_age}"):
            services.register(**values, actor=DESK)
        patron = services.register(
            **values, guardian_name="Gwen Guardian", by_guardian=True, actor=DESK
        )
    else:
        with pytest.raises(PatronError, match="guardian's name is kept only"):
            services.register(**values, guardian_name="Gwen Guardian", actor=DESK)
        patron = services.register(**values, actor=DESK)
    assert patron.guardian_required is needs_guardian


def test_without_birth_data_the_child_category_decides(library, settings):
    settings.CONFIG = {"patrons": {"collect": ["email"]}}
    values = adult_values(category="child", birth_year=None, phone=None, address=None)

    with pytest.raises(PatronError, match="under 14"):
        services.register(**values, actor=DESK)


def test_a_corrected_birth_year_makes_the_guardian_rule_apply(library):
    patron = services.register(**adult_values(birth_year=1990), actor=DESK)
    assert services.has_consent(patron, "service")

    with pytest.raises(PatronError, match="give the name of the parent or guardian"):
        services.update(patron, {"birth_year": 2016}, actor=DESK, purpose="correction")
    services.update(
        patron,
        {"birth_year": 2016, "guardian_name": "Gwen Guardian", "category": "child"},
        actor=DESK,
        purpose="correction",
    )

    patron.refresh_from_db()
    assert patron.guardian_required
    # The adult's own consent no longer counts: a guardian must give it again.
    assert not services.has_consent(patron, "service")
    services.give_consent(patron, "service", actor=DESK, by_guardian=True)
    assert services.has_consent(patron, "service")


def test_growing_out_of_the_guardian_rule_drops_the_guardian_name(library):
    child = services.register(
        **child_values(guardian_name="Gwen Guardian"), by_guardian=True, actor=DESK
    )

    services.update(
        child, {"birth_year": 2000, "category": "adult"}, actor=DESK, purpose="correction"
    )

    child.refresh_from_db()
    assert not child.guardian_required
    assert child.guardian_name_sealed is None
