"""A short fuzzing pass over the codec and the framing (tests/sip2/fuzz_protocol.py).

A few seconds per test run, seeded with real messages; run the harness by
hand for longer. Skipped where atheris is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("fuzz_protocol.py")
SEEDS = [
    b"9300CNsc-01|COterminal-pass|CPMAIN|AY0AZF5A1\r",
    b"9900802.00AY1AZFCA5\r",
    b"11NN20261125    120000                  AOMAIN|AA29000000001|AB3000000001|AC|AD1234|\r\n",
    b"6300020261125    120000          AOMAIN|AA29000000001|AD1234|BP1|BQ5|",
    b"09N20261125    12000020261125    120000APMAIN|AOMAIN|AB3000000001|AC|\r",
]


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_a_short_fuzzing_run_finds_no_crash_and_stays_within_memory(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n, seed in enumerate(SEEDS):
        (corpus / f"seed-{n}").write_bytes(seed)
    run = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            str(corpus),
            "-max_total_time=4",
            "-rss_limit_mb=1024",
            "-max_len=6000",
            "-timeout=5",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        cwd=tmp_path,
    )
    report = run.stderr[-3000:]
    assert run.returncode == 0, report
    assert "Done" in run.stderr, report
    assert not list(tmp_path.glob("crash-*")), report
