"""Console pages for supervisors and Support: dashboard, SLG list, escalation desk."""

urlpatterns: list = []
