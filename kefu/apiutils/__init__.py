"""Plumbing shared by every REST API module: authentication, the error shape, pagination, idempotency."""
