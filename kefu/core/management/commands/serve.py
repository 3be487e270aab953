"""`kefu serve`: run Kefu under uvicorn (ASGI: HTTP and websockets)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Run the Kefu web server (ASGI, uvicorn)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
        parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
        parser.add_argument("--no-static", action="store_true", help="do not collect static files first")
        parser.add_argument("--log-level", default="info")

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn
        from django.core.management import call_command

        from kefu.core.gc_tuning import threshold

        if not 0 < options["port"] < 65536:
            raise CommandError("--port must be between 1 and 65535")
        try:
            threshold()  # checked here, before the server's processes read it
        except ValueError as error:
            raise CommandError(str(error)) from None
        if not options["no_static"]:
            call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(f"Kefu is running at http://{options['host']}:{options['port']}/  (Ctrl+C to stop)")
        uvicorn.run(
            "kefu.config.serving:application",  # kefu.config.asgi, with the GC set for serving
            host=options["host"],
            port=options["port"],
            workers=options["workers"],
            log_level=options["log_level"],
            lifespan="off",
        )
