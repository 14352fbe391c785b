"""The roles Shelfguard ships with. Administrators may edit them afterwards.

The permission lists are copied here (not imported) so that this migration
keeps meaning what it meant when it was written.
"""

from django.db import migrations

ROLES = [
    {
        "code": "circulation-desk",
        "name": "Circulation desk",
        "description": "Lends and returns; sees a patron's status and name, never their history.",
        "scope": "library",
        "permissions": [
            "circulation.loan",
            "patron.register",
            "patron.view_name",
            "patron.view_status",
        ],
    },
    {
        "code": "cataloguer",
        "name": "Cataloguer",
        "description": "Maintains the catalogue; no patron data.",
        "scope": "library",
        "permissions": ["catalog.change"],
    },
    {
        "code": "branch-manager",
        "name": "Branch manager",
        "description": "Runs one branch: its patrons' records and its staff.",
        "scope": "branch",
        "permissions": [
            "circulation.loan",
            "patron.change",
            "patron.register",
            "patron.view_contact",
            "patron.view_name",
            "patron.view_status",
            "staff.manage",
        ],
    },
    {
        "code": "privacy-officer",
        "name": "Privacy officer",
        "description": (
            "Answers for patron privacy: certifications, break-glass grants, the access "
            "ledger, erasure and patrons' requests."
        ),
        "scope": "library",
        "permissions": [
            "breakglass.grant",
            "certification.record",
            "ledger.read",
            "patron.erase",
            "patron.view_contact",
            "patron.view_history",
            "patron.view_name",
            "patron.view_status",
        ],
    },
    {
        "code": "system-administrator",
        "name": "System administrator",
        "description": "Configuration and staff accounts; no patron data at all.",
        "scope": "library",
        "permissions": ["config.change", "staff.manage"],
    },
]


def add_roles(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for spec in ROLES:
        # An administrator's edits to a role of the same code are kept.
        Role.objects.get_or_create(code=spec["code"], defaults=spec)


def remove_roles(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    Role.objects.filter(code__in=[spec["code"] for spec in ROLES], staff__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(add_roles, remove_roles)]
