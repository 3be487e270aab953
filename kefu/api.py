"""The REST API under /api/v1 (Django Ninja). Routers live in each app's api module."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(title="Kefu API", version="1", urls_namespace="api")
