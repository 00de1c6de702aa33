"""Erase one customer's personal data on their request (UU PDP; docs/data-protection.md).

    manage.py erase_customer 1234 --by admin.name

Refused, with the reason, while the customer has an open ticket. The erasure or the refusal is
recorded in the security log under the user named by `--by`.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tickets.services import privacy


class Command(BaseCommand):
    help = "Anonymise one customer's personal data now (an erasure request); logged."

    def add_arguments(self, parser):
        parser.add_argument("customer_id", type=int, help="the customer's id (the admin shows it)")
        parser.add_argument(
            "--by",
            required=True,
            metavar="USERNAME",
            help="the active user who handles the request (recorded in the security log)",
        )

    def handle(self, *args, customer_id: int, by: str, **options):
        model = get_user_model()
        actor = model._default_manager.filter(**{model.USERNAME_FIELD: by}, is_active=True).first()
        if actor is None:
            raise CommandError(f"No active user {by!r}: name who handles the request with --by.")
        try:
            changed = privacy.erase_customer(customer_id=customer_id, actor=actor)
        except privacy.ErasureRefused as refusal:
            raise CommandError(str(refusal.message)) from refusal
        summary = ", ".join(f"{name} {count}" for name, count in changed.items() if count)
        self.stdout.write(
            f"Customer #{customer_id}: personal data erased ({summary or 'nothing left to erase'})."
        )
