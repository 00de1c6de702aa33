"""`{% master_check ticket as check %}`: what I-SISKA, the customer master, and the ticket say
about the ticket's line, and the number to call (`integrations.customer_master` decides)."""

from __future__ import annotations

from django import template

from integrations.customer_master import MASTER_APP, MasterCheck, compare

register = template.Library()


@register.simple_tag
def master_check(ticket) -> MasterCheck:
    service = ticket.service
    customer = service.customer
    on_ticket = {
        "customer_name": customer.name,
        "phone": customer.phone,
        "address": service.address or customer.address,
        "package": service.package,
        "sto": service.sto,
        "olt": service.olt,
        "odp": service.odp,
    }
    return compare(on_ticket=on_ticket, master=(ticket.facts or {}).get(MASTER_APP))
