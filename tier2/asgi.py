"""ASGI entry point: the console's HTTP and its live websockets (`/ws/live/`, docs/live.md).

Served by daphne in `make run` (`manage.py runserver`, daphne being first in INSTALLED_APPS)
and by an ASGI server in production (docs/operations.md). The websocket is session-signed-in
like the pages, and only from the console's own hosts (Origin checked against ALLOWED_HOSTS).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")

# Django is set up before anything imports models (the consumer does).
http_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from tickets.consumers import LiveConsumer  # noqa: E402

websocket_urlpatterns = [path("ws/live/", LiveConsumer.as_asgi(), name="live")]

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
