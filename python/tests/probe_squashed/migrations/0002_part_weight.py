from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("probe_squashed", "0001_initial")]
    operations = [
        migrations.AddField(model_name="part", name="weight", field=models.IntegerField(default=0)),
    ]
