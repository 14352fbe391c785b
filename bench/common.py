"""Shared helpers for the benchmarks: a throwaway data home, timing, machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_home(prefix: str) -> Path:
    """A new data home under the system temp dir, initialised, with DJANGO set up."""
    home = Path(tempfile.mkdtemp(prefix=f"shelfguard-bench-{prefix}-"))
    os.environ["SHELFGUARD_HOME"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shelfguard.settings")
    subprocess.run([sys.executable, "-m", "shelfguard", "init"], check=True, capture_output=True)
    import django

    django.setup()
    return home


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import sqlite3

    return (
        f"{os.cpu_count()} cores ({cpu}){mem}; Python {platform.python_version()}; "
        f"SQLite {sqlite3.sqlite_version}; {platform.system()} {platform.release()}"
    )
