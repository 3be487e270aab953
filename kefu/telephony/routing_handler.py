"""Calls that routing gives to an agent: once the accept has committed, the PBX is told to put the waiting caller
through to the agent's extension (kefu.telephony.commands.call_put_through: sent or not, it is recorded, and the
agent hears of a failure). Without a PBX configured the accept still stands: the PBX's own queue may ring them."""

from __future__ import annotations

from typing import Any

from django.db import transaction

CALL_KIND = "phone"  # the routing kind of calls (QueueKind.PHONE)


class CallHandler:
    def assigned(self, contact: Any, agent: Any) -> None:
        """Inside the accept's transaction: the command waits for the commit (a rolled-back accept sends
        nothing)."""
        prefix, _sep, call_id = str(contact.ref).partition(":")
        if prefix != "call" or not call_id:
            return  # a phone contact that is not a PBX call (entered through the API): nothing to put through
        contact_id = contact.pk
        transaction.on_commit(lambda: _put_through(call_id, agent, contact_id), robust=True)


def _put_through(call_id: str, agent: Any, contact_id: int) -> None:
    from kefu.telephony.commands import call_put_through

    call_put_through(call_id=call_id, agent=agent, contact_id=contact_id)


def register() -> None:
    from kefu.routing.services import register_kind

    register_kind(CALL_KIND, CallHandler())
