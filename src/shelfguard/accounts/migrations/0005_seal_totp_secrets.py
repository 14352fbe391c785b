"""Move every django-otp TOTP device into `SealedTOTPDevice`, sealing its secret.

django-otp's `TOTPDevice` keeps the shared secret as plain hex. Each row is
copied (settings, last accepted step, confirmed or not) with its secret
sealed by a keystore data key of the staff member's, then deleted, so the
plain column no longer holds it. On SQLite `secure_delete` zeroes the freed
page; on PostgreSQL the old row version goes at the next vacuum.

A fresh installation has no such rows and needs no key here. An upgraded
one has its master key and keystore already (`shelfguard init` made them
before any device could exist). The sealing is the live vault code, not a
historical copy: it is cryptography, not a model. The reverse migration
only removes the sealed devices' rows from the plan; it never writes a
secret back in the clear (staff enrol again).
"""

from django.db import migrations

OWNER = "staff:{}"
FIELD = "totp_secret"


def seal_existing(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    Sealed = apps.get_model("accounts", "SealedTOTPDevice")
    alias = schema_editor.connection.alias
    rows = list(TOTPDevice.objects.using(alias).order_by("pk"))
    if not rows:
        return
    from shelfguard.vault import keystore, sealing

    keys: dict[int, str] = {}
    for row in rows:
        staff_id = row.user_id
        key_id = keys.get(staff_id)
        if key_id is None:
            key_id = keys[staff_id] = keystore.new_data_key()
        sealed = sealing.seal(key_id, OWNER.format(staff_id), FIELD, row.key.lower())
        Sealed.objects.using(alias).create(
            user_id=staff_id,
            name=row.name,
            confirmed=row.confirmed,
            key_id=key_id,
            sealed_key=sealed,
            step=row.step,
            t0=row.t0,
            digits=row.digits,
            tolerance=row.tolerance,
            drift=row.drift,
            last_t=row.last_t,
            created_at=getattr(row, "created_at", None),
        )
    # Overwrite the plain secret before deleting, so no copy of it stays in
    # the row's old bytes even where the database keeps deleted versions.
    TOTPDevice.objects.using(alias).filter(pk__in=[r.pk for r in rows]).update(key="0" * 40)
    TOTPDevice.objects.using(alias).filter(pk__in=[r.pk for r in rows]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_passkeys_sealed_totp"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(seal_existing, migrations.RunPython.noop)]
