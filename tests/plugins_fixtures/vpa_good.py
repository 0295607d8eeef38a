"""A well-behaved plugin: refuses temperatures above a limit, records commits."""

from __future__ import annotations

import json
from typing import Any


class Plugin:
    name = "good"
    version = "1.2.3"
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "max_temperature": {"type": "number", "minimum": 0},
            "record_to": {"type": "string"},
        },
    }

    def start(self, options: Any) -> None:
        self.limit = options.get("max_temperature", 2)
        self.record_to = options.get("record_to")

    def validate(self, change: Any) -> list[Any]:
        problems = []
        for file in change.files:
            for key in file.keys:
                if key.path == "llm.temperature" and isinstance(key.new, int | float):
                    if key.new > self.limit:
                        problems.append(
                            {
                                "file": file.path,
                                "path": key.path,
                                "message": f"at most {self.limit} on this host",
                            }
                        )
                if key.path.endswith("api_key"):
                    problems.append(f"saw api_key={key.new}")
        return problems

    def on_commit(self, change: Any) -> None:
        if self.record_to:
            with open(self.record_to, "a") as out:
                out.write(
                    json.dumps(
                        {
                            "revision": change.revision,
                            "actor": change.actor,
                            "keys": list(change.keys),
                        }
                    )
                    + "\n"
                )

    def health(self) -> list[dict[str, str]]:
        return [{"name": "good-check", "status": "healthy", "message": "fine"}]
