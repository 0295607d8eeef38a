"""Events: the one place that knows how vpa-config logs.

Library code calls :func:`emit` with a dotted event name and fields. Nothing
is written until the CLI's entry point or an embedding application calls
:func:`configure`; importing vpa-config configures nothing and imports no
structlog. Even once configured, structlog is imported only when the first
event that passes the level filter is emitted, so a command whose events are
all below the level (the default is ``warning``) pays nothing for it.

vpa-config never touches structlog's global configuration: its events go
through a logger of its own (``structlog.wrap_logger``), so an application's
own structlog set-up is left exactly as it was.

Every event carries ``timestamp`` (ISO 8601, UTC), ``level``, ``event`` (the
dotted name), ``config_revision`` (the revision live in this process when the
event happened, from any thread), ``correlation_id`` (one per CLI command or
library transaction; an application may set its own) and, when the
application provides them, ``trace_id`` and ``span_id``. Secrets are removed
by :class:`vpa_config.redaction.Redactor` before anything is rendered.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import IO, Any

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
FORMATS = ("json", "console")
DEFAULT_LEVEL = "warning"
# The CLI already tells a person what a command did, refused or failed in its
# own one-line message, so by default it writes only what a person would not
# otherwise learn: critical events (history rewritten under the store, an
# audit trail found tampered with).
CLI_DEFAULT_LEVEL = "critical"
ENV_FORMAT = "VPA_CONFIG_LOG_FORMAT"
ENV_LEVEL = "VPA_CONFIG_LOG_LEVEL"
ENV_FILE = "VPA_CONFIG_LOG_FILE"
LOG_FILE_MAX_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5
# Fields shown first, in this order; the rest follow as emitted.
FIRST_FIELDS = ("timestamp", "level", "event", "config_revision", "correlation_id")

# Security events: dotted name -> the stable security name (OWASP vocabulary
# where one fits). Any event in this table gets ``category: security`` and
# ``security_event`` even when the code that emits it forgets them.
SECURITY_EVENTS: dict[str, str] = {
    "config.refused": "input_validation_fail",
    "config.sensitive_update": "sensitive_update",
    "restore.forced": "validation_overridden",
    "security.validation_bypassed": "validation_bypassed",
    "security.history_rewritten": "history_rewritten",
    "security.rewrite_accepted": "history_rewrite_accepted",
    "security.finding_accepted": "validation_finding_accepted",
    "lock.stale_recovered": "stale_lock_broken",
    "plugin.quarantined": "plugin_quarantined",
    "health.monitoring_disabled": "sys_monitor_disabled",
    "health.monitoring_stopped": "sys_monitor_disabled",
    "health.monitoring_started": "sys_monitor_enabled",
    "plugin.guard_disabled": "sys_monitor_disabled",
    "audit.chain_broken": "audit_trail_tampered",
}

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "vpa_config_correlation_id", default=None
)
_bound: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "vpa_config_bound_fields", default=None
)
_state_lock = threading.Lock()
_live_revision: str | None = None
_UNSET: Any = object()
_first_live: Any = _UNSET
_process_correlation: str | None = None
_settings: _Settings | None = None


def _new_id() -> str:
    return os.urandom(16).hex()


# --- the live revision ----------------------------------------------------------


def set_live_revision(revision: str | None) -> None:
    """Record the revision now live; the store calls this on open and commit.

    It is process-wide (not a contextvar) so events from worker and
    background threads carry it too. With several stores open in one process
    it is the revision of the one opened or committed last.
    """
    # TODO(#5): keep one live revision per store root once an application
    # needs events of several stores in one process told apart.
    global _live_revision, _first_live
    if _first_live is _UNSET:
        _first_live = revision
    _live_revision = revision


def live_revision() -> str | None:
    """The revision events are tied to right now."""
    return _live_revision


def start_command() -> None:
    """Start counting revisions for :func:`command_revisions` (the CLI, per command)."""
    global _first_live
    _first_live = _UNSET


def command_revisions() -> tuple[str | None, str | None]:
    """The revision live when the command first opened a store, and the one live now."""
    before = None if _first_live is _UNSET else _first_live
    return before, _live_revision


# --- correlation and bound fields -----------------------------------------------


def current_correlation_id() -> str:
    """The correlation id of the current command or transaction.

    Outside both (an event from a thread of the application's), the
    process-wide id: the CLI command's, or one made once per process.
    """
    return _correlation.get() or _process_id()


def set_correlation_id(value: str | None) -> None:
    """Use ``value`` (an application's own id) for events from here on."""
    _correlation.set(value)


def _process_id() -> str:
    """The fallback id of events outside any command or transaction."""
    global _process_correlation
    if _process_correlation is None:
        _process_correlation = _new_id()
    return _process_correlation


def set_process_correlation_id(value: str | None) -> None:
    """The id events of threads that set none of their own fall back to (CLI)."""
    global _process_correlation
    _process_correlation = value


@contextmanager
def correlation_scope(value: str | None = None) -> Iterator[str]:
    """Bind ``value``, or keep the id already bound, or bind a new one, for a block."""
    chosen = value or _correlation.get() or _new_id()
    token = _correlation.set(chosen)
    try:
        yield chosen
    finally:
        _correlation.reset(token)


def bind(**fields: Any) -> None:
    """Add fields (``trace_id``, ``span_id``, ``actor``) to this context's events."""
    _bound.set({**(_bound.get() or {}), **fields})


def unbind(*names: str) -> None:
    """Remove fields added with :func:`bind`."""
    current = _bound.get() or {}
    _bound.set({k: v for k, v in current.items() if k not in names})


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """:func:`bind` for the length of a block."""
    token = _bound.set({**(_bound.get() or {}), **fields})
    try:
        yield
    finally:
        _bound.reset(token)


# --- configuration --------------------------------------------------------------


class _Settings:
    """One configuration: where events go, how they look, which pass."""

    def __init__(
        self,
        level: str,
        fmt: str,
        file: str | None,
        stream: IO[str] | None,
        redact_keys: tuple[str, ...],
        trace_context: Callable[[], Mapping[str, Any] | None] | None,
        capture: Any = None,
    ) -> None:
        self.level = level
        self.threshold = LEVELS[level]
        self.format = fmt
        self.file = file
        self.stream = stream
        self.redact_keys = redact_keys
        self.trace_context = trace_context
        self.capture = capture
        self._logger: Any = None
        self._sink: _Sink | None = None
        self._lock = threading.Lock()

    def logger(self) -> Any:
        if self._logger is None:
            with self._lock:
                if self._logger is None:
                    self._logger = self._build()
        return self._logger

    def _build(self) -> Any:
        import structlog

        self._sink = _Sink(self.stream, self.file)
        return structlog.wrap_logger(
            self._sink,
            processors=_processors(self),
            wrapper_class=structlog.make_filtering_bound_logger(self.threshold),
            cache_logger_on_first_use=False,
        ).bind()

    def write_raw(self, line: str) -> None:
        sink = self._sink or _Sink(self.stream, self.file)
        sink.msg(line)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


def configure(
    *,
    format: str | None = None,
    level: str | None = None,
    file: str | os.PathLike[str] | None = None,
    stream: IO[str] | None = None,
    redact_keys: tuple[str, ...] | list[str] = (),
    trace_context: Callable[[], Mapping[str, Any] | None] | None = None,
    use_env: bool = True,
) -> None:
    """Turn event output on; the one public way to configure vpa-config's logging.

    Args:
        format: ``json`` (one JSON object a line) or ``console`` (readable).
            Default: ``$VPA_CONFIG_LOG_FORMAT``, else ``console`` when the
            output is a terminal and ``json`` when it is not.
        level: the lowest level written (``debug`` ... ``critical``).
            Default: ``$VPA_CONFIG_LOG_LEVEL``, else ``warning``.
        file: write to this file (rotated at 10 MiB, 5 kept) instead of the
            stream. Default: ``$VPA_CONFIG_LOG_FILE``, else none.
        stream: where events go without a file (default ``sys.stderr``; never
            stdout, which belongs to command output).
        redact_keys: more key names whose values are always redacted.
        trace_context: a function returning the current ``trace_id`` and
            ``span_id`` (for example from OpenTelemetry); called per event.
        use_env: read the ``VPA_CONFIG_LOG_*`` variables for what is not given.

    Raises:
        ValueError: an unknown format or level.
    """
    env = os.environ if use_env else {}
    chosen_level = (level or env.get(ENV_LEVEL) or DEFAULT_LEVEL).lower()
    if chosen_level not in LEVELS:
        raise ValueError(
            f"log level {chosen_level!r} is not one of {', '.join(LEVELS)}"
        )
    chosen_file = os.fspath(file) if file else env.get(ENV_FILE) or None
    chosen_format = (format or env.get(ENV_FORMAT) or "").lower()
    if not chosen_format:
        chosen_format = _default_format(stream, chosen_file)
    if chosen_format not in FORMATS:
        raise ValueError(
            f"log format {chosen_format!r} is not one of {', '.join(FORMATS)}"
        )
    _install(
        _Settings(
            chosen_level,
            chosen_format,
            chosen_file,
            stream,
            tuple(redact_keys),
            trace_context,
        )
    )


def _default_format(stream: IO[str] | None, file: str | None) -> str:
    if file:
        return "json"
    target = stream or sys.stderr
    try:
        return "console" if target.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def _install(settings: _Settings | None) -> _Settings | None:
    global _settings
    with _state_lock:
        previous, _settings = _settings, settings
    return previous


def reset() -> None:
    """Turn event output off again (and close the log file)."""
    previous = _install(None)
    if previous is not None:
        previous.close()


def is_configured() -> bool:
    """Whether events are written anywhere."""
    return _settings is not None


def enabled_for(level: str) -> bool:
    """Whether an event at ``level`` would be written (skip costly fields if not)."""
    settings = _settings
    return settings is not None and LEVELS.get(level, 20) >= settings.threshold


@contextmanager
def capture(
    level: str = "debug", redact_keys: tuple[str, ...] = ()
) -> Iterator[list[dict[str, Any]]]:
    """Collect events as dicts, after every processor, instead of writing them.

    For tests of vpa-config and of applications embedding it: the events are
    exactly what would be rendered (fields added, secrets redacted). The
    previous configuration is restored afterwards.
    """
    from structlog.testing import LogCapture

    catcher = LogCapture()
    settings = _Settings(level, "json", None, None, redact_keys, None, capture=catcher)
    previous = _install(settings)
    try:
        yield catcher.entries
    finally:
        _install(previous)


# --- emitting -------------------------------------------------------------------


def emit(event: str, level: str = "info", **fields: Any) -> None:
    """Log one event; a no-op until logging is configured, and never raises.

    Pass ``exc_info=exc`` (or ``True`` inside ``except``) to attach a
    structured stack trace.
    """
    settings = _settings
    if settings is None or LEVELS.get(level, 20) < settings.threshold:
        return
    try:
        method = level if level in LEVELS else "info"
        getattr(settings.logger(), method)(event, **fields)
    except Exception as exc:
        _last_resort(settings, event, level, exc)


def _last_resort(settings: _Settings, event: str, level: str, exc: Exception) -> None:
    """Write a minimal record saying the event could not be logged as it was."""
    record = {
        "timestamp": _utc_now(),
        "level": level,
        "event": event,
        "config_revision": _live_revision,
        "correlation_id": _correlation.get() or _process_correlation,
        "logging_error": f"{type(exc).__name__}: {exc}",
    }
    try:
        from vpa_config.redaction import Redactor

        settings.write_raw(json.dumps(Redactor().scrub(record), default=_as_text))
    except Exception:
        pass


@contextmanager
def timed(event: str, level: str = "info", **fields: Any) -> Iterator[dict[str, Any]]:
    """Emit ``event`` with ``duration_s`` when the block ends; add fields to the dict.

    A block that raises emits the event with ``outcome: failure`` at
    ``error`` level, with the exception attached, and lets it propagate.
    """
    extra: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        yield extra
    except Exception as exc:
        duration = round(time.perf_counter() - started, 6)
        emit(
            event,
            "error",
            **fields,
            **extra,
            outcome="failure",
            duration_s=duration,
            exc_info=exc,
        )
        raise
    duration = round(time.perf_counter() - started, 6)
    emit(event, level, **{"outcome": "success", **fields, **extra}, duration_s=duration)


def _utc_now() -> str:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{stamp}.{int(now % 1 * 1_000_000):06d}Z"


def _as_text(value: Any) -> str:
    """What a value that JSON cannot carry is rendered as."""
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


# --- processors -----------------------------------------------------------------


class ContextAdder:
    """Add the bound fields, the live revision, the correlation id and trace context."""

    def __init__(
        self, trace_context: Callable[[], Mapping[str, Any] | None] | None
    ) -> None:
        self.trace_context = trace_context

    def __call__(
        self, logger: Any, method: str, event_dict: dict[str, Any]
    ) -> dict[str, Any]:
        for key, value in (_bound.get() or {}).items():
            event_dict.setdefault(key, value)
        event_dict.setdefault("config_revision", _live_revision)
        event_dict.setdefault("correlation_id", _correlation.get() or _process_id())
        if self.trace_context is not None:
            try:
                found = self.trace_context() or {}
            except Exception as exc:
                found = {"trace_context_error": f"{type(exc).__name__}: {exc}"}
            for key, value in found.items():
                event_dict.setdefault(key, value)
        return event_dict


class SecurityTagger:
    """Mark the events of :data:`SECURITY_EVENTS` with their category and name."""

    def __call__(
        self, logger: Any, method: str, event_dict: dict[str, Any]
    ) -> dict[str, Any]:
        name = SECURITY_EVENTS.get(str(event_dict.get("event")))
        if name is not None or event_dict.get("category") == "security":
            event_dict["category"] = "security"
            event_dict.setdefault(
                "security_event", name or str(event_dict.get("event"))
            )
        return event_dict


class FieldOrderer:
    """Put the fields every event has first, so lines read alike."""

    def __call__(
        self, logger: Any, method: str, event_dict: dict[str, Any]
    ) -> dict[str, Any]:
        ordered = {
            key: event_dict.pop(key) for key in FIRST_FIELDS if key in event_dict
        }
        ordered.update(event_dict)
        return ordered


def _processors(settings: _Settings) -> list[Any]:
    import structlog
    from structlog.tracebacks import ExceptionDictTransformer

    from vpa_config.redaction import Redactor

    if settings.format == "console" and settings.capture is None:
        exceptions: Any = structlog.processors.format_exc_info
    else:
        exceptions = structlog.processors.ExceptionRenderer(
            ExceptionDictTransformer(show_locals=False, use_rich=False)
        )
    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        ContextAdder(settings.trace_context),
        SecurityTagger(),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        exceptions,
        Redactor(settings.redact_keys),
        FieldOrderer(),
    ]
    if settings.capture is not None:
        return [*chain, settings.capture]
    return [*chain, _renderer(settings)]


def _renderer(settings: _Settings) -> Any:
    import structlog

    if settings.format == "json":
        return structlog.processors.JSONRenderer(default=_as_text, ensure_ascii=False)
    target = settings.stream or sys.stderr
    try:
        colors = target.isatty() and not settings.file and "NO_COLOR" not in os.environ
    except (AttributeError, ValueError):
        colors = False
    return structlog.dev.ConsoleRenderer(
        colors=colors, exception_formatter=structlog.dev.plain_traceback
    )


# --- where lines go -------------------------------------------------------------


class _Sink:
    """structlog's wrapped logger: writes each rendered line to the stream or file."""

    def __init__(self, stream: IO[str] | None, file: str | None) -> None:
        self.stream = stream
        self.handler: Any = _log_file(file) if file else None

    def msg(self, message: str) -> None:
        if self.handler is not None:
            import logging

            record = logging.LogRecord(
                "vpa_config", logging.INFO, "", 0, message, None, None
            )
            self.handler.handle(record)
            return
        target = self.stream or sys.stderr
        target.write(message + "\n")
        target.flush()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg

    def close(self) -> None:
        if self.handler is not None:
            self.handler.close()


def _log_file(path: str) -> Any:
    """A rotating file handler that, when the file cannot be written, says so once."""
    from logging.handlers import RotatingFileHandler

    class LogFile(RotatingFileHandler):
        failed = False

        def handleError(self, record: Any) -> None:
            error = sys.exc_info()[1]
            if not self.failed:
                self.failed = True
                sys.stderr.write(
                    f"vpa-config: cannot write the log file {path} ({error}); "
                    "events go to stderr instead\n"
                )
            try:
                sys.stderr.write(str(record.msg) + "\n")
            except Exception:
                pass

    return LogFile(
        path,
        maxBytes=LOG_FILE_MAX_BYTES,
        backupCount=LOG_FILE_BACKUPS,
        encoding="utf-8",
        delay=True,
    )
