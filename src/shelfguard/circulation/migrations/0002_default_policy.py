"""The shipped default loan rule: fine-free, 21 days, 2 renewals, 30 items, holds allowed.

One row with every dimension empty ("any patron category, any item type, any
branch"); libraries add more specific rows with `shelfguard circ policy set`.
The values are written out here (not imported) so the migration keeps meaning
what it meant when it was written.
"""

from django.db import migrations
from django.utils import timezone

DEFAULT = {
    "loan_days": 21,
    "renewals": 2,
    "max_items": 30,
    "holds_allowed": True,
    "grace_days": 0,
    "charges_apply": False,
    "daily_charge_cents": 0,
    "max_charge_cents": 0,
}


def add_default(apps, schema_editor):
    LoanPolicy = apps.get_model("circulation", "LoanPolicy")
    db = schema_editor.connection.alias
    if (
        not LoanPolicy.objects.using(db)
        .filter(patron_category__isnull=True, item_type__isnull=True, branch__isnull=True)
        .exists()
    ):
        LoanPolicy.objects.using(db).create(
            **DEFAULT, updated_at=timezone.now(), updated_by="shipped default"
        )


def remove_default(apps, schema_editor):
    LoanPolicy = apps.get_model("circulation", "LoanPolicy")
    LoanPolicy.objects.using(schema_editor.connection.alias).filter(
        patron_category__isnull=True,
        item_type__isnull=True,
        branch__isnull=True,
        updated_by="shipped default",
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("circulation", "0001_initial")]

    operations = [migrations.RunPython(add_default, remove_default)]
