"""The Simplified Chinese translation: chosen from the browser, complete, and compiled.

The language comes from the browser's Accept-Language header alone, so the
public catalogue still sets no cookie. The catalogue (django.po) and its
compiled form (django.mo) both live in the tree; these tests check that the
.po is fully translated and that the .mo says the same thing, so a change to
the .po that was not compiled fails here rather than in front of readers.
"""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from django.utils import translation

import shelfguard
from tests.opac.catalogue import Copy, add_record

LOCALE_DIR = Path(shelfguard.__file__).resolve().parent / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_FILE = LOCALE_DIR / "django.po"
MO_FILE = LOCALE_DIR / "django.mo"

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    """LocaleMiddleware leaves the last request's language active in this thread;
    reset it so a Chinese request here does not change what later tests render."""
    yield
    translation.deactivate()


def _get(client, path: str, **headers: str) -> tuple[object, str]:
    response = client.get(path, **headers)
    assert response.status_code == 200
    return response, response.content.decode()


def _assert_no_cookie(response) -> None:
    assert "Set-Cookie" not in response.headers
    assert not response.cookies


# --- Pages --------------------------------------------------------------------


def test_home_is_chinese_for_a_chinese_browser(client, db):
    response, html = _get(client, "/", **CHINESE)
    assert '<html lang="zh-hans"' in html
    assert '<label for="q">检索馆藏目录</label>' in html
    assert '<button type="submit">检索</button>' in html
    assert "您的检索只属于您自己" in html
    assert "跳到主要内容" in html
    assert "Search the catalogue" not in html
    _assert_no_cookie(response)


def test_results_page_is_chinese_for_a_chinese_browser(client, db):
    add_record("r1", "The river", Copy())
    response, html = _get(client, "/search/?q=river", **CHINESE)
    assert '<html lang="zh-hans"' in html
    assert "“river”的检索结果" in html
    assert "共找到 1 条记录。" in html
    assert '<button type="submit">检索</button>' in html
    assert "缩小检索范围" in html
    assert "records found" not in html and "record found" not in html
    _assert_no_cookie(response)


def test_empty_results_page_is_chinese(client, db):
    response, html = _get(client, "/search/?q=nothingmatchesthis", **CHINESE)
    assert "没有符合条件的记录" in html
    assert "请检查每个词的拼写。" in html
    _assert_no_cookie(response)


def test_english_by_default(client, db):
    add_record("r1", "The river", Copy())
    response, html = _get(client, "/")
    assert '<html lang="en"' in html
    assert '<label for="q">Search the catalogue</label>' in html
    assert '<button type="submit">Search</button>' in html
    _assert_no_cookie(response)

    response, html = _get(client, "/search/?q=river")
    assert '<html lang="en"' in html
    assert "1 record found." in html
    assert "检索" not in html
    _assert_no_cookie(response)


def test_english_browser_gets_english(client, db):
    _, html = _get(client, "/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8")
    assert '<html lang="en"' in html
    assert "Search the catalogue" in html


def test_language_choice_varies_on_accept_language(client, db):
    """Caches must not hand one browser's language to another."""
    response, _ = _get(client, "/", **CHINESE)
    assert "accept-language" in response.headers.get("Vary", "").lower()


# --- The catalogue file ---------------------------------------------------------


def _unquote(line: str) -> str:
    body = line[line.index('"') + 1 : line.rindex('"')]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _read_po(path: Path) -> list[dict]:
    """Entries of a .po file: flags, msgctxt, msgid, msgid_plural, msgstr / msgstr[n]."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        entry: dict = {"flags": set(), "msgstr": {}}
        field = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#~"):
                entry["obsolete"] = True
            elif line.startswith("#"):
                continue
            elif line.startswith("msgctxt "):
                field = "msgctxt"
                entry[field] = _unquote(line)
            elif line.startswith("msgid_plural "):
                field = "msgid_plural"
                entry[field] = _unquote(line)
            elif line.startswith("msgid "):
                field = "msgid"
                entry[field] = _unquote(line)
            elif line.startswith("msgstr"):
                match = re.match(r"msgstr(?:\[(\d+)\])? ", line)
                assert match, line
                field = int(match.group(1) or 0)
                entry["msgstr"][field] = _unquote(line)
            elif line.startswith('"'):
                if isinstance(field, int):
                    entry["msgstr"][field] += _unquote(line)
                else:
                    entry[field] += _unquote(line)
        entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def po_entries() -> list[dict]:
    entries = _read_po(PO_FILE)
    assert entries[0]["msgid"] == "", "the .po starts with its header"
    return entries


def test_po_header_is_final_and_has_one_plural_form(po_entries):
    header = po_entries[0]
    assert "fuzzy" not in header["flags"]
    assert "Plural-Forms: nplurals=1; plural=0;" in header["msgstr"][0]
    assert "charset=UTF-8" in header["msgstr"][0]


def test_every_message_is_translated_and_none_is_fuzzy(po_entries):
    messages = po_entries[1:]
    assert len(messages) > 200
    untranslated = [e["msgid"] for e in messages if not all(e["msgstr"].values())]
    fuzzy = [e["msgid"] for e in messages if "fuzzy" in e["flags"]]
    obsolete = [e.get("msgid") for e in messages if e.get("obsolete")]
    assert untranslated == []
    assert fuzzy == []
    assert obsolete == []
    for entry in messages:
        if "msgid_plural" in entry:
            assert sorted(entry["msgstr"]) == [0], entry["msgid"]


_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|\{[a-z_]+\}")
_TAG = re.compile(r"</?[a-z]+[^>]*>")


def test_placeholders_and_html_are_kept(po_entries):
    for entry in po_entries[1:]:
        sources = [entry["msgid"]] + ([entry["msgid_plural"]] if "msgid_plural" in entry else [])
        wanted = set().union(*(_PLACEHOLDER.findall(s) for s in sources))
        for text in entry["msgstr"].values():
            assert set(_PLACEHOLDER.findall(text)) == wanted, entry["msgid"]
            assert _TAG.findall(text) == _TAG.findall(entry["msgid"]), entry["msgid"]


def test_compiled_catalogue_matches_the_po(po_entries):
    """django.mo is committed: it must be compiled from the current django.po."""
    with MO_FILE.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in po_entries[1:]:
        if "msgid_plural" in entry:
            got = compiled.ngettext(entry["msgid"], entry["msgid_plural"], 1)
        elif "msgctxt" in entry:
            got = compiled.pgettext(entry["msgctxt"], entry["msgid"])
        else:
            got = compiled.gettext(entry["msgid"])
        if got != entry["msgstr"][0]:
            stale.append(entry["msgid"])
    assert stale == [], "run compilemessages after editing django.po"
