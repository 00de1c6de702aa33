"""Celery tasks of the integrations (filled in with the adapters)."""

from celery import shared_task


@shared_task(acks_late=True)
def run_adapter_call(call_id: int) -> str:
    return "pending"
