"""The Library of Congress records that pymarc's source distribution carries.

`path()` returns the 250,000-record `BooksAll.2016.part01.utf8` file, fetching
the pymarc 5.4.0 sdist with pip into `bench/.cache/` the first time. The file
is public-domain LC data; it is never committed (only a small extract is).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
SDIST = "pymarc-5.4.0.tar.gz"
MEMBER = "pymarc-5.4.0/BooksAll.2016.part01.utf8"


def path() -> Path:
    target = CACHE / Path(MEMBER).name
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / SDIST
    if not sdist.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", ":all:", "pymarc==5.4.0", "-d", str(CACHE)],
            check=True,
        )
    with tarfile.open(sdist) as tar:
        member = tar.getmember(MEMBER)
        with tar.extractfile(member) as src, open(str(target) + ".part", "wb") as dst:  # type: ignore[union-attr]
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    Path(str(target) + ".part").rename(target)
    return target


if __name__ == "__main__":
    print(path())
