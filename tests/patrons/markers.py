"""Synthetic patrons whose every personal value carries a unique marker, and a byte scanner."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MarkedPatron:
    card_number: str
    name: str
    email: str
    phone: str
    address: str
    pin: str

    def row(self) -> list[str]:
        return [self.card_number, self.name, self.email, self.phone, self.address, "1980",
                "adult", "MAIN", self.pin]  # fmt: skip

    def needles(self) -> list[str]:
        """Every form in which a value could be stored: as given, normalised, folded."""
        digits = "".join(ch for ch in self.phone if ch.isdigit())
        forms = [
            self.card_number, self.card_number.lower(),
            self.name, self.name.lower(), self.name.upper(), *self.name.split(),
            *self.name.lower().split(),
            self.email, self.email.lower(), self.email.split("@")[0],
            self.phone, digits, "+" + digits,
            self.address, *[part for part in self.address.split() if "MARKER" in part.upper()],
            self.pin,
        ]  # fmt: skip
        return sorted(set(forms), key=forms.index)


def marked_patrons(count: int) -> list[MarkedPatron]:
    tag = secrets.token_hex(4)
    patrons = []
    for i in range(count):
        digits = f"{secrets.randbelow(10**7):07d}"
        patrons.append(
            MarkedPatron(
                card_number=f"MK{tag.upper()}{i:04d}",
                name=f"Marker{tag}n{i} Synthetic{tag}s{i}",
                email=f"marker-{tag}-e{i}@example.org",
                phone=f"+1 555 {digits[:3]} {digits[3:]}",
                address=f"{i} MARKER-{tag}-a{i} Road",
                pin=f"PIN{tag}{i}",
            )
        )
    return patrons


def encodings(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")]


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def find_in_files(root: Path, needles: list[bytes]) -> list[tuple[str, int]]:
    """(file, needle index) for every needle found in any file under `root`."""
    found = []
    for path in files_under(root):
        data = path.read_bytes()
        for index, needle in enumerate(needles):
            if needle in data:
                found.append((str(path.relative_to(root)), index))
    return found
