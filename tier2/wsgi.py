"""WSGI entry point (gunicorn tier2.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")

application = get_wsgi_application()
