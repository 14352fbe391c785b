"""Who is acting: every service takes `actor=` so its effects can be attributed."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["staff", "patron", "terminal", "system", "cli", "public"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    ident: str
    channel: Literal["web", "api", "sip2", "cli", "job"]

    @classmethod
    def cli_operator(cls) -> Actor:
        """The operator running a `shelfguard` command on the server."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(kind="cli", ident=user, channel="cli")

    @classmethod
    def public(cls, channel: Literal["web", "api"]) -> Actor:
        """An anonymous member of the public using the catalogue."""
        return cls(kind="public", ident="", channel=channel)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(kind="system", ident=job, channel="job")
