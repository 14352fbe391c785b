"""Permission codes for patrons' own requests: corrections, privacy requests, feedback.

Added to the shipped roles only if those roles still exist; an
administrator's other edits are kept. Copied, not imported, like 0002.
"""

from django.db import migrations

ADDED = {
    "branch-manager": ["patron.review_corrections", "feedback.manage"],
    "privacy-officer": ["patron.review_corrections", "privacy.requests", "feedback.manage"],
}


def add(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for code, extra in ADDED.items():
        role = Role.objects.filter(code=code).first()
        if role is None:
            continue
        role.permissions = sorted(set(role.permissions) | set(extra))
        role.save(update_fields=["permissions"])


def remove(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for code, extra in ADDED.items():
        role = Role.objects.filter(code=code).first()
        if role is None:
            continue
        role.permissions = sorted(set(role.permissions) - set(extra))
        role.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_seal_totp_secrets")]

    operations = [migrations.RunPython(add, remove)]
