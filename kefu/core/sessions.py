"""Sessions in the database, read with a prepared query (kefu.core.prepared): every signed-in request reads its
session, so the read is compiled once; expiry is checked on the row read, as Django's own store checks it in SQL.
Everything else is Django's database store. Settings: SESSION_ENGINE = "kefu.core.sessions"."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import SuspiciousOperation
from django.utils import timezone

from kefu.core.prepared import Prepared

_SESSION = Prepared(lambda key: Session.objects.filter(session_key=key))


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> Any:
        try:
            found = _SESSION.run(self.session_key) if isinstance(self.session_key, str) else []
            if found and found[0].expire_date > timezone.now():
                return found[0]
        except SuspiciousOperation as error:
            logging.getLogger(f"django.security.{error.__class__.__name__}").warning(str(error))
        self._session_key = None
        return None
