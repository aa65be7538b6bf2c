from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("probe_migrations", "0001_initial")]
    operations = [
        migrations.AddField(model_name="thing", name="size", field=models.IntegerField(default=0)),
    ]
