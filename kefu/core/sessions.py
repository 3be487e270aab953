"""Sessions in the database, read with a prepared query (kefu.core.prepared): every signed-in request reads its
session, so the read is compiled once; expiry is checked on the row read, as Django's own store checks it in SQL.

The table keeps a hash of each session key, not the key (`stored_key`): its rows sign nobody in, and a person's
list of sessions (accounts.UserSession) points at a row by the same hash. Everything else is Django's database
store. Settings: SESSION_ENGINE = "kefu.core.sessions"."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import SuspiciousOperation
from django.utils import timezone

from kefu.core.prepared import Prepared

_SESSION = Prepared(lambda key: Session.objects.filter(session_key=key))


def stored_key(session_key: str) -> str:
    """The session key as the table keeps it: 40 hex digits of its SHA-256 (the column's width)."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:40]


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> Any:
        try:
            found = _SESSION.run(stored_key(self.session_key)) if isinstance(self.session_key, str) else []
            if found and found[0].expire_date > timezone.now():
                return found[0]
        except SuspiciousOperation as error:
            logging.getLogger(f"django.security.{error.__class__.__name__}").warning(str(error))
        self._session_key = None
        return None

    async def _aget_session_from_db(self) -> Any:
        try:
            if isinstance(self.session_key, str):
                return await Session.objects.aget(session_key=stored_key(self.session_key),
                                                  expire_date__gt=timezone.now())
        except (Session.DoesNotExist, SuspiciousOperation) as error:
            if isinstance(error, SuspiciousOperation):
                logging.getLogger(f"django.security.{error.__class__.__name__}").warning(str(error))
        self._session_key = None
        return None

    def exists(self, session_key: str) -> bool:
        return bool(Session.objects.filter(session_key=stored_key(session_key)).exists())

    async def aexists(self, session_key: str) -> bool:
        return bool(await Session.objects.filter(session_key=stored_key(session_key)).aexists())

    def create_model_instance(self, data: dict[str, Any]) -> Any:
        obj = super().create_model_instance(data)
        obj.session_key = stored_key(obj.session_key)
        return obj

    async def acreate_model_instance(self, data: dict[str, Any]) -> Any:
        obj = await super().acreate_model_instance(data)
        obj.session_key = stored_key(obj.session_key)
        return obj

    def delete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        if key is None:
            return
        Session.objects.filter(session_key=stored_key(key)).delete()

    async def adelete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        if key is None:
            return
        await Session.objects.filter(session_key=stored_key(key)).adelete()
