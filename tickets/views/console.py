"""Console pages (placeholder until the console issue lands)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def home(request):
    return render(request, "home.html")


def flow_diagrams(request):
    return render(request, "flows.html")
