"""``vpa-config health``: print the report, or serve it over HTTP."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from vpa_config.cli import render
from vpa_config.cli.context import AppContext, pass_app
from vpa_config.cli.options import json_option

EXIT_HELP = """\b
Exit codes (the convention of Nagios-style monitors):
0 healthy, 1 degraded, 2 unhealthy, 3 unknown."""

# A one-shot report waits this long for the first CPU sample.
WARM_UP_S = 0.3


def _monitor(app: AppContext) -> Any:
    from vpa_config.health import build_monitor

    return build_monitor(app.store_path)


@click.group(
    "health",
    invoke_without_command=True,
    epilog=EXIT_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@json_option
@pass_app
@click.pass_context
def health_group(ctx: click.Context, app: AppContext, as_json: bool) -> int | None:
    """Check the store, its config and its host; print the report.

    Runs every check at once, each with its own timeout (settings
    health.timeout_s), and exits with the aggregate state.
    """
    if ctx.invoked_subcommand is not None:
        return None
    monitor = _monitor(app)
    try:
        monitor.warm_up(WARM_UP_S)
        report = monitor.report(max_age_s=0)
    finally:
        monitor.close(record=False)
    if as_json:
        render.echo_json(report.to_dict())
    else:
        _print_report(report)
    return int(report.exit_code)


def _print_report(report: Any) -> None:
    revision = report.revision[:12] if report.revision else "(none)"
    click.echo(
        f"{report.state.value}  (revision {revision}, vpa-config {report.version})"
    )
    width = max((len(r.name) for r in report.results), default=0)
    for result in report.results:
        flag = "" if result.critical else "  [non-critical]"
        click.echo(
            f"  {result.state.value:9}  {result.name:{width}}  {result.output}{flag}"
        )


@health_group.command("serve")
@click.option(
    "--host", help="Address to bind (default: settings health.server.host, 127.0.0.1)."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port (default: settings health.server.port, 8787; 0 picks a free one).",
)
@pass_app
def serve_cmd(app: AppContext, host: str | None, port: int | None) -> int:
    """Serve /health, /health/live, /health/ready, /health/<check> and /metrics.

    Prints the address it listens on, then serves until SIGTERM or Ctrl-C,
    and exits 0 after a clean shutdown.
    """
    from vpa_config.errors import VpaConfigError
    from vpa_config.health.server import HealthServer

    monitor = _monitor(app)
    server_settings = monitor.settings.server
    bind_host = host or server_settings.host
    bind_port = server_settings.port if port is None else port
    try:
        server = HealthServer(monitor, bind_host, bind_port)
    except OSError as exc:
        import errno

        monitor.close(record=False)
        port_taken = exc.errno in (errno.EADDRINUSE, errno.EACCES)
        advice = (
            "choose another --port (0 picks a free one)" if port_taken
            else "give --host an address of this machine (127.0.0.1, 0.0.0.0)"
        )
        refused = VpaConfigError(
            f"cannot listen on {bind_host}:{bind_port}: {exc.strerror or exc}; "
            f"{advice}"
        )
        refused.exit_code = 3  # unknown, as health's usage errors: not "degraded"
        raise refused from None
    stop = _stop_on_signals()
    server.start()
    click.echo(
        f"serving health on {server.url}/health (metrics on {server.url}/metrics)"
    )
    reason = _wait(stop)
    server.shutdown()
    monitor.close(reason=reason)
    return 0


def _stop_on_signals() -> dict[str, Any]:
    state: dict[str, Any] = {"event": threading.Event(), "reason": "stopped"}

    def handle(signum: int, _frame: Any) -> None:
        state["reason"] = signal.Signals(signum).name
        state["event"].set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return state


def _wait(stop: dict[str, Any]) -> str:
    # Event.wait with a timeout, in a loop, so the main thread wakes to run
    # the signal handler promptly.
    while not stop["event"].wait(0.5):
        pass
    return str(stop["reason"])
