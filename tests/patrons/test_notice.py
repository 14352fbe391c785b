"""The privacy notice: shipped in English and Simplified Chinese, listing what this library collects."""

from __future__ import annotations

import pytest

from shelfguard.patrons import privacy_notice
from shelfguard.patrons import register as reg
from shelfguard.patrons.models import PrivacyNotice

from .conftest import BOTH_DATABASES

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


def test_both_languages_are_published_with_the_version(library):
    english = privacy_notice.current("en")
    chinese = privacy_notice.current("zh-hans")

    assert english.version == chinese.version == 1
    assert english.text.startswith("# How Shelfguard Public Library looks after your information")
    assert "Notice version 1." in english.text
    assert "告知版本：1。" in chinese.text
    assert "Children under 14" in english.text
    assert "未满 14 岁" in chinese.text
    # An unknown language falls back to English.
    assert privacy_notice.current("fr").language == "en"


def test_the_field_list_follows_the_collect_choice(settings):
    default = privacy_notice.render("en")
    assert "Your email address" in default and "Your year of birth" in default
    assert "Your date of birth" not in default

    settings.CONFIG = {"patrons": {"collect": ["phone", "birth_date"]}}
    chosen = privacy_notice.render("en")
    assert "Your email address" not in chosen and "Your postal address" not in chosen
    assert "Your date of birth" in chosen
    assert "您的出生日期" in privacy_notice.render("zh-hans")


@pytest.mark.parametrize("language", privacy_notice.LANGUAGES)
def test_every_register_field_has_plain_words_in_every_language(settings, language):
    settings.CONFIG = {
        "patrons": {"collect": [k for k in reg.OPTIONAL_CHOICES if k != "birth_year"]}
    }
    text = privacy_notice.render(language)
    assert "$" not in text
    # Plain words, not codes such as reading_history or card_number.
    for code in [*reg.CONSENT_PURPOSES, *reg.BY_KEY]:
        if "_" in code:
            assert code not in text
    for field in reg.collected_fields():
        assert field.key in privacy_notice._table(f"fields.{language}.toml")


def test_a_changed_configuration_publishes_a_new_version(settings):
    settings.CONFIG = {"patrons": {"guardian_age": 16}}

    assert privacy_notice.publish() == privacy_notice.Publication(version=2, created=True)
    assert "Children under 16" in privacy_notice.current("en").text
    assert PrivacyNotice.objects.filter(version=1).exists()  # old versions stay, unchanged
