from django.db import migrations, models

from kefu.core.migration_ops import TrigramIndex


class Migration(migrations.Migration):
    dependencies = [("tickets", "0003_sla_defaults")]

    operations = [
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["external_ref"], name="tickets_tic_externa_7983cd_idx"),
        ),
        TrigramIndex(table="tickets_ticket", column="subject", name="tickets_ticket_subject_trgm"),
    ]
