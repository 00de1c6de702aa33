"""Factories and scenario helpers, so a test reads like the situation it checks."""

import factory
from django.contrib.auth.models import Group, User
from django.db.models import F

from tickets import services
from tickets.flows import as_flow
from tickets.models import AgentProfile, Customer, Service, Site, Ticket


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Faker("name", locale="id_ID")
    phone = factory.Sequence(lambda n: f"08123{n:07d}")
    address = factory.Faker("address", locale="id_ID")


class ServiceFactory(factory.django.DjangoModelFactory):
    """A service; by default its number ends in 1 so arrival routing sends it to Pusat."""

    class Meta:
        model = Service

    service_number = factory.Sequence(lambda n: f"1311{n:07d}1")
    customer = factory.SubFactory(CustomerFactory)
    package = "IndiHome 50 Mbps"
    sto = "STO-KBL"
    olt = factory.Sequence(lambda n: f"OLT-KBL-{n % 5:02d}")
    odp = factory.Sequence(lambda n: f"ODP-KBL-{n % 50:03d}")


def site(code: str) -> Site:
    return Site.objects.get(code=code)


def user(role: str, *, username: str | None = None, site_code: str | None = None, flows=()):
    """A user in a role group; agents get a profile with their site and flows."""
    username = username or f"{role.lower()}-{User.objects.count() + 1}"
    person = User.objects.create_user(username=username, password="secret-pass-123")
    person.groups.add(Group.objects.get(name=role))
    if site_code or flows:
        AgentProfile.objects.create(
            user=person, site=site(site_code or "PST"), flows=list(flows), agent_code=username
        )
    return User.objects.get(pk=person.pk)  # fresh object: no stale permission cache


def agent(*, site_code: str = "PST", flows=("nossa",), username: str | None = None):
    return user("Agent", username=username, site_code=site_code, flows=flows)


def arrive(flow: str = "nossa", *, service: Service | None = None, **fields):
    """A ticket arrives through the service layer (arrival rules applied)."""
    ticket, _created = services.create_ticket(
        flow=flow, service=service or ServiceFactory(), **fields
    )
    return ticket


def put_in_state(ticket: Ticket, state: str, **fields) -> Ticket:
    """Place a ticket in a state directly (test set-up only: bypasses the machine)."""
    Ticket.objects.filter(pk=ticket.pk).update(state=state, **fields)
    return as_flow(Ticket.objects.get(pk=ticket.pk))


def reload(ticket: Ticket) -> Ticket:
    return as_flow(Ticket.objects.get(pk=ticket.pk))


def fail_calls(ticket: Ticket, count: int) -> Ticket:
    Ticket.objects.filter(pk=ticket.pk).update(failed_attempts=F("failed_attempts") + count)
    return reload(ticket)
