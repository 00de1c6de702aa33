"""The Celery application. Tasks live in the apps (`tickets.tasks`, `integrations.tasks`).

Its signal handlers (tickets.observability, docs/metrics.md): a task carries the request id of
the request that published it; workers count and time their tasks for Prometheus, and log with
the settings' LOGGING (JSON in production, request ids) instead of Celery's own set-up.
"""

import os

from celery import Celery, signals

from tickets import observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")

app = Celery("tier2")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

signals.before_task_publish.connect(observability.before_task_publish, weak=False)
signals.task_prerun.connect(observability.task_prerun, weak=False)
signals.task_postrun.connect(observability.task_postrun, weak=False)
signals.worker_init.connect(observability.worker_init, weak=False)
signals.worker_process_shutdown.connect(observability.worker_process_shutdown, weak=False)


@signals.setup_logging.connect(weak=False)
def use_django_logging(**_kwargs) -> None:
    """Workers and beat log like the web: LOGGING from the settings (LOG_LEVEL, LOG_FORMAT)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
