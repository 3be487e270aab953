"""The personas of kefu/conftest.py, for the API-wide tests that live outside the apps."""

from kefu.conftest import *  # noqa: F403 - fixtures are found by name
