"""The live console's websocket, `/ws/live/`: one per browser tab (docs/live.md, "Protocol").

The socket is signed in by the session, like the pages: anonymous (or owing a second factor) it
is closed with 4401, without a console role with 4403. It joins the user's own group at once,
then the groups of the topics the tab asks to watch, as `selectors.live_watch` allows; what the
services send to those groups (`services.live`) is passed on to the browser as it comes. A
workspace tab also tells who is on its ticket and what they are doing (`tickets.presence`);
each change of that set goes to the ticket's groups.

An entry point like the views: it translates frames to selector and presence calls and back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from . import presence, roles, selectors
from .services import accounts, live

log = logging.getLogger(__name__)

SIGNED_OUT = 4401  # no session, an expired one, or a second factor still owed
NO_CONSOLE_ROLE = 4403  # signed in, but not an agent, supervisor, Support or admin
FRAME_MAX = 16 * 1024  # a tab's frames are small; anything bigger is not one of ours
RECENT = 256  # keys of the messages passed on lately (a message reaches several groups)


def _passed_second_factor(user, session) -> bool:
    """django-otp's `OTPMiddleware` for the socket: the session's device is the user's."""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and device.confirmed


def admitted(user, session) -> int | None:
    """None when the socket may stay open, else the close code (the pages' rules: signed in,
    past the second factor the user owes, and a console role)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return SIGNED_OUT
    if not _passed_second_factor(user, session) and accounts.sign_in_step(user) is not None:
        return SIGNED_OUT
    if not roles.works_in_console(user):
        return NO_CONSOLE_ROLE
    return None


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        # Accepted first, so the browser sees the close code (a refused handshake has none).
        await self.accept()
        self.user = self.scope.get("user")
        self.topics: dict[str, tuple[str, ...]] = {}
        self.joined: set[str] = set()
        self.presence_groups: dict[int, tuple[str, ...]] = {}  # watched tickets
        self.present_on: set[int] = set()
        self.recent: deque[str] = deque(maxlen=RECENT)
        refusal = await database_sync_to_async(admitted)(self.user, self.scope.get("session"))
        if refusal is not None:
            await self.close(code=refusal)
            return
        live.serve_here(asyncio.get_running_loop())
        self.name = presence.display_name(self.user)
        await self._join({live.user_group(self.user.pk)})

    async def disconnect(self, code) -> None:
        for ticket_id in list(getattr(self, "present_on", ())):
            await self._announce(ticket_id, presence.GONE)
        for group in getattr(self, "joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- From the browser ------------------------------------------------------------------
    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data) if len(text_data) <= FRAME_MAX else None
        except ValueError:
            return None

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or not self.joined:
            return
        kind = content.get("type")
        if kind == "watch" and isinstance(content.get("topics"), list):
            await self._watch(content["topics"])
        elif kind == "presence":
            await self._presence(content.get("ticket"), content.get("activity"))

    async def _watch(self, topics: list) -> None:
        """The tab's topics are now these (replacing the ones before)."""
        allowed = await database_sync_to_async(selectors.live_watch)(self.user, topics)
        for ticket_id in self.present_on - set(allowed.presence):  # left those tickets
            await self._announce(ticket_id, presence.GONE)
        self.topics, self.presence_groups = allowed.groups, allowed.presence
        wanted = {live.user_group(self.user.pk)}
        for groups in allowed.groups.values():
            wanted.update(groups)
        for group in self.joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined &= wanted
        await self._join(wanted - self.joined)
        for topic in allowed.refused:
            await self.send_json({"type": "refused", "topic": topic})
        await self.send_json({"type": "watching", "topics": list(allowed.groups)})

    async def _join(self, groups: set[str]) -> None:
        for group in sorted(groups):
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def _presence(self, ticket_id, activity) -> None:
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
            return
        if ticket_id not in self.presence_groups:  # only on a ticket the tab watches
            await self.send_json({"type": "refused", "topic": f"ticket:{ticket_id}"})
            return
        if activity in presence.ACTIVITIES or activity == presence.GONE:
            await self._announce(ticket_id, activity)

    async def _announce(self, ticket_id: int, activity: str) -> None:
        if activity == presence.GONE:
            self.present_on.discard(ticket_id)
            change = await sync_to_async(presence.leave, thread_sensitive=False)(
                ticket_id=ticket_id, channel=self.channel_name
            )
        else:
            self.present_on.add(ticket_id)
            change = await sync_to_async(presence.announce, thread_sensitive=False)(
                ticket_id=ticket_id, channel=self.channel_name, user_id=self.user.pk,
                name=self.name, activity=activity,
            )  # fmt: skip
        groups = self.presence_groups.get(ticket_id) or (live.ticket_group(ticket_id),)
        if change.changed:
            message = live.envelope(
                {"type": "presence", "ticket": ticket_id, "people": change.people}
            )
            for group in groups:
                await self.channel_layer.group_send(group, message)

    # --- From the services -----------------------------------------------------------------
    async def dispatch(self, message) -> None:
        """The services' messages go straight to the browser. Channels' own dispatch first
        closes stale database connections on its one sync thread, a round trip per message
        that forwarding (which touches no database) does not need: measured by
        bench/live_fanout.py, it was a third of the server's CPU per delivery."""
        if message.get("type") == live.FORWARD:
            await self.live_forward(message)
            return
        await super().dispatch(message)

    async def live_forward(self, event) -> None:
        key = event.get("key")
        if key is not None:
            if key in self.recent:  # the same message through another of the socket's groups
                return
            self.recent.append(key)
        await self.send_json(event["message"])
