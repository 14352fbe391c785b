"""The published privacy notice: rendered from the shipped texts and the register, versioned.

The texts live in `patrons/notices/` as files (one template and one list of
plain-language field lines per language). Which fields the notice lists comes
from the register and the library's `[patrons] collect` choice, so a library
that stops collecting phone numbers publishes a notice that no longer
mentions them. Each change of the rendered text publishes a new version;
consents record the version they were given under.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass
from importlib import resources

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils.html import escape
from django.utils.safestring import mark_safe

from shelfguard.core import clock
from shelfguard.patrons import register
from shelfguard.patrons.models import PrivacyNotice

#: Languages with a shipped notice (the codes of settings.LANGUAGES).
LANGUAGES: tuple[str, ...] = ("en", "zh-hans")

# Placeholder for the version in the template: the text is compared with the
# newest published text before the version number is known.
_VERSION_PLACEHOLDER = "\x00version\x00"


class NoticeError(RuntimeError):
    """No notice is published, or a shipped notice file is missing or incomplete."""


def _read(name: str) -> str:
    path = resources.files("shelfguard.patrons").joinpath("notices", name)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NoticeError(
            f"The shipped notice file notices/{name} is missing; reinstall Shelfguard."
        ) from None


def _table(name: str) -> dict[str, object]:
    try:
        return tomllib.loads(_read(name))
    except tomllib.TOMLDecodeError as exc:
        raise NoticeError(f"notices/{name} is not valid TOML ({exc}).") from exc


def render(language: str, *, version: int | str = _VERSION_PLACEHOLDER) -> str:
    """The notice text for one language under this library's configuration."""
    fields_text = _table(f"fields.{language}.toml")
    consents_text = _table(f"consents.{language}.toml")
    lines = []
    for field in register.collected_fields():
        entry = fields_text.get(field.key)
        if not isinstance(entry, dict) or "what" not in entry or "why" not in entry:
            raise NoticeError(
                f"notices/fields.{language}.toml has no 'what' and 'why' for {field.key!r}; "
                "every field of the register needs both."
            )
        separator = "：" if language.startswith("zh") else ": "
        lines.append(f"- **{entry['what']}**{separator}{entry['why']}")
    consent_lines = []
    for purpose in register.CONSENT_PURPOSES:
        text = consents_text.get(purpose)
        if not isinstance(text, str):
            raise NoticeError(f"notices/consents.{language}.toml has no line for {purpose!r}.")
        consent_lines.append(f"- {text}")
    template = string.Template(_read(f"{language}.md"))
    return template.substitute(
        library=getattr(settings, "LIBRARY_NAME", "the library"),
        fields="\n".join(lines),
        consents="\n".join(consent_lines),
        guardian_age=register.guardian_age(),
        version=version,
    )


@dataclass(frozen=True)
class Publication:
    version: int
    created: bool


def publish() -> Publication:
    """Publish the rendered notice as a new version if it differs from the newest one.

    Idempotent: `shelfguard init` calls it every time, and a new version
    appears only when the configuration or the shipped texts changed.
    """
    with transaction.atomic():
        # Two processes publishing at once would both pick version N+1; the
        # unique (version, language) constraint makes the second one fail
        # instead of publishing a duplicate.
        newest = PrivacyNotice.objects.aggregate(v=Max("version"))["v"]
        rendered = {language: render(language) for language in LANGUAGES}
        if newest is not None:
            published = dict(
                PrivacyNotice.objects.filter(version=newest).values_list("language", "text")
            )
            same = all(
                published.get(language) == text.replace(_VERSION_PLACEHOLDER, str(newest))
                for language, text in rendered.items()
            )
            if same:
                return Publication(version=newest, created=False)
        version = (newest or 0) + 1
        now = clock.now()
        PrivacyNotice.objects.bulk_create(
            PrivacyNotice(
                version=version,
                language=language,
                text=text.replace(_VERSION_PLACEHOLDER, str(version)),
                published_at=now,
            )
            for language, text in rendered.items()
        )
        return Publication(version=version, created=True)


def current_version() -> int:
    """The newest published notice version; consent is given under it."""
    newest = PrivacyNotice.objects.aggregate(v=Max("version"))["v"]
    if newest is None:
        raise NoticeError(
            "No privacy notice is published yet, so nobody can consent to anything; "
            "run `shelfguard init` to publish the default notice."
        )
    return newest


def current(language: str) -> PrivacyNotice:
    """The newest notice in `language`, falling back to English."""
    version = current_version()
    notice = PrivacyNotice.objects.filter(version=version, language=language).first()
    return notice or PrivacyNotice.objects.get(version=version, language="en")


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def as_html(text: str) -> str:
    """The notice's plain Markdown (headings, lists, bold) as HTML; everything else is escaped.

    The notice opens with its own title, so its `#` becomes `h3` below the
    page's `h2` "Privacy notice", and `##` becomes `h4`. Written here rather
    than with a Markdown library because those pass raw HTML through, and a
    library's own edited notice must never become markup on the page; these
    four constructs are all the notice uses.
    """
    out: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []

    def inline(line: str) -> str:
        return _BOLD.sub(r"<strong>\1</strong>", escape(line))

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("## "):
            flush()
            out.append(f"<h4>{inline(line[3:])}</h4>")
        elif line.startswith("# "):
            flush()
            out.append(f"<h3>{inline(line[2:])}</h3>")
        elif line.startswith(("- ", "* ")):
            if paragraph:
                flush()
            items.append(line[2:])
        elif items and raw.startswith((" ", "\t")):
            items[-1] += " " + line  # a list item continued on the next line
        else:
            if items:
                flush()
            paragraph.append(line)
    flush()
    # Safe: every piece of text was escaped by `inline` above.
    return mark_safe("\n".join(out))
