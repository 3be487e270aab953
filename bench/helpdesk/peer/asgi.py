"""ASGI entry of the peer (Django's own handler), wrapped by the benchmark's timing."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")

from timing import with_total_time

application = with_total_time(get_asgi_application())
