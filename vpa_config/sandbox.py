"""Running an untrusted plugin in a child process with limits.

The parent (:class:`SandboxRunner`) starts ``python -I`` in a session of its
own (``start_new_session``, no ``preexec_fn``), in an empty temporary folder,
with an environment holding only ``PATH`` and ``LANG``. The child
(:func:`child_main`) first applies its resource limits (CPU seconds, address
space, open files, file size, no core dumps), moves its standard output onto
standard error, and then imports the plugin.

Parent and child talk over the child's stdin and stdout in frames: a 4-byte
big-endian length, then that many bytes of UTF-8 JSON. A frame over
:data:`MAX_MESSAGE` ends the child. Whatever the plugin prints goes to
stderr, which the parent drains continuously and keeps only the first
:data:`MAX_STDERR` bytes of, so a flood can neither block the child nor fill
the parent's memory. On a timeout the whole process group is killed.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vpa_config.plugins import PluginCallError, Slot
    from vpa_config.settings import PluginGuardSettings

_live: weakref.WeakSet[SandboxRunner] = weakref.WeakSet()
MAX_MESSAGE = 1 << 20
MAX_STDERR = 64 << 10
HEADER = struct.Struct(">I")
BOOT = (
    "import sys, json; a = json.loads(sys.argv[1]); sys.path[:0] = a['paths']; "
    "from vpa_config.sandbox import child_main; child_main(a)"
)


# --- the parent side ---------------------------------------------------------


class SandboxRunner:
    """One plugin in one child process, for the life of the host."""

    sandboxed = True

    def __init__(self, slot: Slot, guard: PluginGuardSettings) -> None:
        self.slot = slot
        self.guard = guard
        self.proc: Any = None
        self.workdir: str | None = None
        self._stderr = bytearray()
        self._stderr_dropped = 0
        self._drainer: threading.Thread | None = None

    # --- life ------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        """Start the child, import and start the plugin; its info."""
        from vpa_config.plugins import load_timeout

        self._spawn()
        return self._request(
            {
                "op": "load",
                "spec": self.slot.spec,
                "options": self.slot.entry.options,
            },
            timeout=load_timeout(self.slot),
        )

    def call(self, hook: str, change: Any) -> Any:
        """Run one hook in the child; raises PluginCallError on any failure."""
        payload = None if change is None else change.to_dict()
        return self._request({"op": "call", "hook": hook, "change": payload})

    def close(self) -> None:
        """Ask the child to stop the plugin, then make sure the group is gone."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self._request({"op": "stop"}, timeout=min(self.slot.entry.timeout_s, 2))
            except Exception:  # noqa: BLE001 (the child is killed below anyway)
                pass
        self._kill()

    # --- the child process -----------------------------------------------

    def _spawn(self) -> None:
        import subprocess
        import tempfile

        self.workdir = tempfile.mkdtemp(prefix="vpa-sandbox-")
        args = {
            "paths": _child_paths(self.slot.import_path),
            "limits": self._limits(),
            "parent": os.getpid(),
        }
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": self.workdir,
            "TMPDIR": self.workdir,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", BOOT, json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.workdir,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        os.set_blocking(self.proc.stdout.fileno(), False)
        os.set_blocking(self.proc.stdin.fileno(), False)
        self._drainer = threading.Thread(
            target=self._drain, name=f"vpa-sandbox-stderr-{self.slot.name}", daemon=True
        )
        self._drainer.start()
        _live.add(self)
        _kill_at_exit()

    def _limits(self) -> dict[str, int]:
        mib = 1 << 20
        return {
            "cpu_s": self.guard.sandbox_cpu_s,
            "memory_b": self.guard.sandbox_memory_mb * mib,
            "files": self.guard.sandbox_files,
            "file_size_b": self.guard.sandbox_file_size_mb * mib,
        }

    def _drain(self) -> None:
        stream = self.proc.stderr
        try:
            while True:
                chunk = stream.read1(65536)
                if not chunk:
                    return
                room = MAX_STDERR - len(self._stderr)
                self._stderr += chunk[:room]
                self._stderr_dropped += max(0, len(chunk) - room)
        except (OSError, ValueError):
            return

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        if self._drainer is not None:
            self._drainer.join(1.0)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        if self.workdir:
            import shutil

            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # --- the protocol ----------------------------------------------------

    def _request(self, message: dict[str, Any], timeout: float | None = None) -> Any:
        try:
            return self._exchange(message, timeout)
        except BaseException as exc:
            from vpa_config.plugins import PluginCallError

            if not isinstance(exc, PluginCallError):
                # Interrupted mid-exchange (Ctrl-C): a late reply would answer
                # the next request, so this child can never be used again.
                self._kill()
            raise

    def _exchange(self, message: dict[str, Any], timeout: float | None) -> Any:
        from vpa_config.plugins import PluginCallError

        if self.proc is None:
            raise PluginCallError("crashed", "the sandbox is not running", restart=True)
        limit = self.slot.entry.timeout_s if timeout is None else timeout
        deadline = time.monotonic() + limit
        try:
            data = json.dumps(message, default=str).encode()
        except (TypeError, ValueError) as exc:
            raise PluginCallError(
                "bad_input", f"cannot send the change: {exc}"
            ) from None
        try:
            self._write(HEADER.pack(len(data)) + data, deadline)
            size = HEADER.unpack(self._read(HEADER.size, deadline))[0]
            if size > MAX_MESSAGE:
                raise self._fail(
                    "bad_return",
                    f"sent a message of {size} bytes (limit {MAX_MESSAGE})",
                )
            reply = self._read(size, deadline)
        except TimeoutError:
            raise self._fail(
                "timed_out",
                f"no answer within {limit:g} s; the process group was killed",
            ) from None
        except EOFError:
            raise self._died() from None
        return self._answer(reply)

    def _answer(self, reply: bytes) -> Any:
        from vpa_config.plugins import PluginCallError

        try:
            data = json.loads(reply)
            ok = data["ok"]
        except (ValueError, TypeError, KeyError):
            raise self._fail(
                "bad_return", "sent a reply that is not the protocol's"
            ) from None
        if ok:
            return data.get("value")
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        raise PluginCallError(
            str(error.get("kind", "raised")),
            str(error.get("message", "")),
            restart=bool(error.get("restart", False)),
            frames=error.get("frames") if isinstance(error.get("frames"), list) else [],
            error_type=str(error.get("type", "")),
        )

    def _fail(self, kind: str, message: str) -> PluginCallError:
        from vpa_config.plugins import PluginCallError

        self._kill()
        return PluginCallError(kind, message, restart=True)

    def _died(self) -> PluginCallError:
        import subprocess

        from vpa_config.plugins import PluginCallError

        proc = self.proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                code = None
        tail = self.stderr_tail()
        self._kill()
        if code is not None and code < 0:
            what = f"was killed by {_signal_name(-code)}"
        else:
            what = f"exited with status {code}"
        detail = f"; stderr ends: {tail}" if tail else ""
        return PluginCallError(
            "crashed", f"the sandbox process {what}{detail}", restart=True
        )

    def stderr_tail(self, limit: int = 200) -> str:
        """The end of what the child wrote to stderr, on one line."""
        text = bytes(self._stderr).decode("utf-8", "replace")
        flat = " ".join(text.split())
        return flat[-limit:]

    def _write(self, data: bytes, deadline: float) -> None:
        import select

        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            _r, ready, _x = select.select([], [fd], [], left)
            if not ready:
                continue
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise EOFError from None

    def _read(self, size: int, deadline: float) -> bytes:
        import select

        fd = self.proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _w, _x = select.select([fd], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(fd, min(size - len(buf), 1 << 16))
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)


_registered = False


def _kill_at_exit() -> None:
    """Kill every child still running when vpa-config's interpreter exits."""
    global _registered
    if not _registered:
        import atexit

        atexit.register(lambda: [runner._kill() for runner in list(_live)])
        _registered = True


def _child_paths(import_path: str | None) -> list[str]:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [import_path] if import_path else []
    paths.append(here)
    paths += [p for p in sys.path if p and os.path.isdir(p) and p not in paths]
    return paths


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# --- the child side ----------------------------------------------------------


def child_main(args: dict[str, Any]) -> None:
    """Serve one plugin over the protocol until told to stop (runs in the child)."""
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # plugin output goes to stderr, which the parent caps
    _die_with_parent(args.get("parent"))
    apply_limits(args.get("limits") or {})
    plugin: Any = None
    while True:
        message = _receive(proto_in)
        if message is None:
            return
        reply, plugin = _handle(message, plugin)
        _send(proto_out, reply)
        if message.get("op") == "stop":
            os._exit(0)


def _die_with_parent(parent: int | None) -> None:
    """Exit as soon as the parent is gone, even while the plugin is busy.

    A thread polls the parent pid: it is portable, and unlike Linux's
    ``PR_SET_PDEATHSIG`` it does not fire when merely the parent *thread*
    that started the child ends.
    """
    if parent is None:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="vpa-sandbox-parent", daemon=True).start()


def apply_limits(limits: dict[str, int]) -> None:
    """CPU, address space, open files, file size; no core dumps."""
    import resource

    pairs = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_CPU, limits.get("cpu_s")),
        (resource.RLIMIT_AS, limits.get("memory_b")),
        (resource.RLIMIT_NOFILE, limits.get("files")),
        (resource.RLIMIT_FSIZE, limits.get("file_size_b")),
    ]
    for which, value in pairs:
        if value is None:
            continue
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        # CPU: the soft limit sends SIGXCPU, one second later the hard one kills.
        top = value + 1 if which == resource.RLIMIT_CPU else value
        if hard != resource.RLIM_INFINITY:
            top = min(top, hard)
        resource.setrlimit(which, (value, top))


def _handle(message: dict[str, Any], plugin: Any) -> tuple[dict[str, Any], Any]:
    from vpa_config import plugins as host

    op = message.get("op")
    try:
        if op == "load":
            plugin = host.instantiate(host.import_spec(message["spec"]))
            info = host.plugin_info(plugin)
            start = getattr(plugin, "start", None)
            if callable(start):
                start(host.freeze(message.get("options") or {}))
            return {"ok": True, "value": info}, plugin
        if op == "stop":
            stop = getattr(plugin, "stop", None)
            if callable(stop):
                stop()
            return {"ok": True, "value": None}, plugin
        func = getattr(plugin, str(message.get("hook")), None)
        if not callable(func):
            return {"ok": True, "value": None}, plugin
        change = message.get("change")
        value = func() if change is None else func(host.Change.from_dict(change))
        return {"ok": True, "value": _plain(value)}, plugin
    except BaseException as exc:  # noqa: BLE001 (the child's error boundary)
        err = host.contained(exc)
        if op == "load" and err.kind == "raised":
            err.kind = "load_failed"
        return {
            "ok": False,
            "error": {
                "kind": err.kind,
                "message": err.message,
                "type": err.error_type,
                "restart": err.restart or op == "load",
                "frames": err.frames,
            },
        }, plugin


def _plain(value: Any) -> Any:
    from vpa_config.plugins import thaw

    return json.loads(json.dumps(thaw(value), default=repr))


def _receive(fd: int) -> dict[str, Any] | None:
    header = _read_exact(fd, HEADER.size)
    if header is None:
        return None
    size = HEADER.unpack(header)[0]
    if size > MAX_MESSAGE:
        return None
    body = _read_exact(fd, size)
    return None if body is None else json.loads(body)


def _read_exact(fd: int, size: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < size:
        chunk = os.read(fd, size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _send(fd: int, message: dict[str, Any]) -> None:
    try:
        data = json.dumps(message, default=repr).encode()
    except (TypeError, ValueError):
        data = json.dumps(
            {
                "ok": False,
                "error": {
                    "kind": "bad_return",
                    "message": "returned a value that is not JSON",
                },
            }
        ).encode()
    if len(data) > MAX_MESSAGE:
        data = json.dumps(
            {
                "ok": False,
                "error": {
                    "kind": "bad_return",
                    "restart": False,
                    "message": f"answer of {len(data)} bytes exceeds {MAX_MESSAGE}",
                },
            }
        ).encode()
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]
