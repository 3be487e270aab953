"""ASGI entry of Kefu for the benchmark: kefu.config.asgi with the harness's timing wrapper."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu_settings")

from timing import with_total_time

from kefu.config.asgi import application as kefu_application

application = with_total_time(kefu_application)
