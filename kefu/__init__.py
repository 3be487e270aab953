"""Kefu (客服): customer service and contact-center management."""

__version__ = "0.1.0"
