"""The postal address's blind index.

A migration cannot compute it: that needs the index key and each patron's
data key, which live outside the database. Existing patrons get it when every
index is rebuilt, by `shelfguard keys rotate --index` (patrons.reindex
.rebuild_blind_indexes); new and changed addresses get it at once.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("patrons", "0002_corrections_selfreg"),
    ]

    operations = [
        migrations.AddField(
            model_name="patron",
            name="address_index",
            field=models.BinaryField(db_index=True, null=True),
        ),
    ]
