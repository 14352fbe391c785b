from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

branch_code_validator = RegexValidator(
    r"^[A-Z0-9][A-Z0-9_-]{0,15}$",
    _("A branch code is 1–16 capital letters, digits, '-' or '_', e.g. MAIN or EAST-2."),
)


class Branch(models.Model):
    """A service point of the library. Items, patrons and staff each belong to one."""

    code = models.CharField(max_length=16, unique=True, validators=[branch_code_validator])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "branches"

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"
