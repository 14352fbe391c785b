"""Search latency over the 250,000 LC records: 50 fixed queries, in-process and over HTTP.

    .venv/bin/python bench/bench_search.py [--database-url URL] [--rounds 5] [--json]

The first run imports the LC file into a data home kept in bench/.cache/ (or
the given PostgreSQL database) and reuses it afterwards. In-process timings
call the search service exactly as the OPAC does (with facets); HTTP timings
fetch the JSON API and the OPAC results page from `shelfguard serve` on
loopback, one keep-alive connection, so they include Django and gunicorn.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import lcdata
from common import ROOT, machine, median, percentile

QUERIES = [
    # keywords
    "botany", "history", "poetry", "medicine", "railroads", "chemistry",
    "economic conditions", "civil war", "american literature", "philosophy",
    "music", "education", "agriculture", "mathematics", "architecture", "jazz",
    # phrases and longer keyword queries
    '"united states"', '"world war"', "materia medica", "church history england",
    "french revolution", "theory of numbers",
    # authors
    "Shakespeare", "Lincoln", "Dickens", "Tolstoy", "Goethe", "Aurand", "Mark Twain",
    # subjects
    "homeopathy", "geology", "slavery", "indians of north america", "freemasons",
    # ISBNs (10 and 13 digits, with and without hyphens)
    "0521790980", "0-8027-8740-1", "9781566869980", "0691058660", "3791323989",
    # Chinese, Japanese, Korean
    "中国", "历史", "澳門", "全传", "日本", "東京", "警察", "한국", "노동",
    # syntax characters treated literally, and no hits
    "c++ (programming)", "zzyzx qqq",
]
assert len(QUERIES) == 50

CACHE = Path(__file__).resolve().parent / ".cache"


def prepare(database_url: str | None) -> None:
    home = CACHE / ("search-home-pg" if database_url else "search-home")
    os.environ["SHELFGUARD_HOME"] = str(home)
    os.environ["DJANGO_SETTINGS_MODULE"] = "shelfguard.settings"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    subprocess.run([sys.executable, "-m", "shelfguard", "init"], check=True, capture_output=True)
    import django

    django.setup()
    from shelfguard.catalog.models import Record

    if Record.objects.count() < 250_000:
        from shelfguard.catalog.services import import_marc
        from shelfguard.core.actors import Actor

        print("importing the LC records once (cached for later runs)…", file=sys.stderr)
        with open(lcdata.path(), "rb") as fh:
            import_marc(fh, actor=Actor.cli_operator())
        _place_items()


def _place_items() -> None:
    """One synthetic copy per record across three branches, so branch facets are real."""
    import io

    from shelfguard.catalog.models import Record
    from shelfguard.catalog.services import import_items_csv
    from shelfguard.core.actors import Actor
    from shelfguard.core.services import ensure_branch

    actor = Actor.cli_operator()
    for code in ("EAST", "WEST"):
        ensure_branch(code, f"{code.title()} Branch", actor=actor)
    rows = ["barcode,control_number,branch,call_number,item_type"]
    for n, cn in enumerate(Record.objects.order_by("id").values_list("control_number", flat=True)):
        rows.append(f"B{n:09d},{cn},{('MAIN', 'EAST', 'WEST')[n % 3]},,book")
    import_items_csv(io.StringIO("\n".join(rows) + "\n"), actor=actor)


def in_process(rounds: int) -> list[float]:
    from shelfguard.catalog.search import SearchRequest
    from shelfguard.catalog.services import search_catalogue
    from shelfguard.core.actors import Actor

    actor = Actor.public("web")
    for q in QUERIES:  # warm the page cache once
        search_catalogue(SearchRequest(text=q), actor=actor)
    timings = []
    for _ in range(rounds):
        for q in QUERIES:
            started = time.perf_counter()
            search_catalogue(SearchRequest(text=q), actor=actor)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def over_http(rounds: int, path_for) -> list[float]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "shelfguard", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for q in QUERIES:
            conn.request("GET", path_for(q))
            conn.getresponse().read()
        timings = []
        for _ in range(rounds):
            for q in QUERIES:
                started = time.perf_counter()
                conn.request("GET", path_for(q))
                response = conn.getresponse()
                response.read()
                timings.append((time.perf_counter() - started) * 1000)
                if response.status != 200:
                    raise SystemExit(f"HTTP {response.status} for {q!r}")
        return timings
    finally:
        server.terminate()
        server.wait(timeout=20)


def summary(timings: list[float]) -> dict:
    return {
        "p50_ms": round(median(timings), 2),
        "p95_ms": round(percentile(timings, 95), 2),
        "max_ms": round(max(timings), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    prepare(args.database_url)
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "database": "postgresql" if args.database_url else "sqlite",
        "queries": len(QUERIES),
        "rounds": args.rounds,
        "in_process": summary(in_process(args.rounds)),
        "http_api": summary(
            over_http(args.rounds, lambda q: "/api/v1/search?" + urllib.parse.urlencode({"q": q}))
        ),
        "http_opac": summary(
            over_http(args.rounds, lambda q: "/search/?" + urllib.parse.urlencode({"q": q}))
        ),
    }
    print(json.dumps(result, indent=None if args.json else 2, ensure_ascii=False))


if __name__ == "__main__":
    main()
