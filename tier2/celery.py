"""The Celery application. Tasks live in the apps (`tickets.tasks`, `integrations.tasks`)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")

app = Celery("tier2")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
