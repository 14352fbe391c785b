import gzip

import pytest

from shelfguard.catalog.models import Item, Record
from tests.catalog.marc_samples import lc_extract


@pytest.fixture
def lc_file(tmp_path):
    path = tmp_path / "lc.mrc"
    path.write_bytes(lc_extract(25))
    return path


@pytest.mark.django_db
def test_import_marc_json_summary(home, run_cli, lc_file):
    result = run_cli("import-marc", str(lc_file), "--json")
    assert result.code == 0, result.err
    summary = result.json()
    assert (summary["imported"], summary["updated"], summary["skipped"]) == (25, 0, 0)
    assert summary["seconds"] >= 0
    assert run_cli("import-marc", str(lc_file), "--json").json()["updated"] == 25


@pytest.mark.django_db
def test_import_marc_readable_summary_lists_problems(home, run_cli, tmp_path):
    path = tmp_path / "cut.mrc"
    data = lc_extract(3)
    path.write_bytes(data[:-50])
    result = run_cli("import-marc", str(path))
    assert result.code == 0
    assert "Imported 2" in result.out and "record 3" in result.out and "truncated" in result.out


@pytest.mark.django_db
def test_import_marc_missing_file_is_one_clear_line(home, run_cli, tmp_path):
    result = run_cli("import-marc", str(tmp_path / "nope.mrc"))
    assert result.code != 0
    assert "Cannot read" in result.err
    assert "Traceback" not in result.err


@pytest.mark.django_db
def test_import_marc_limit(home, run_cli, lc_file):
    assert run_cli("import-marc", str(lc_file), "--limit", "5", "--json").json()["imported"] == 5
    assert run_cli("import-marc", str(lc_file), "--limit", "0").code != 0


@pytest.mark.django_db
def test_export_marc_writes_all_records(home, run_cli, lc_file, tmp_path):
    run_cli("import-marc", str(lc_file))
    out = tmp_path / "out.mrc"
    result = run_cli("export-marc", str(out), "--json")
    assert result.code == 0 and result.json()["exported"] == 25
    assert out.read_bytes() == lc_file.read_bytes()
    assert not list(tmp_path.glob(".export-*"))


@pytest.mark.django_db
def test_export_to_missing_folder_fails_cleanly(home, run_cli, tmp_path):
    result = run_cli("export-marc", str(tmp_path / "no" / "such" / "out.mrc"))
    assert result.code != 0 and "does not exist" in result.err


@pytest.mark.django_db
def test_items_import_cli(home, run_cli, lc_file, tmp_path):
    run_cli("init")
    run_cli("import-marc", str(lc_file))
    csv_path = tmp_path / "items.csv"
    csv_path.write_text(
        "barcode,control_number,branch,call_number,item_type\n"
        "3901,00000002,MAIN,RX671 .A92,book\n"
        "3902,missing,MAIN,X,book\n",
        encoding="utf-8",
    )
    result = run_cli("items", "import", str(csv_path), "--json")
    assert result.code == 0, result.err
    assert (result.json()["imported"], result.json()["rejected"]) == (1, 1)
    assert result.json()["problems"][0]["where"] == "line 3"
    assert Item.objects.count() == 1


@pytest.mark.django_db
def test_gzip_file_imports(home, run_cli, tmp_path):
    path = tmp_path / "lc.mrc.gz"
    path.write_bytes(gzip.compress(lc_extract(4)))
    assert run_cli("import-marc", str(path), "--json").json()["imported"] == 4
    assert Record.objects.count() == 4
