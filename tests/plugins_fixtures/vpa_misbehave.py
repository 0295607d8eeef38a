"""Plugins that misbehave in every way the guard must survive."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any


class Raises:
    version = "6.6.6"

    def validate(self, change: Any) -> list[Any]:
        raise ValueError("plugin bug: list index out of range")

    def on_commit(self, change: Any) -> None:
        raise ValueError("plugin bug in on_commit")


class Hangs:
    def validate(self, change: Any) -> list[Any]:
        threading.Event().wait(60)
        return []


class Exits:
    def validate(self, change: Any) -> list[Any]:
        sys.exit(3)


class Interrupts:
    def validate(self, change: Any) -> list[Any]:
        raise KeyboardInterrupt


class Garbage:
    def validate(self, change: Any) -> Any:
        return 42


class GarbageItems:
    def validate(self, change: Any) -> Any:
        return [object()]


class Mutates:
    def validate(self, change: Any) -> list[Any]:
        change.files[0].keys[0].new["x"] = 1  # read-only: raises TypeError
        return []


class ExitsHard:
    def validate(self, change: Any) -> list[Any]:
        os._exit(9)


class ExitsHardAndCatches:
    def validate(self, change: Any) -> list[Any]:
        try:
            os._exit(9)
        except BaseException:  # noqa: BLE001 (hides the refused exit on purpose)
            pass
        return []


class Segfaults:
    def validate(self, change: Any) -> list[Any]:
        import ctypes

        ctypes.string_at(0)
        return []


class Aborts:
    def validate(self, change: Any) -> list[Any]:
        os.abort()


class Allocates:
    def validate(self, change: Any) -> list[Any]:
        hoard = []
        while True:
            hoard.append(bytearray(64 << 20))


class Spins:
    def validate(self, change: Any) -> list[Any]:
        while True:
            pass


class Floods:
    def validate(self, change: Any) -> list[Any]:
        line = "x" * 1023 + "\n"
        for _ in range(20_000):  # 20 MiB on each stream
            sys.stdout.write(line)
            sys.stderr.write(line)
        sys.stdout.flush()
        return []


class HugeAnswer:
    def validate(self, change: Any) -> list[Any]:
        return ["y" * 1000] * 5000


class FileFlood:
    def validate(self, change: Any) -> list[Any]:
        handles = [open(os.devnull) for _ in range(10_000)]
        return [f"opened {len(handles)}"]


class EnvPeek:
    def validate(self, change: Any) -> list[Any]:
        return [f"env={','.join(sorted(os.environ))} cwd={os.getcwd()}"]


class SpawnsAndHangs:
    def validate(self, change: Any) -> list[Any]:
        import subprocess

        child = subprocess.Popen(["sleep", "60"])
        sys.stderr.write(f"grandchild={child.pid}\n")
        sys.stderr.flush()
        threading.Event().wait(60)
        return []
