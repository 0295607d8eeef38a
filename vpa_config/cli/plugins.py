"""``vpa-config plugins``: list, status, enable, disable, reset."""

from __future__ import annotations

import click

from vpa_config.cli import render
from vpa_config.cli.context import AppContext, pass_app
from vpa_config.cli.options import change_options, json_option


@click.group("plugins")
def plugins_group() -> None:
    """List, enable, disable and reset plugins.

    \b
    States: active, degraded (failures, breaker open or half-open, or a
    fail-open validator that failed), backoff (waiting to restart),
    quarantined (too many restarts; until "plugins reset"), disabled.
    """


@plugins_group.command("list")
@json_option
@pass_app
def list_cmd(app: AppContext, as_json: bool) -> int:
    """Configured and installed plugins, one a line."""
    from vpa_config.plugins import statuses

    found = statuses(app.store())
    if as_json:
        render.echo_json([status.to_dict() for status in found])
        return 0
    if not found:
        click.echo("no plugins configured or installed")
    for status in found:
        where = "sandbox" if status.sandboxed else "in-process"
        click.echo(f"{status.name}\t{status.state}\t{where}\t{status.source}")
    return 0


@plugins_group.command("status")
@click.argument("name", required=False)
@json_option
@pass_app
def status_cmd(app: AppContext, name: str | None, as_json: bool) -> int:
    """The guard's state of one plugin (or all): breaker, restarts, last error."""
    from vpa_config.plugins import require_known, statuses

    store = app.store()
    if name is not None:
        require_known(store, name)
    found = statuses(store)
    if name is not None:
        found = [status for status in found if status.name == name]
    if as_json:
        data = [status.to_dict() for status in found]
        render.echo_json(data[0] if name is not None else data)
        return 0
    if not found:
        click.echo("no plugins configured or installed")
    for status in found:
        _show_status(status.to_dict())
    return 0


def _show_status(data: dict[str, object]) -> None:
    click.echo(f"{data['name']}: {data['state']} (health {data['health']})")
    click.echo(
        f"  breaker: {data['breaker']}, failures in a row: {data['failures']}, "
        f"total: {data['failures_total']}"
    )
    if data["breaker_retry_in_s"] is not None:
        click.echo(f"  trial call in {data['breaker_retry_in_s']} s")
    if data["restart_in_s"] is not None:
        click.echo(
            f"  restart attempt {data['restart_attempt']} in {data['restart_in_s']} s"
        )
    error = data.get("last_error")
    if isinstance(error, dict):
        click.echo(
            f"  last error ({error.get('hook')}): {error.get('kind')}: "
            f"{error.get('message')}"
        )
    click.echo(
        f"  policy: fail-{data['policy']}, critical: {data['critical']}, "
        f"{'sandboxed' if data['sandboxed'] else 'in-process'}"
    )


@plugins_group.command("enable")
@click.argument("name")
@click.option(
    "--spec", help="module:attr, for a plugin not installed as an entry point."
)
@click.option(
    "--path", "import_path",
    help="Folder to import --spec from: relative to the store's folder, or absolute.",
)
@click.option("--untrusted", is_flag=True, help="Run it in a sandboxed child process.")
@click.option(
    "--policy",
    type=click.Choice(["closed", "open"]),
    help="When its validator fails: refuse the change (closed) or accept it.",
)
@click.option(
    "--critical",
    is_flag=True,
    default=None,
    help="Quarantining it makes health unhealthy.",
)
@change_options
@pass_app
def enable_cmd(
    app: AppContext,
    name: str,
    spec: str | None,
    import_path: str | None,
    untrusted: bool,
    policy: str | None,
    critical: bool | None,
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Enable plugin NAME in the store settings (a validated commit)."""
    from vpa_config.plugins import set_enabled

    updates: dict[str, object] = {}
    for key, value in (
        ("spec", spec),
        ("path", import_path),
        ("policy", policy),
        ("critical", critical),
    ):
        if value is not None:
            updates[key] = value
    if untrusted:
        updates["trusted"] = False
    result = set_enabled(
        app.store(),
        name,
        True,
        updates=updates,
        actor=actor,
        reason=reason,
        dry_run=dry_run,
    )
    return render.change_result(result, as_json)


@plugins_group.command("disable")
@click.argument("name")
@change_options
@pass_app
def disable_cmd(
    app: AppContext,
    name: str,
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Disable plugin NAME (never judged by the plugin it disables)."""
    from vpa_config.plugins import set_enabled

    result = set_enabled(
        app.store(), name, False, actor=actor, reason=reason, dry_run=dry_run
    )
    return render.change_result(result, as_json)


@plugins_group.command("reset")
@click.argument("name")
@json_option
@pass_app
def reset_cmd(app: AppContext, name: str, as_json: bool) -> int:
    """Clear NAME's breaker, restart count and quarantine."""
    from vpa_config.plugins import reset

    had = reset(app.store(), name)
    if as_json:
        render.echo_json({"name": name, "cleared": had})
    else:
        click.echo(f"{name}: {'state cleared' if had else 'had no recorded state'}")
    return 0
