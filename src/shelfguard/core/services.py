"""Services for library-wide reference data (branches)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch, branch_code_validator


class BranchError(ValueError):
    """A branch request that cannot be carried out; the message says why."""


def normalise_branch_code(code: str) -> str:
    return code.strip().upper()


def add_branch(code: str, name: str, *, actor: Actor, purpose: str = "configuration") -> Branch:
    """Add a branch. Refuses a duplicate or malformed code with a clear message."""
    code = normalise_branch_code(code)
    name = name.strip()
    try:
        branch_code_validator(code)
    except ValidationError as exc:
        raise BranchError(" ".join(str(m) for m in exc.messages)) from exc
    if not name:
        raise BranchError("A branch needs a name, e.g. --name 'Main Library'.")
    with transaction.atomic():
        if Branch.objects.filter(code=code).exists():
            raise BranchError(f"Branch {code} already exists.")
        return Branch.objects.create(code=code, name=name, created_at=clock.now())


def ensure_branch(code: str, name: str, *, actor: Actor) -> tuple[Branch, bool]:
    """The branch with this code, created if missing (used by `init` and the demo)."""
    code = normalise_branch_code(code)
    with transaction.atomic():
        branch = Branch.objects.filter(code=code).first()
        if branch is not None:
            return branch, False
        return add_branch(code, name, actor=actor), True


def get_branch(code: str) -> Branch:
    code = normalise_branch_code(code)
    try:
        return Branch.objects.get(code=code)
    except Branch.DoesNotExist:
        known = ", ".join(Branch.objects.values_list("code", flat=True)) or "none"
        raise BranchError(
            f"Unknown branch {code!r} (known: {known}); add it with `shelfguard branch add`."
        ) from None
