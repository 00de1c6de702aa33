"""gunicorn's settings for the web process; gunicorn reads ./gunicorn.conf.py by itself.

Command-line options (the bind address, --workers, --timeout) still win. This file adds what
the console's metrics and logs need (docs/metrics.md):

- the worker processes count in prometheus_client's multiprocess files, in the directory the
  settings export (PROMETHEUS_MULTIPROC_DIR): emptied when gunicorn starts, a dead worker's
  live gauges dropped when it exits;
- gunicorn's own error and access logs go through the settings' LOGGING (JSON in production),
  and each access line names the request id that the console returned.
"""

import glob
import os

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")
METRICS_DIR = settings.PROMETHEUS_MULTIPROC_DIR  # loads the settings, which export it


def on_starting(server):
    """Before any worker starts: the counters of an earlier run of this server are not ours."""
    for path in glob.glob(os.path.join(METRICS_DIR, "*.db")):
        os.remove(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, METRICS_DIR)


access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'
# gunicorn's loggers hand their records to the root handler of LOGGING (format, request id).
logconfig_dict = {
    **settings.LOGGING,
    "loggers": {
        **settings.LOGGING.get("loggers", {}),
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
    },
}
