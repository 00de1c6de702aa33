"""Project package: settings, root URLs and the Celery app of the Tier-2 ticket console."""

from .celery import app as celery_app

__all__ = ("celery_app",)
