"""A plugin that fails while a switch file exists (to drive the breaker)."""

from __future__ import annotations

import os
from typing import Any


class Plugin:
    version = "0.1"
    options_schema = {"type": "object", "properties": {"switch": {"type": "string"}}}

    def start(self, options: Any) -> None:
        self.switch = options["switch"]

    def validate(self, change: Any) -> list[Any]:
        if os.path.exists(self.switch):
            with open(self.switch) as handle:
                how = handle.read().strip()
            if how == "hang":
                import time

                time.sleep(30)
            if how == "exit":
                raise SystemExit(4)
            raise RuntimeError("switched off")
        return []
