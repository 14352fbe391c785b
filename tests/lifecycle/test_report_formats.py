"""`shelfguard privacy report` in its three formats, and its refusals."""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib

import pytest

from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.lifecycle import report
from shelfguard.lifecycle.models import BackupRun

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])


@pytest.fixture
def stale_backup(library):
    BackupRun.objects.create(
        kind="verify", outcome="ok", started_at=clock.now() - dt.timedelta(hours=40)
    )


def test_json_report_parses_and_has_the_documented_keys(stale_backup, run_cli, tmp_path):
    out = tmp_path / "report.json"
    result = run_cli("privacy", "report", "--format", "json", "--out", str(out))
    assert result.code == 0, result.err
    data = json.loads(out.read_text(encoding="utf-8"))
    assert tuple(data) == report.KEYS
    assert data["backups"]["stale"] is True
    assert len(data["reveals"]["days"]) == report.CHART_DAYS
    entry = Entry.objects.filter(action="lifecycle.privacy_report").get()
    assert entry.detail["output"] == "json" and entry.actor_kind == "cli"


def test_json_report_goes_to_standard_output_without_out(library, run_cli):
    result = run_cli("privacy", "report", "--format", "json")
    assert result.code == 0, result.err
    assert set(result.json()) == set(report.KEYS)


def test_html_report_is_self_contained_and_flags_the_stale_backup(stale_backup, run_cli, tmp_path):
    out = tmp_path / "report.html"
    result = run_cli("privacy", "report", "--out", str(out))
    assert result.code == 0, result.err
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # No external resource of any kind: no URL scheme, no protocol-relative link.
    assert not re.search(r"(https?:|//[a-z0-9])", html, re.IGNORECASE)
    assert not re.search(r"<(script|link|img|iframe)\b", html, re.IGNORECASE)
    assert "Warning: last verified backup 40.0 hours ago" in html
    assert html.count('role="img"') >= 3 and "<caption>" in html


def test_pdf_report_has_pages(stale_backup, run_cli, tmp_path):
    out = tmp_path / "report.pdf"
    result = run_cli("privacy", "report", "--format", "pdf", "--out", str(out))
    assert result.code == 0, result.err
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data)
    assert len(pages) >= 1
    assert data.count(b"/Type /Pages") == 1
    assert data.rstrip().endswith(b"%%EOF")


def test_bad_input_is_refused_with_a_one_line_reason(library, run_cli, tmp_path):
    cases = [
        (("--format", "pdf"), "add --out FILE"),
        (("--as-of", "31/01/2026"), "not a date like"),
        (("--as-of", (clock.today() + dt.timedelta(days=2)).isoformat()), "in the future"),
        (("--out", str(tmp_path / "missing" / "r.html")), "does not exist"),
    ]
    for args, reason in cases:
        result = run_cli("privacy", "report", *args)
        assert result.code != 0 and reason in result.err, (args, result.err)
    assert not Entry.objects.filter(action="lifecycle.privacy_report").exists()


def test_as_of_reports_an_earlier_day(library, run_cli):
    day = clock.today() - dt.timedelta(days=10)
    result = run_cli("privacy", "report", "--format", "json", "--as-of", day.isoformat())
    assert result.code == 0, result.err
    data = result.json()
    assert data["as_of"] == report.end_of_day(day).isoformat()
    assert data["reveals"]["days"][-1] == day.isoformat()


def _pdf_text(data: bytes) -> bytes:
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL)
    return b"".join(zlib.decompress(s) for s in streams if s[:1] == b"x")


def test_pdf_without_a_chinese_font_says_it_is_english_only(stale_backup, run_cli, tmp_path):
    out = tmp_path / "report.pdf"
    assert run_cli("privacy", "report", "--format", "pdf", "--out", str(out)).code == 0
    text = _pdf_text(out.read_bytes())
    if report._cjk_font() is None:
        assert b"Note: no font covering Chinese was found" in text
        assert b"WARNING: last verified backup 40.0 hours ago" in text
    else:
        assert b"Note: no font covering Chinese" not in text
