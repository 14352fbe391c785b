"""Write the demo catalogue: a small extract of the LC records, gzipped.

The first 2,500 records (English-language, 19th–20th century) plus every
30th record that carries Chinese, Japanese or Korean 880 vernacular fields,
so the demo shows CJK search. Run: `python bench/make_demo_extract.py`.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import lcdata
import pymarc

OUT = Path(__file__).resolve().parents[1] / "src/shelfguard/demo_data/lc-sample.mrc.gz"
FIRST = 2500
CJK_EVERY = 30


def has_cjk(record: pymarc.Record) -> bool:
    return any(
        "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af"
        for field in record.get_fields("880")
        for ch in field.value()
    )


def main() -> None:
    kept = cjk = 0
    with open(lcdata.path(), "rb") as src, gzip.open(OUT, "wb", compresslevel=9) as out:
        reader = pymarc.MARCReader(src, to_unicode=True, force_utf8=True, permissive=True)
        seen_cjk = 0
        for position, record in enumerate(reader):
            if record is None:
                continue
            take = position < FIRST
            if not take and has_cjk(record):
                seen_cjk += 1
                take = seen_cjk % CJK_EVERY == 1
                cjk += take
            if take:
                out.write(reader.current_chunk)
                kept += 1
    print(f"wrote {kept} records ({cjk} with CJK 880 fields) to {OUT}")


if __name__ == "__main__":
    main()
