"""Plugins, and the guard every call of every plugin goes through.

A plugin is found through the ``vpa_config.plugins`` entry-point group or a
``module:attr`` spec in the store settings (``plugins.entries.NAME``), which
also enable it and give its options. Its hooks, all optional:

``validate(change) -> problems``  refuses the change like schema errors do
``on_commit(change)``             runs after a commit
``health() -> checks``            contributes checks to the health report
``start(options)`` / ``stop()``   around the plugin's life in one process

The guard (:class:`PluginHost`) contains every failure of plugin code
(exceptions, ``SystemExit``, ``os._exit``, a ``KeyboardInterrupt`` the
plugin raises, a hang, a garbage return), logs and counts it, applies the
plugin's policy, and drives a per-plugin circuit breaker and a restart
watchdog whose state lives in a JSON file in the store's ``.git`` folder, so
that it holds across CLI processes. ``plugins reset NAME`` clears it.
Untrusted plugins run in a child process (:mod:`vpa_config.sandbox`); the
in-process guard can abandon a hung call but not kill it.
"""

from __future__ import annotations

import contextvars
import json
import os
import random
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from vpa_config import logs
from vpa_config.errors import Problem
from vpa_config.exitguard import ExitRequested, run_refusing_exit

if TYPE_CHECKING:
    from vpa_config.history import FileChange
    from vpa_config.settings import PluginEntry, PluginGuardSettings, PluginSettings
    from vpa_config.store import ConfigStore
    from vpa_config.transaction import ChangeResult, Transaction

ENTRY_POINT_GROUP = "vpa_config.plugins"
STATE_FILE = "vpa-config.plugins.json"
HOOKS = ("validate", "on_commit", "health", "start", "stop")
HEALTH_STATUSES = ("healthy", "degraded", "unhealthy", "unknown")
TRIAL_GRACE_S = 1.0
LOAD_TIMEOUT_S = 10.0
# settings.SETTINGS_FILE, repeated so that the sandbox child, which imports this
# module, never imports pydantic.
SETTINGS_FILE = ".vpa-config/settings.yaml"
_PLUGINS_KEY = re.compile(rb"(?m)^plugins\s*:")  # the settings' top-level key
Clock = Callable[[], float]


class Plugin(Protocol):
    """What a plugin may provide; every member is optional."""

    name: str
    version: str
    options_schema: dict[str, Any]

    def start(self, options: Mapping[str, Any]) -> None: ...

    def stop(self) -> None: ...

    def validate(self, change: Change) -> list[Any]: ...

    def on_commit(self, change: Change) -> None: ...

    def health(self) -> list[dict[str, Any]]: ...


# --- the change a plugin is shown --------------------------------------------


@dataclass(frozen=True)
class KeyDelta:
    """One key that a change adds, removes or changes."""

    path: str
    parts: tuple[str | int, ...]
    kind: str
    old: Any = None
    new: Any = None
    secret: bool = False


@dataclass(frozen=True)
class FileDelta:
    """One file of a change."""

    path: str
    action: str
    keys: tuple[KeyDelta, ...] = ()


@dataclass(frozen=True)
class Change:
    """A read-only view of one change; secret values redacted unless allowed.

    ``revision`` is None while the change is being validated; ``parent`` is
    the revision it builds on.
    """

    files: tuple[FileDelta, ...]
    actor: str
    kind: str
    subject: str
    parent: str | None
    revision: str | None
    correlation_id: str

    @property
    def keys(self) -> tuple[str, ...]:
        """``FILE:KEY`` of every changed key."""
        return tuple(f"{f.path}:{k.path}" for f in self.files for k in f.keys)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what a sandboxed plugin receives)."""
        return {
            "files": [
                {
                    "path": f.path,
                    "action": f.action,
                    "keys": [
                        {
                            "path": k.path,
                            "parts": list(k.parts),
                            "kind": k.kind,
                            "old": thaw(k.old),
                            "new": thaw(k.new),
                            "secret": k.secret,
                        }
                        for k in f.keys
                    ],
                }
                for f in self.files
            ],
            "actor": self.actor,
            "kind": self.kind,
            "subject": self.subject,
            "parent": self.parent,
            "revision": self.revision,
            "correlation_id": self.correlation_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        """The change again from :meth:`to_dict`'s form, frozen."""
        files = tuple(
            FileDelta(
                f["path"],
                f["action"],
                tuple(
                    KeyDelta(
                        k["path"],
                        tuple(k["parts"]),
                        k["kind"],
                        freeze(k.get("old")),
                        freeze(k.get("new")),
                        bool(k["secret"]),
                    )
                    for k in f["keys"]
                ),
            )
            for f in data["files"]
        )
        return cls(
            files,
            data["actor"],
            data["kind"],
            data["subject"],
            data["parent"],
            data["revision"],
            data["correlation_id"],
        )


def freeze(value: Any) -> Any:
    """Mappings become read-only proxies and lists tuples, all the way down."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain dicts and lists again (for JSON)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def build_change(
    file_changes: list[FileChange],
    *,
    allow_secrets: bool,
    actor: str,
    kind: str,
    subject: str,
    parent: str | None,
    revision: str | None,
) -> Change:
    """The plugin's view of a change: values under secret keys redacted."""
    from vpa_config.validation import REDACTED

    files = []
    for change in file_changes:
        keys = []
        for key in change.keys:
            secret = change.is_secret(key)
            hide = secret and not allow_secrets
            keys.append(
                KeyDelta(
                    key.dotted,
                    tuple(key.path),
                    key.kind,
                    REDACTED if hide and key.kind != "added" else freeze(key.old),
                    REDACTED if hide and key.kind != "removed" else freeze(key.new),
                    secret,
                )
            )
        files.append(FileDelta(change.path, change.action, tuple(keys)))
    return Change(
        tuple(files),
        actor,
        kind,
        subject,
        parent,
        revision,
        logs.current_correlation_id(),
    )


# --- failures ----------------------------------------------------------------


class PluginCallError(Exception):
    """A call of plugin code failed; ``restart`` when the instance is unusable."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        restart: bool = False,
        frames: list[dict[str, Any]] | None = None,
        error_type: str = "",
    ) -> None:
        from vpa_config.masking import scrub_text  # shown as events show it

        message = scrub_text(message)
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.restart = restart
        self.frames = frames or []
        self.error_type = error_type or kind

    def describe(self) -> str:
        """One line for a problem message or a status."""
        return f"{self.kind}: {self.message}" if self.message else self.kind


def structured_traceback(exc: BaseException, limit: int = 30) -> list[dict[str, Any]]:
    """The frames of an exception as data (file, line, function, code)."""
    frames = traceback.extract_tb(exc.__traceback__)[-limit:]
    return [
        {"file": f.filename, "line": f.lineno, "function": f.name, "code": f.line}
        for f in frames
    ]


def contained(exc: BaseException) -> PluginCallError:
    """What a failure raised by plugin code becomes (secrets in it scrubbed)."""
    from vpa_config.masking import scrub_text

    text = _short(scrub_text(str(exc)))
    frames = structured_traceback(exc)
    kind, restart = "raised", False
    if isinstance(exc, SystemExit):
        kind, restart, text = "exited", True, f"called exit({exc.code!r})"
    elif isinstance(exc, ExitRequested):
        kind, restart = "exited", True
    elif isinstance(exc, KeyboardInterrupt):
        kind, restart = "interrupted", True
    elif isinstance(exc, MemoryError):
        kind, restart = "out_of_memory", True
    elif not isinstance(exc, Exception):
        kind, restart = "exited", True
    return PluginCallError(
        kind,
        f"{type(exc).__name__}: {text}" if kind == "raised" else text,
        restart=restart,
        frames=frames,
        error_type=type(exc).__name__,
    )


def _short(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# --- running plugin code in this process -------------------------------------


def call_in_thread(
    func: Callable[..., Any], args: tuple[Any, ...], timeout: float, label: str
) -> Any:
    """Run ``func`` in a worker thread; abandon it after ``timeout`` seconds.

    Plugin code only ever runs in the worker, so any ``SystemExit`` or
    ``KeyboardInterrupt`` seen there was raised by the plugin and is
    contained, and so is its ``os._exit`` (:mod:`vpa_config.exitguard`). The
    user's Ctrl-C is delivered to the main thread, which is waiting in
    ``join``; it propagates and aborts the command as usual.
    """
    box: dict[str, Any] = {}
    context = contextvars.copy_context()

    def work() -> None:
        try:
            box["value"] = context.run(run_refusing_exit, func, *args)
        except BaseException as exc:  # noqa: BLE001 (the error boundary)
            box["error"] = exc

    worker = threading.Thread(target=work, name=f"vpa-plugin-{label}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        # TODO(#7): a Python thread cannot be killed; the hung call keeps
        # running until the process exits. Only the sandbox kills it.
        raise PluginCallError(
            "timed_out",
            f"no answer within {timeout:g} s; the call was abandoned",
            restart=True,
        )
    if "error" in box:
        raise contained(box["error"])
    return box.get("value")


def import_spec(spec: str, path: str | None = None) -> Any:
    """The object a ``module:attr`` spec names (``path`` added to sys.path)."""
    import importlib
    import sys

    module_name, _, attr = spec.partition(":")
    if path and path not in sys.path:
        sys.path.insert(0, path)
    module = importlib.import_module(module_name)
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def instantiate(target: Any) -> Any:
    """A plugin object from what a spec names: a class is instantiated."""
    return target() if isinstance(target, type) else target


class InProcessRunner:
    """A trusted plugin, imported into vpa-config's own interpreter."""

    sandboxed = False

    def __init__(self, slot: Slot) -> None:
        self.slot = slot
        self.plugin: Any = None

    def load(self) -> dict[str, Any]:
        """Import, instantiate and start the plugin; its name, version, schema."""
        slot = self.slot

        def build() -> Any:
            return instantiate(import_spec(slot.spec, slot.import_path))

        try:
            self.plugin = call_in_thread(build, (), load_timeout(slot), slot.name)
        except PluginCallError as err:
            err.kind = "load_failed" if err.kind == "raised" else err.kind
            err.restart = True
            raise
        info = plugin_info(self.plugin)
        start = getattr(self.plugin, "start", None)
        if callable(start):
            options = freeze(dict(slot.entry.options))
            call_in_thread(start, (options,), load_timeout(slot), slot.name)
        return info

    def call(self, hook: str, change: Change | None) -> Any:
        """Run one hook; raises :class:`PluginCallError` on any failure."""
        func = getattr(self.plugin, hook, None)
        if not callable(func):
            return None
        return self._run(func, () if change is None else (change,))

    def _run(self, func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return call_in_thread(func, args, self.slot.entry.timeout_s, self.slot.name)

    def close(self) -> None:
        """Call ``stop`` if the plugin has one; failures are only logged."""
        stop = getattr(self.plugin, "stop", None)
        self.plugin = None
        if callable(stop):
            try:
                self._run(stop, ())
            except PluginCallError as err:
                logs.emit(
                    "plugin.failed",
                    level="warning",
                    plugin=self.slot.name,
                    hook="stop",
                    reason=err.kind,
                    error=err.message,
                )


def load_timeout(slot: Slot) -> float:
    """Seconds to import and start a plugin: its call timeout, at least 10 s."""
    return max(slot.entry.timeout_s, LOAD_TIMEOUT_S)


def plugin_info(plugin: Any) -> dict[str, Any]:
    """The plugin's declared name, version, options schema and hooks."""
    schema = getattr(plugin, "options_schema", None)
    return {
        "version": str(getattr(plugin, "version", "") or ""),
        "options_schema": schema if isinstance(schema, dict) else None,
        "hooks": [h for h in HOOKS if callable(getattr(plugin, h, None))],
    }


# --- checking what plugins return --------------------------------------------


def problems_from(value: Any, name: str, change: Change) -> list[Problem]:
    """A validator's answer as problems; anything malformed is a failure."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise PluginCallError(
            "bad_return", f"validate returned {type(value).__name__}, expected a list"
        )
    default_file = change.files[0].path if change.files else SETTINGS_FILE
    return [_problem_from(item, name, default_file) for item in value]


def _problem_from(item: Any, name: str, default_file: str) -> Problem:
    from vpa_config.keypath import parse_key_path

    if isinstance(item, str):
        item = {"message": item}
    if not isinstance(item, Mapping) or not isinstance(item.get("message"), str):
        raise PluginCallError(
            "bad_return",
            f"validate returned {_short(repr(item), 80)}; expected a string or "
            'a mapping with "message"',
        )
    file = item.get("file", default_file)
    key = item.get("path", "")
    if not isinstance(file, str) or not isinstance(key, str | list):
        raise PluginCallError("bad_return", "a problem's file or path is not text")
    parts = (
        tuple(key) if isinstance(key, list) else (parse_key_path(key) if key else ())
    )
    return Problem(
        file=file,
        path=parts,
        message=f"{_short(item['message'])} (plugin {name})",
        rule=f"plugin:{name}",
        source="plugin",
    )


def checks_from(value: Any) -> list[dict[str, Any]]:
    """A health hook's answer as checks; anything malformed is a failure."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise PluginCallError(
            "bad_return", f"health returned {type(value).__name__}, expected a list"
        )
    checks = []
    for item in value:
        ok = isinstance(item, Mapping) and item.get("status") in HEALTH_STATUSES
        if not ok or not isinstance(item.get("name", ""), str):
            raise PluginCallError(
                "bad_return",
                f"health returned {_short(repr(item), 80)}; expected a mapping with "
                f"status one of {', '.join(HEALTH_STATUSES)}",
            )
        checks.append(
            {
                "name": str(item.get("name", "")),
                "status": item["status"],
                "message": _short(str(item.get("message", ""))),
            }
        )
    return checks


# --- the state that outlives a process ---------------------------------------


class StateFile:
    """Per-plugin guard state, in a JSON file beside the repository's refs.

    Every update takes an exclusive ``flock`` on a lock file, reads, changes
    and atomically replaces the file, so concurrent commands never lose an
    update or see half a file.
    """

    def __init__(self, controldir: Path) -> None:
        self.path = Path(controldir) / STATE_FILE
        self.lock_path = Path(controldir) / (STATE_FILE + ".lock")

    def read(self) -> dict[str, dict[str, Any]]:
        """Everything recorded; an unreadable file counts as empty."""
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, name: str) -> dict[str, Any]:
        """One plugin's state (a copy)."""
        return dict(self.read().get(name) or {})

    @contextmanager
    def update(self, name: str) -> Iterator[dict[str, Any]]:
        """Change one plugin's state in place, under the lock."""
        import fcntl

        from vpa_config import fsutil

        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            data = self.read()
            state = dict(data.get(name) or {})
            yield state
            if state:
                data[name] = state
            else:
                data.pop(name, None)
            payload = json.dumps(data, indent=1, sort_keys=True).encode()
            fsutil.atomic_write(self.path, payload, 0o644)

    def clear(self, name: str) -> bool:
        """Forget one plugin's state; whether there was any."""
        with self.update(name) as state:
            had = bool(state)
            state.clear()
        return had


# --- the guard ---------------------------------------------------------------


@dataclass
class Slot:
    """One enabled plugin in this process: its settings and its runner."""

    name: str
    entry: PluginEntry
    spec: str
    import_path: str | None
    sandboxed: bool
    dist_version: str = ""
    runner: Any = None
    version: str = ""
    hooks: list[str] | None = None
    degraded: bool = False

    def has(self, hook: str) -> bool:
        """Whether the plugin has ``hook`` (assumed so until it is loaded)."""
        return self.hooks is None or hook in self.hooks


@dataclass(frozen=True)
class Verdict:
    """The outcome of one guarded call."""

    ok: bool
    value: Any = None
    reason: str = ""
    failed: bool = False


class PluginHost:
    """Loads the store's plugins and runs every call inside the guard."""

    def __init__(
        self,
        store: ConfigStore,
        *,
        clock: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.state = StateFile(store.repo.controldir)
        self.slots: dict[str, Slot] = {}
        self._settings: PluginSettings | None = None
        self._settings_key: Any = object()
        self._lock = threading.RLock()

    # --- settings --------------------------------------------------------

    @property
    def settings(self) -> PluginSettings:
        """The plugins part of the settings (defaults until the first refresh).

        Built on first use, so that opening a store for a read imports no
        pydantic.
        """
        if self._settings is None:
            from vpa_config.settings import PluginSettings

            self._settings = PluginSettings()
        return self._settings

    @settings.setter
    def settings(self, value: PluginSettings) -> None:
        self._settings = value

    @property
    def guard(self) -> PluginGuardSettings:
        """The guard's limits from the settings."""
        return self.settings.guard

    def refresh(self) -> None:
        """Follow HEAD's settings: new plugins get a slot, dropped ones stop."""
        repo = self.store.repo
        key = repo.files(repo.head()).get(SETTINGS_FILE)  # (mode, blob id)
        if key == self._settings_key:
            return
        self._settings_key = key
        settings = self._head_settings(key)
        self.settings = settings
        wanted = {n: e for n, e in settings.entries.items() if e.enabled}
        for name in list(self.slots):
            current = self.slots[name].entry
            if name not in wanted or resolve_path(self.store, wanted[name]) != current:
                self._unload(self.slots.pop(name))
        for name, entry in wanted.items():
            if name not in self.slots:
                entry = resolve_path(self.store, entry)
                self.slots[name] = make_slot(name, entry, settings.sandbox_all)

    def _head_settings(self, key: Any) -> PluginSettings:
        from vpa_config.settings import PluginSettings

        if key is None or not _PLUGINS_KEY.search(self.store.repo.blob(key[1])):
            return PluginSettings()  # no plugins part: skip parsing the file
        return head_plugin_settings(self.store)

    def close(self) -> None:
        """Stop every loaded plugin."""
        with self._lock:
            for slot in self.slots.values():
                self._unload(slot)

    def _unload(self, slot: Slot) -> None:
        runner, slot.runner = slot.runner, None
        if runner is not None:
            runner.close()

    # --- hooks the store calls -------------------------------------------

    def validate(self, tx: Transaction, changed: dict[str, Any]) -> list[Problem]:
        """Problems plugins find in a transaction (a ``store.validators`` hook)."""
        with self._lock:
            self.refresh()
            verdict = self.store.validator_for(tx)
            problems = check_plugin_settings(self, tx, verdict, changed)
            running = enabled_after(self, verdict, changed)
            if not running:
                return problems
            file_changes = verdict.file_changes(changed)
            request = tx.request
            for slot in running:
                if not slot.has("validate"):
                    continue
                change = build_change(
                    file_changes,
                    allow_secrets=slot.entry.secrets,
                    actor=str(request.actor) if request else "",
                    kind=request.kind if request else "change",
                    subject=request.subject if request else "",
                    parent=tx.head,
                    revision=None,
                )
                problems += self._validate_one(slot, change, tx.head)
            return problems

    def _validate_one(
        self, slot: Slot, change: Change, revision: str | None
    ) -> list[Problem]:
        outcome = self.call(slot, "validate", change, revision)
        if outcome.ok:
            return outcome.value
        if slot.entry.policy == "open":
            self._mark_degraded(slot, outcome.reason, revision)
            return []
        file = change.files[0].path if change.files else SETTINGS_FILE
        return [
            Problem(
                file=file,
                path=(),
                rule=f"plugin:{slot.name}",
                source="plugin",
                message=(
                    f"plugin {slot.name} could not judge the change "
                    f"({outcome.reason}); "
                    'refused because its policy is fail-closed (see "vpa-config '
                    f'plugins status {slot.name}")'
                ),
            )
        ]

    def on_commit(self, result: ChangeResult) -> None:
        """Tell plugins of a commit (a ``store.listeners`` hook); never raises.

        The change is committed by now, so even a fault of the guard itself
        is only logged: the command still reports the commit.
        """
        try:
            self._on_commit(result)
        except Exception as exc:  # noqa: BLE001 (the commit stands regardless)
            logs.emit(
                "plugin.guard_error",
                level="error",
                hook="on_commit",
                error=f"{type(exc).__name__}: {exc}",
                config_revision=result.revision,
                exception=structured_traceback(exc),
                correlation_id=logs.current_correlation_id(),
            )

    def _on_commit(self, result: ChangeResult) -> None:
        with self._lock:
            self.refresh()
            running = [s for s in self.slots.values() if s.has("on_commit")]
            if not running or result.revision is None:
                return
            actor = self.store.repo.commit(result.revision).author
            for slot in running:
                change = build_change(
                    result.files,
                    allow_secrets=slot.entry.secrets,
                    actor=actor,
                    kind=result.kind,
                    subject=result.subject,
                    parent=result.parent,
                    revision=result.revision,
                )
                self.call(slot, "on_commit", change, result.revision)

    def health_checks(self) -> dict[str, list[dict[str, Any]]]:
        """Each running plugin's own checks, by plugin name."""
        with self._lock:
            self.refresh()
            revision = self.store.repo.head()
            found = {}
            for slot in self.slots.values():
                if not slot.has("health"):
                    continue
                outcome = self.call(slot, "health", None, revision)
                found[slot.name] = (
                    outcome.value
                    if outcome.ok
                    else [
                        {
                            "name": slot.name,
                            "status": "unhealthy",
                            "message": f"health hook unavailable: {outcome.reason}",
                        }
                    ]
                )
            return found

    # --- one guarded call ------------------------------------------------

    def call(
        self, slot: Slot, hook: str, change: Change | None, revision: str | None
    ) -> Verdict:
        """Run one hook of one plugin inside the guard; never raises for it."""
        trial, blocked = self._admit(slot)
        if blocked:
            return Verdict(False, reason=blocked)
        stage = "load"
        try:
            self._ensure_loaded(slot, revision)
            stage = hook
            raw = slot.runner.call(hook, change)
            value = _checked(hook, raw, slot.name, change)
        except PluginCallError as err:
            if stage == "load":
                err.restart = True
            self._failed(slot, stage, err, revision, trial)
            return Verdict(False, reason=err.describe(), failed=True)
        self._succeeded(slot, hook, revision, trial)
        return Verdict(True, value=value)

    def _admit(self, slot: Slot) -> tuple[bool, str]:
        """(is a breaker trial, why the call is refused or '')."""
        blocked = _blocked(self.state.get(slot.name), self.clock(), slot.name)
        if blocked is not None:
            return False, blocked
        if self.state.get(slot.name).get("breaker", "closed") == "closed":
            return False, ""
        with self.state.update(slot.name) as st:
            # Checked again under the lock: exactly one caller gets the trial.
            now = self.clock()
            blocked = _blocked(st, now, slot.name)
            if blocked is not None or st.get("breaker", "closed") == "closed":
                return False, blocked or ""
            st["breaker"] = "half_open"
            st["trial_until"] = now + slot.entry.timeout_s + TRIAL_GRACE_S
        return True, ""

    def _ensure_loaded(self, slot: Slot, revision: str | None) -> None:
        if slot.runner is not None:
            return
        st = self.state.get(slot.name)
        if st.get("restart_at") is not None:
            self._event(
                slot,
                "plugin.restarting",
                revision,
                level="warning",
                attempt=st.get("attempt", 0),
                phase="starting",
            )
        runner = make_runner(slot, self.guard)
        info = runner.load()
        slot.runner = runner
        slot.version = info.get("version") or slot.dist_version or "unknown"
        slot.hooks = info.get("hooks") or []
        with self.state.update(slot.name) as st:
            st.pop("restart_at", None)
            st["version"] = slot.version
        self._event(
            slot, "plugin.loaded", revision, sandboxed=slot.sandboxed, hooks=slot.hooks
        )

    def _succeeded(
        self, slot: Slot, hook: str, revision: str | None, trial: bool
    ) -> None:
        st = self.state.get(slot.name)
        if not trial and not st.get("failures") and not st.get("degraded"):
            return
        with self.state.update(slot.name) as st:
            st["failures"] = 0
            st.pop("degraded", None)
            if trial:
                st["breaker"] = "closed"
                for key in ("open_until", "trial_until", "open_s"):
                    st.pop(key, None)
        slot.degraded = False
        if trial:
            self._event(slot, "plugin.breaker_closed", revision, hook=hook)

    def _failed(
        self,
        slot: Slot,
        hook: str,
        err: PluginCallError,
        revision: str | None,
        trial: bool,
    ) -> None:
        now = self.clock()
        event = "plugin.timed_out" if err.kind == "timed_out" else "plugin.failed"
        self._event(
            slot,
            event,
            revision,
            level="error",
            hook=hook,
            reason=err.kind,
            error=err.message,
            error_type=err.error_type,
            exception=err.frames,
        )
        with self.state.update(slot.name) as st:
            st["failures"] = st.get("failures", 0) + 1
            st["failures_total"] = st.get("failures_total", 0) + 1
            st["last_error"] = {
                "hook": hook,
                "kind": err.kind,
                "message": err.message,
                "at": now,
                "revision": revision,
            }
            opened = self._breaker_after_failure(slot, st, now, trial)
            restart = self._restart_after_failure(st, now) if err.restart else None
            st["last_failure_at"] = now
        if opened:
            self._event(
                slot,
                "plugin.breaker_opened",
                revision,
                level="warning",
                open_s=opened,
                failures=st["failures"],
                trial=trial,
            )
        if err.restart:
            self._unload_quietly(slot)
        if restart == "quarantined":
            self._event(
                slot,
                "plugin.quarantined",
                revision,
                level="error",
                category="security",
                security_event="sys_monitor_disabled",
                restarts=len(st.get("restarts", [])),
                window_s=self.guard.quarantine_window_s,
            )
        elif restart is not None:
            self._event(
                slot,
                "plugin.restarting",
                revision,
                level="warning",
                attempt=st["attempt"],
                delay_s=round(restart, 3),
                phase="scheduled",
            )

    def _breaker_after_failure(
        self, slot: Slot, st: dict[str, Any], now: float, trial: bool
    ) -> float | None:
        guard = self.guard
        if trial:
            open_s = min(guard.breaker_open_max_s, max(st.get("open_s", 0), 1) * 2)
        elif (
            st.get("breaker", "closed") == "closed"
            and st["failures"] >= guard.breaker_failures
        ):
            open_s = guard.breaker_open_s
        else:
            return None
        st.update(breaker="open", open_s=open_s, open_until=now + open_s)
        st.pop("trial_until", None)
        return open_s

    def _restart_after_failure(self, st: dict[str, Any], now: float) -> float | str:
        """Schedule a restart (full jitter) or quarantine: a delay or 'quarantined'."""
        guard = self.guard
        if now - st.get("last_failure_at", now) > guard.restart_reset_s:
            st["attempt"] = 0
        window = [
            t for t in st.get("restarts", []) if now - t <= guard.quarantine_window_s
        ]
        if len(window) >= guard.quarantine_restarts:
            st.update(quarantined=True, quarantined_at=now, restarts=window)
            st.pop("restart_at", None)
            return "quarantined"
        attempt = st.get("attempt", 0) + 1
        ceiling = min(guard.restart_cap_s, guard.restart_base_s * 2 ** (attempt - 1))
        delay = max(1.0, self.rng.uniform(0, ceiling))
        st.update(attempt=attempt, restart_at=now + delay, restarts=[*window, now])
        return delay

    def _unload_quietly(self, slot: Slot) -> None:
        runner, slot.runner = slot.runner, None
        if runner is not None and runner.sandboxed:
            runner.close()
        # An in-process instance that hung or exited is dropped, not stopped:
        # calling into it again could hang the same way.

    def _mark_degraded(self, slot: Slot, reason: str, revision: str | None) -> None:
        slot.degraded = True
        with self.state.update(slot.name) as st:
            st["degraded"] = reason
        self._event(
            slot,
            "plugin.degraded",
            revision,
            level="warning",
            reason=reason,
            policy="open",
        )

    def _event(
        self, slot: Slot, event: str, revision: str | None, **fields: Any
    ) -> None:
        level = fields.pop("level", "info")
        logs.emit(
            event,
            level=level,
            plugin=slot.name,
            plugin_version=slot.version or slot.dist_version or "unknown",
            config_revision=revision,
            correlation_id=logs.current_correlation_id(),
            **fields,
        )


def _blocked(st: dict[str, Any], now: float, name: str) -> str | None:
    """Why the guard refuses to call the plugin ``name`` now, or None."""
    if st.get("quarantined"):
        return f'quarantined; run "vpa-config plugins reset {name}" to re-admit it'
    restart_at = st.get("restart_at")
    if restart_at is not None and now < restart_at:
        return f"restarting in {restart_at - now:.1f} s (backoff)"
    if st.get("breaker", "closed") == "closed":
        return None
    if now < st.get("open_until", 0):
        return f"breaker open for {st['open_until'] - now:.1f} s more"
    if st.get("trial_until", 0) > now:
        return "breaker half-open; its one trial call is in progress"
    return None


def _checked(hook: str, raw: Any, name: str, change: Change | None) -> Any:
    if hook == "validate":
        assert change is not None
        return problems_from(raw, name, change)
    if hook == "health":
        return checks_from(raw)
    return None


# --- setting plugins up ------------------------------------------------------


def make_slot(name: str, entry: PluginEntry, sandbox_all: bool) -> Slot:
    """A slot for an enabled plugin; the spec comes from settings or entry point."""
    spec, dist_version = entry.spec, ""
    if spec is None:
        found = installed_plugins().get(name)
        if found is not None:
            spec, dist_version = found["spec"], found["version"]
    return Slot(
        name=name,
        entry=entry,
        spec=spec or "",
        import_path=entry.path,
        sandboxed=sandbox_all or not entry.trusted,
        dist_version=dist_version,
    )


def make_runner(slot: Slot, guard: PluginGuardSettings) -> Any:
    """The runner for a slot: in this process, or in a sandbox."""
    if not slot.spec:
        raise PluginCallError(
            "load_failed",
            f"no installed plugin is called {slot.name!r} (entry-point group "
            f"{ENTRY_POINT_GROUP}) and its settings give no spec",
            restart=True,
        )
    if slot.sandboxed:
        from vpa_config.sandbox import SandboxRunner

        return SandboxRunner(slot, guard)
    return InProcessRunner(slot)


def installed_plugins() -> dict[str, dict[str, str]]:
    """Plugins installed as ``vpa_config.plugins`` entry points, by name."""
    from importlib.metadata import entry_points

    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found[ep.name] = {
            "spec": ep.value,
            "version": str(getattr(dist, "version", "") or ""),
            "distribution": str(getattr(dist, "name", "") or ""),
        }
    return found


def head_plugin_settings(store: ConfigStore) -> PluginSettings:
    """The ``plugins`` part of HEAD's settings."""
    return store._head_check().settings.plugins


def resolve_path(store: ConfigStore, entry: PluginEntry) -> PluginEntry:
    """The entry with a relative ``path`` made absolute against the store."""
    if entry.path and not os.path.isabs(entry.path):
        return entry.model_copy(update={"path": str(store.root / entry.path)})
    return entry


def enabled_after(
    host: PluginHost, verdict: Any, changed: dict[str, Any]
) -> list[Slot]:
    """Plugins that judge a change: enabled, and their entry left as it is.

    A change that disables or reconfigures a plugin is never judged by that
    plugin, so one that refuses everything can always be turned off or
    given a longer timeout or a fail-open policy.
    """
    if SETTINGS_FILE not in changed:
        return list(host.slots.values())
    before = host.settings.entries
    after = verdict.settings.plugins.entries
    return [
        slot
        for name, slot in host.slots.items()
        if name in after and after[name].enabled and after[name] == before.get(name)
    ]


def check_plugin_settings(
    host: PluginHost, tx: Transaction, verdict: Any, changed: dict[str, Any]
) -> list[Problem]:
    """Problems of plugins a settings change enables or reconfigures.

    Each must load, and its options must match the options schema it
    declares (located in the settings file like any other problem).
    """
    if SETTINGS_FILE not in changed or verdict.settings_problems:
        return []
    from vpa_config import documents

    text = documents.decode(SETTINGS_FILE, tx.read(SETTINGS_FILE) or b"")
    before = host.settings.entries
    plugins = verdict.settings.plugins
    problems: list[Problem] = []
    for name, entry in plugins.entries.items():
        if entry.enabled and before.get(name) != entry:
            problems += _check_new_entry(host, plugins, text, name, entry)
    return problems


def _check_new_entry(
    host: PluginHost, plugins: PluginSettings, text: str, name: str, entry: PluginEntry
) -> list[Problem]:
    slot = make_slot(name, resolve_path(host.store, entry), plugins.sandbox_all)
    runner = None
    try:
        runner = make_runner(slot, plugins.guard)
        info = runner.load()
    except PluginCallError as err:
        if runner is not None:
            runner.close()
        message = f"plugin {name} cannot be loaded: {err.describe()}"
        return [_settings_problem(text, ("plugins", "entries", name), message)]
    try:
        schema = info.get("options_schema")
        if schema is None:
            return []
        return options_problems(text, name, schema, entry.options)
    finally:
        runner.close()


def options_problems(
    text: str, name: str, schema: dict[str, Any], options: dict[str, Any]
) -> list[Problem]:
    """Problems of a plugin's options against the schema it declares."""
    from vpa_config import documents
    from vpa_config.errors import SchemaError
    from vpa_config.validation import SchemaRegistry, SchemaSource, validate

    prefix = ("plugins", "entries", name, "options")
    source = SchemaSource(
        f"plugin {name} options",
        "plugin",
        f"file:///vpa-config/plugins/{name}",
        json.dumps(schema).encode(),
    )
    try:
        found = validate(SETTINGS_FILE, options, source, SchemaRegistry())
    except SchemaError as exc:
        return [_settings_problem(text, prefix, f"plugin {name}: {exc}")]
    problems = []
    for problem in found:
        path = prefix + tuple(problem.path)
        spot = documents.locate(SETTINGS_FILE, text, path) or (None, None)
        problems.append(problem.copy_with(path=path, line=spot[0], column=spot[1]))
    return problems


def _settings_problem(text: str, path: tuple[str, ...], message: str) -> Problem:
    from vpa_config import documents

    spot = documents.locate(SETTINGS_FILE, text, path) or (None, None)
    return Problem(
        SETTINGS_FILE,
        path,
        message,
        rule="plugin",
        line=spot[0],
        column=spot[1],
        source="plugin",
    )


def attach(store: ConfigStore, **kwargs: Any) -> PluginHost:
    """Put a :class:`PluginHost` on the store's validator and listener hooks."""
    host = PluginHost(store, **kwargs)
    store.validators.append(host.validate)
    store.listeners.append(host.on_commit)
    store.plugin_host = host
    return host


# --- what status and health show ---------------------------------------------


@dataclass(frozen=True)
class PluginStatus:
    """Where one plugin stands, from the settings and the state file."""

    name: str
    enabled: bool
    state: str
    breaker: str
    critical: bool
    sandboxed: bool
    policy: str
    source: str
    detail: dict[str, Any]

    @property
    def health(self) -> str:
        """healthy, degraded or unhealthy, as the health report counts it."""
        if self.state == "quarantined":
            return "unhealthy" if self.critical else "degraded"
        if self.state in ("backoff", "degraded"):
            return "degraded"
        return "healthy"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "enabled": self.enabled,
            "state": self.state,
            "breaker": self.breaker,
            "health": self.health,
            "critical": self.critical,
            "sandboxed": self.sandboxed,
            "policy": self.policy,
            "source": self.source,
            **self.detail,
        }


def statuses(store: ConfigStore, clock: Clock = time.time) -> list[PluginStatus]:
    """Every configured or installed plugin's status, by name."""
    settings = head_plugin_settings(store)
    recorded = StateFile(store.repo.controldir).read()
    installed = installed_plugins()
    names = sorted(set(settings.entries) | set(installed) | set(recorded))
    now = clock()
    return [
        _status(name, settings, recorded.get(name) or {}, installed.get(name), now)
        for name in names
    ]


def _status(
    name: str,
    settings: PluginSettings,
    st: dict[str, Any],
    installed: dict[str, str] | None,
    now: float,
) -> PluginStatus:
    entry = settings.entries.get(name)
    enabled = bool(entry and entry.enabled)
    source = (entry.spec if entry and entry.spec else None) or (
        f"entry point {installed['spec']}" if installed else "not found"
    )
    breaker = st.get("breaker", "closed")
    if breaker == "open" and now >= st.get("open_until", 0):
        breaker = "half_open"
    if not enabled:
        state = "disabled"
    elif st.get("quarantined"):
        state = "quarantined"
    elif st.get("restart_at") is not None and now < st["restart_at"]:
        state = "backoff"
    elif breaker != "closed" or st.get("failures") or st.get("degraded"):
        state = "degraded"
    else:
        state = "active"
    detail = {
        "version": st.get("version") or (installed or {}).get("version") or "",
        "failures": st.get("failures", 0),
        "failures_total": st.get("failures_total", 0),
        "restart_attempt": st.get("attempt", 0),
        "restart_in_s": _until(st.get("restart_at"), now),
        "breaker_open_s": st.get("open_s"),
        "breaker_retry_in_s": _until(st.get("open_until"), now),
        "last_error": st.get("last_error"),
    }
    return PluginStatus(
        name=name,
        enabled=enabled,
        state=state,
        breaker=breaker,
        critical=bool(entry and entry.critical),
        sandboxed=bool(entry and (settings.sandbox_all or not entry.trusted)),
        policy=entry.policy if entry else "closed",
        source=source,
        detail=detail,
    )


def _until(at: float | None, now: float) -> float | None:
    return None if at is None or at <= now else round(at - now, 3)


def plugin_health(store: ConfigStore, clock: Clock = time.time) -> list[dict[str, Any]]:
    """Per-plugin health for the health report.

    A quarantined critical plugin is unhealthy, a quarantined non-critical
    one degraded; a plugin in backoff or with an open breaker is degraded.
    Disabled plugins are left out.
    """
    return [
        {
            "name": f"plugin:{s.name}",
            "status": s.health,
            "critical": s.critical,
            "state": s.state,
            "message": _health_message(s),
        }
        for s in statuses(store, clock)
        if s.enabled
    ]


def _health_message(status: PluginStatus) -> str:
    error = status.detail.get("last_error") or {}
    why = (
        f"; last error in {error.get('hook')}: {error.get('message')}" if error else ""
    )
    return f"{status.state}, breaker {status.breaker}{why}"


def require_known(store: ConfigStore, name: str) -> None:
    """Refuse a plugin name that is neither configured, installed nor recorded."""
    from vpa_config.errors import NotFoundError

    if name not in {status.name for status in statuses(store)}:
        raise NotFoundError(f"no plugin called {name!r} is configured or installed")


def reset(store: ConfigStore, name: str) -> bool:
    """Clear a plugin's breaker, restart and quarantine state."""
    require_known(store, name)
    had = StateFile(store.repo.controldir).clear(name)
    logs.emit(
        "plugin.reset",
        plugin=name,
        had_state=had,
        config_revision=store.repo.head(),
        correlation_id=logs.current_correlation_id(),
    )
    return had


def set_enabled(
    store: ConfigStore,
    name: str,
    enabled: bool,
    *,
    updates: Mapping[str, Any] | None = None,
    actor: str | None = None,
    reason: str = "",
    dry_run: bool = False,
) -> ChangeResult:
    """Enable or disable a plugin in the settings: a normal validated commit.

    ``updates`` sets other fields of the plugin's entry too (spec, path,
    trusted, policy, ...). Enabling loads the plugin once and checks its
    options against its schema; a plugin that cannot load is refused.
    """
    from vpa_config import documents

    if not enabled:
        require_known(store, name)
    verb = "enable" if enabled else "disable"
    fields = {"enabled": enabled, **dict(updates or {})}
    with store.transaction(
        subject=f"plugins {verb} {name}",
        kind=f"plugins-{verb}",
        actor=actor,
        reason=reason,
        dry_run=dry_run,
    ) as tx:
        text = documents.decode(SETTINGS_FILE, tx.read(SETTINGS_FILE) or b"")
        for key, value in fields.items():
            path = ("plugins", "entries", name, key)
            text = documents.set_value(SETTINGS_FILE, text, path, value)
        tx.write(SETTINGS_FILE, text.encode())
    assert tx.result is not None
    return tx.result


# --- the health report's plugin checks ---------------------------------------


class PluginHealthProvider:
    """Checks ``plugin:NAME`` for a health monitor, one per enabled plugin.

    Each check judges the guard's state of the plugin (see
    :func:`plugin_health`) and, when the plugin is active and has a
    ``health`` hook, the checks that hook returns (called inside the guard,
    by a plugin host this provider keeps for the monitor's life).
    """

    def __init__(self, probe: Any) -> None:
        self.probe = probe
        self._host: PluginHost | None = None
        self._store: ConfigStore | None = None
        self._lock = threading.Lock()

    def __call__(self) -> list[Any]:
        from vpa_config.health.model import HealthCheck

        with self.probe.session() as store:
            found = [s for s in statuses(store) if s.enabled]
        return [
            HealthCheck(
                f"plugin:{status.name}",
                self._checker(status.name),
                critical=status.critical,
                tags=frozenset({"ready", "plugins"}),
                component_type="plugin",
            )
            for status in found
        ]

    def _checker(self, name: str) -> Callable[[], Any]:
        return lambda: self.observe(name)

    def observe(self, name: str) -> Any:
        """The observation of one plugin now."""
        from vpa_config.health.model import HealthState, Observation, worst

        with self.probe.session() as store:
            status = next((s for s in statuses(store) if s.name == name), None)
        if status is None or not status.enabled:
            return Observation(HealthState.HEALTHY, value="disabled", output="disabled")
        state = HealthState(status.health)
        output = [_health_message(status)]
        if status.state == "active":
            for check in self._own_checks(name):
                state = worst(state, HealthState(check["status"]))
                output.append(f"{check['name']}: {check['status']} {check['message']}")
        return Observation(state, value=status.state, output="; ".join(output))

    def _own_checks(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            host = self._open_host()
            host.refresh()
            slot = host.slots.get(name)
            if slot is None or not slot.has("health"):
                return []
            outcome = host.call(slot, "health", None, self._store.repo.head())
        if outcome.ok:
            return list(outcome.value)
        return [
            {
                "name": name,
                "status": "unhealthy",
                "message": f"health hook failed: {outcome.reason}",
            }
        ]

    def _open_host(self) -> PluginHost:
        if self._host is None:
            from vpa_config.store import ConfigStore

            self._store = ConfigStore.open(self.probe.root, plugins=False)
            self._host = PluginHost(self._store)
        return self._host

    def close(self) -> None:
        """Stop the plugins the provider loaded."""
        with self._lock:
            if self._host is not None:
                self._host.close()
            if self._store is not None:
                self._store.close()
            self._store = self._host = None


def add_health_checks(monitor: Any, probe: Any) -> PluginHealthProvider:
    """Give a health monitor its ``plugin:NAME`` checks."""
    provider = PluginHealthProvider(probe)
    monitor.add_provider("plugins", provider)
    monitor.on_close(provider.close)
    return provider
