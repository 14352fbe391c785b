"""Progress bars for long commands: shown on a terminal, silent in scripts and with --json."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def wanted(as_json: bool) -> bool:
    return not as_json and sys.stderr.isatty()


@contextlib.contextmanager
def file_progress(
    stream: BinaryIO, total: int | None, description: str, enabled: bool
) -> Iterator[BinaryIO]:
    """Wrap `stream` so reading it advances a bar measured in bytes of the file."""
    if not enabled:
        yield stream
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        yield progress.wrap_file(stream, total=total, description=description)  # type: ignore[misc]


@contextlib.contextmanager
def count_progress(total: int | None, description: str, enabled: bool) -> Iterator[Progress | None]:
    """A bar counting items (one task); yields the Progress, or None when disabled."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        progress.add_task(description, total=total)
        yield progress
