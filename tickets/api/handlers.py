"""The site's handler404 (tier2/urls.py): each API answers an unmatched path in its own error
shape, the rest of the site with Django's HTML page."""

from django.http import JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status

from .tmf.base import TMF_PREFIX
from .tmf.base import not_found as tmf_not_found

API_PREFIX = "/api/"  # where tier2/urls.py mounts tickets.api.urls


def not_found(request, exception=None):
    """Under /api/ the API's JSON error, under the TMF621 root the spec's `Error`, elsewhere
    Django's HTML page.

    DRF views answer their own 404s; this answers paths no view matches (`/api/nope/`). Django
    calls it when DEBUG is off; with DEBUG on it shows its technical 404 page instead.
    """
    if request.path_info.startswith(TMF_PREFIX.rstrip("/")):
        return tmf_not_found(request)
    if request.path_info == API_PREFIX.rstrip("/") or request.path_info.startswith(API_PREFIX):
        return JsonResponse(
            {"detail": str(exceptions.NotFound.default_detail), "code": "NotFound"},
            status=status.HTTP_404_NOT_FOUND,
        )
    return page_not_found(request, exception)
