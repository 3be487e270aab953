"""Writes to the knowledge base."""
