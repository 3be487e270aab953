"""ASGI entry of Kefu for the benchmark: kefu.config.asgi with the harness's timing wrapper."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu_settings")

from timing import with_total_time  # noqa: E402

from kefu.config.asgi import application as kefu_application  # noqa: E402

application = with_total_time(kefu_application)
