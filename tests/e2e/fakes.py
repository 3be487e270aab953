"""Test doubles the browser tests' server loads by setting: the 企业微信 robot transport records each post as a
JSON line in KEFU_E2E_ROBOT_LOG instead of calling Tencent (outbound HTTP faked at the transport)."""

from __future__ import annotations

import json
import os
from typing import Any


class RecordingRobotTransport:
    def post(self, url: str, body: dict[str, Any], timeout: float) -> tuple[int | None, str]:
        with open(os.environ["KEFU_E2E_ROBOT_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"url": url, "body": body}, ensure_ascii=False) + "\n")
        return 200, '{"errcode":0,"errmsg":"ok"}'
