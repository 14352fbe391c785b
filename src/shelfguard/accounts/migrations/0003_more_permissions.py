"""Permission codes added after the first roles: role editing, loan rules, API tokens.

Codes are added to the shipped roles only if those roles still exist; an
administrator's other edits are kept. Copied, not imported, like 0002.
"""

from django.db import migrations

ADDED = {
    "system-administrator": ["role.manage", "circulation.rules", "token.manage"],
    "branch-manager": ["circulation.rules"],
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
    dependencies = [("accounts", "0002_shipped_roles")]

    operations = [migrations.RunPython(add, remove)]
