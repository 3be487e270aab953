"""The `kefu` console script.

`kefu wfm …` runs the planning maths without loading Django; everything else is a Django management command
(`kefu migrate`, `kefu demo`, `kefu serve`, `kefu worker`, `kefu createadmin`, `kefu check --deploy`, …).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "wfm":
        from kefu.wfm.cli import main as wfm_main

        return wfm_main(args[1:])
    # KEFU_ENV=production selects the hardened settings (HTTPS-only cookies, HSTS, required secret key).
    env = os.environ.get("KEFU_ENV", "").strip().lower()
    default_settings = "kefu.config.settings.production" if env == "production" else "kefu.config.settings.base"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["kefu", *args])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
