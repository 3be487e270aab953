from django.db import migrations

from kefu.core.migration_ops import TrigramIndex


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_contact_point_unique")]

    operations = [
        TrigramIndex(table="customers_customer", column="name", name="customers_customer_name_trgm"),
        TrigramIndex(table="customers_customer", column="company", name="customers_customer_company_trgm"),
    ]
