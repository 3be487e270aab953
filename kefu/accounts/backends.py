"""Sign-in with Django's model backend; the signed-in user of every request is read with a prepared query
(kefu.core.prepared): compiled once, not on each request. Settings: AUTHENTICATION_BACKENDS."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from kefu.core.prepared import Prepared

_USER = Prepared(lambda user_id: _user_model().objects.filter(pk=user_id))


def _user_model() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model()


class AccountBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        found = _USER.run(user_id) if isinstance(user_id, int) else list(_user_model().objects.filter(pk=user_id))
        user = found[0] if found else None
        return user if user is not None and self.user_can_authenticate(user) else None
