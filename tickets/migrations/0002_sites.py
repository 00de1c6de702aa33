from django.db import migrations

SITES = (("PST", "Pusat"), ("MLG", "Malang"))


def add_sites(apps, schema_editor):
    Site = apps.get_model("tickets", "Site")
    for code, name in SITES:
        Site.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]

    operations = [migrations.RunPython(add_sites, migrations.RunPython.noop)]
