"""Names for the MARC language codes a public library meets most often.

MARC 008/35-37 holds a three-letter code from the MARC Code List for
Languages (mostly ISO 639-2/B). The public sees a translated name instead of
the code, and the vernacular title gets a `lang` attribute so that screen
readers pronounce it and browsers pick a font for its script. A code that is
not listed here is shown as it is: the list covers what patrons filter by,
not every language ever catalogued.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# MARC code -> (display name, BCP 47 tag for the `lang` attribute or "" when
# the code names no single language).
_LANGUAGES: dict[str, tuple[Promise, str]] = {
    "ara": (_("Arabic"), "ar"),
    "ben": (_("Bengali"), "bn"),
    "bul": (_("Bulgarian"), "bg"),
    "cat": (_("Catalan"), "ca"),
    "chi": (_("Chinese"), "zh"),
    "cze": (_("Czech"), "cs"),
    "dan": (_("Danish"), "da"),
    "dut": (_("Dutch"), "nl"),
    "eng": (_("English"), "en"),
    "fin": (_("Finnish"), "fi"),
    "fre": (_("French"), "fr"),
    "ger": (_("German"), "de"),
    "gle": (_("Irish"), "ga"),
    "grc": (_("Ancient Greek"), "grc"),
    "gre": (_("Greek"), "el"),
    "heb": (_("Hebrew"), "he"),
    "hin": (_("Hindi"), "hi"),
    "hrv": (_("Croatian"), "hr"),
    "hun": (_("Hungarian"), "hu"),
    "ind": (_("Indonesian"), "id"),
    "ita": (_("Italian"), "it"),
    "jpn": (_("Japanese"), "ja"),
    "kor": (_("Korean"), "ko"),
    "lat": (_("Latin"), "la"),
    "may": (_("Malay"), "ms"),
    "nor": (_("Norwegian"), "no"),
    "per": (_("Persian"), "fa"),
    "pol": (_("Polish"), "pl"),
    "por": (_("Portuguese"), "pt"),
    "rum": (_("Romanian"), "ro"),
    "rus": (_("Russian"), "ru"),
    "spa": (_("Spanish"), "es"),
    "srp": (_("Serbian"), "sr"),
    "swe": (_("Swedish"), "sv"),
    "tgl": (_("Tagalog"), "tl"),
    "tha": (_("Thai"), "th"),
    "tur": (_("Turkish"), "tr"),
    "ukr": (_("Ukrainian"), "uk"),
    "urd": (_("Urdu"), "ur"),
    "vie": (_("Vietnamese"), "vi"),
    "wel": (_("Welsh"), "cy"),
    "yid": (_("Yiddish"), "yi"),
    "mul": (_("Multiple languages"), ""),
    "und": (_("Undetermined language"), ""),
    "zxx": (_("No linguistic content"), ""),
}


def language_name(code: str) -> str:
    """The translated name of a MARC language code, or the code itself if unknown."""
    entry = _LANGUAGES.get(code.strip().lower())
    return str(entry[0]) if entry else code


def language_tag(code: str) -> str:
    """The BCP 47 tag for a MARC language code, or "" when there is none to give."""
    entry = _LANGUAGES.get(code.strip().lower())
    return entry[1] if entry else ""
