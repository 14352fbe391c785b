from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


class PatronsConfig(AppConfig):
    name = "shelfguard.patrons"
    label = "patrons"
    verbose_name = "Patrons"

    def ready(self) -> None:
        checks.register(check_register_matches_model, checks.Tags.models)
        checks.register(check_patrons_configuration)

        from shelfguard.patrons.export_sections import register_patron_sections

        # The profile and consents open the patron's export; other sections follow.
        register_patron_sections()
        _register_correction_export()


def check_register_matches_model(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every sealed field of the register has a ciphertext column, and no column lacks a field.

    A column without a register entry would be personal data that escapes the
    register (unmasked, unexported, missing from the notice); a register entry
    without a column could not be sealed at all.
    """
    from shelfguard.patrons import register
    from shelfguard.patrons.models import Patron

    columns = {f.name for f in Patron._meta.get_fields() if f.name.endswith("_sealed")}
    expected = {f.column for f in register.SEALED}
    errors = []
    for name in sorted(expected - columns):
        errors.append(
            checks.Error(
                f"The register seals {name[: -len('_sealed')]!r} but Patron has no {name} column.",
                hint="Add the BinaryField to patrons.models.Patron and make a migration.",
                id="patrons.E001",
            )
        )
    for name in sorted(columns - expected):
        errors.append(
            checks.Error(
                f"Patron.{name} holds personal data that the register does not list.",
                hint="Add the field to patrons/register.py, or remove the column.",
                id="patrons.E002",
            )
        )
    return errors


def check_patrons_configuration(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """`[patrons]` in shelfguard.toml names only fields the library may choose, sensibly."""
    from django.core.exceptions import ImproperlyConfigured

    from shelfguard.patrons import register

    try:
        register.collected_choices()
        register.guardian_age()
        register.self_editable()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="patrons.E003")]
    return []


def _register_correction_export() -> None:
    """The patron's correction requests, with their proposed values and outcomes, in the export."""
    from shelfguard.patrons import corrections
    from shelfguard.patrons.export_sections import ExportSection, register_export_section

    register_export_section(
        ExportSection(
            name="corrections",
            description=(
                "Your requests to correct your details: what you asked for, your notes, "
                "each step and the library's decision."
            ),
            columns=corrections.EXPORT_COLUMNS,
            rows=corrections.export_rows,
        )
    )
