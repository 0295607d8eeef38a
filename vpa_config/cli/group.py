"""The click group of ``vpa-config``: global options, lazily loaded subcommands.

Imported by :func:`vpa_config.cli.main` for every command line that
``fast.py`` does not run itself.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from vpa_config import __version__
from vpa_config.cli import _RUN, COMMANDS
from vpa_config.cli.context import AppContext


class LazyGroup(click.Group):
    """A group whose subcommands are imported when first needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        name = f"vpa_config.cli.{spec[0]}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            # A planned command whose module is not part of this build.
            raise click.UsageError(
                f"{cmd_name!r} is not available in this version of vpa-config", ctx
            ) from None
        command: click.Command = getattr(module, spec[1])
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        rows += [
            (name, cmd.get_short_help_str(60))
            for name, cmd in sorted(self.commands.items())
            if name not in COMMANDS
        ]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


EPILOG = """\b
Exit codes: 0 ok, 1 refused or invalid, 2 usage error, 3 internal error,
4 store locked, 5 not found, 6 storage failure (disk full, read-only).
The store is --store, else $VPA_CONFIG_STORE, else
$XDG_CONFIG_HOME/vpa-config (default ~/.config/vpa-config)."""


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="vpa-config")
@click.option(
    "--store",
    "store_path",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="VPA_CONFIG_STORE",
    help="The store's folder.  [env: VPA_CONFIG_STORE]",
)
@click.option(
    "--log-format",
    type=click.Choice(["json", "console"], case_sensitive=False),
    envvar="VPA_CONFIG_LOG_FORMAT",
    help="Events as JSON lines or readable text (default: text on a terminal, "
    "else JSON).  [env: VPA_CONFIG_LOG_FORMAT]",
)
@click.option(
    "--log-level",
    type=click.Choice(
        ["debug", "info", "warning", "error", "critical"], case_sensitive=False
    ),
    envvar="VPA_CONFIG_LOG_LEVEL",
    help="Lowest level of the events written (default: critical, so a command "
    "prints only its own messages).  "
    "[env: VPA_CONFIG_LOG_LEVEL]",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="VPA_CONFIG_LOG_FILE",
    help="Write events to this file, rotated at 10 MiB, instead of stderr.  "
    "[env: VPA_CONFIG_LOG_FILE]",
)
@click.pass_context
def cli(
    ctx: click.Context,
    store_path: Path | None,
    log_format: str | None,
    log_level: str | None,
    log_file: Path | None,
) -> None:
    """Validated, versioned, audited configuration files.

    Every change is checked against its JSON Schema before anything is
    written, then committed at once with who made it and why. Events go to
    stderr (or --log-file), never to stdout; every change is also recorded in
    the store's audit trail ("vpa-config events").
    """
    from vpa_config import logs

    logs.configure(
        format=log_format, level=log_level or logs.CLI_DEFAULT_LEVEL, file=log_file
    )
    _RUN["command"] = ctx.invoked_subcommand
    ctx.obj = AppContext(store_path=store_path)
    ctx.call_on_close(ctx.obj.close)
