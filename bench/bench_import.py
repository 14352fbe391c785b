"""Import benchmark: 250,000 LC records, against a bare pymarc parse of the same file.

    .venv/bin/python bench/bench_import.py [--limit N] [--json]

Each phase runs in its own process so its peak RSS is its own. The ratio
compares our whole import (parse + extract + store + index, one transaction
per 1,000 records) with pymarc merely iterating the file with the same
reader options, in the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import lcdata
from common import ROOT, fresh_home, machine


def phase_parse(path: str, limit: int | None) -> dict:
    import pymarc

    started = time.perf_counter()
    count = 0
    with open(path, "rb") as fh:
        reader = pymarc.MARCReader(
            fh, to_unicode=True, force_utf8=False, utf8_handling="strict", permissive=True
        )
        for _ in reader:
            count += 1
            if limit and count >= limit:
                break
    return {"records": count, "seconds": time.perf_counter() - started}


def phase_import(path: str, limit: int | None, database_url: str | None) -> dict:
    import os

    if database_url:
        os.environ["DATABASE_URL"] = database_url
    fresh_home("import")  # on PostgreSQL, point --database-url at a new, empty database
    from shelfguard.catalog.services import import_marc
    from shelfguard.core.actors import Actor

    with open(path, "rb") as fh:
        report = import_marc(fh, actor=Actor.cli_operator(), limit=limit)
    return {
        "records": report.imported + report.updated,
        "skipped": report.skipped,
        "seconds": report.seconds,
    }


def run_phase(name: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--file", args.file]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    if args.database_url:
        cmd += ["--database-url", args.database_url]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--phase", choices=["parse", "import"], default=None)
    parser.add_argument("--file", default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.file = args.file or str(lcdata.path())
    if args.phase:
        result = (
            phase_parse(args.file, args.limit)
            if args.phase == "parse"
            else phase_import(args.file, args.limit, args.database_url)
        )
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    parse = run_phase("parse", args)
    imported = run_phase("import", args)
    summary = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "database": "postgresql" if args.database_url else "sqlite",
        "records": imported["records"],
        "parse_seconds": round(parse["seconds"], 2),
        "import_seconds": round(imported["seconds"], 2),
        "import_records_per_second": round(imported["records"] / imported["seconds"]),
        "ratio_import_to_parse": round(imported["seconds"] / parse["seconds"], 2),
        "parse_peak_rss_mb": round(parse["peak_rss_mb"]),
        "import_peak_rss_mb": round(imported["peak_rss_mb"]),
    }
    print(json.dumps(summary, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
