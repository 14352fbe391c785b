from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_staff_household_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="staffuser",
            name="household_address_index",
            field=models.BinaryField(blank=True, null=True),
        ),
    ]
