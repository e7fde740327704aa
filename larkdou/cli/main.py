"""The top-level `larkdou` group and its service commands (gateway, assistant, sandbox, demo, config)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from larkdou import __version__, logs
from larkdou.cli.chats import chats
from larkdou.cli.common import CONFIG_HELP, load
from larkdou.cli.kb import kb
from larkdou.cli.queue import queue
from larkdou.config import DEFAULT_CONFIG
from larkdou.errors import LarkdouError


class _Group(click.Group):
    """Turns larkdou's own errors into one clear line and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except LarkdouError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                click.echo(f"error: {logs.scrub(line)}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            sys.exit(130)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="larkdou")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def main(log_level: str) -> None:
    """larkdou: a knowledge assistant for Feishu / Lark group chats."""
    logs.setup(log_level.upper())


@main.command()
@click.option("--config", "config", default=None, help=CONFIG_HELP)
@click.option("--host", default=None, help="bind address (default: [gateway] host)")
@click.option("--port", default=None, type=int, help="port (default: [gateway] port, 6666)")
@click.option("--workers", default=1, show_default=True, type=int,
              help="processes serving the port (more than 1 needs a Redis store)")
def gateway(config: str | None, host: str | None, port: int | None, workers: int) -> None:
    """Receive Lark events on /event and serve them on /fetch."""
    from larkdou.gateway.server import serve

    serve(load(config), host=host, port=port, workers=workers)


@main.command()
@click.option("--config", "config", default=None, help=CONFIG_HELP)
@click.option("--standalone", is_flag=True, help="also run the gateway routes in this process (one host)")
def assistant(config: str | None, standalone: bool) -> None:
    """Fetch messages, answer in the group, recall on command (HTTP API on 8888)."""
    from larkdou.assistant.main import serve

    serve(load(config), standalone=standalone)


@main.command()
@click.option("--config", "config", default=None, help=CONFIG_HELP)
@click.option("--port", default=None, type=int, help="port (default: [sandbox] port, 7777)")
@click.option("--callback", default=None, help="where to push events (default: the gateway's /event)")
def sandbox(config: str | None, port: int | None, callback: str | None) -> None:
    """A local Lark Open Platform: Open API, event push, and a web page of the chats."""
    from larkdou.sandbox.server import serve

    serve(load(config), port=port, callback=callback)


@main.command()
@click.option("--once", is_flag=True, help="exit after the scripted conversation")
@click.option("--work-dir", default=None, type=click.Path(file_okay=False), help="keep state here (default: a temporary dir)")
@click.option("--long-connection", "long_connection", is_flag=True,
              help="receive events over the long connection instead of the webhook")
@click.option("--llm", "llm", is_flag=True,
              help="answers written by an LLM stand-in from the documents, streamed into their cards")
@click.option("--llm-delay", "llm_delay", default=None, type=click.FloatRange(0, 5),
              help="with --llm: seconds between the words the stand-in writes (default 0.05)")
def demo(once: bool, work_dir: str | None, long_connection: bool, llm: bool, llm_delay: float | None) -> None:
    """Sandbox + gateway + assistant on the bundled sample knowledge base."""
    from larkdou.demo import LLM_DELAY, run

    if llm_delay is not None and not llm:
        raise click.UsageError("--llm-delay goes with --llm")
    run(once=once, work_dir=Path(work_dir) if work_dir else None,
        receive_mode="long_connection" if long_connection else None,
        llm_delay=(LLM_DELAY if llm_delay is None else llm_delay) if llm else None)


@main.group()
def config() -> None:
    """Write or check a config file."""


@config.command("init")
@click.option("--path", "path", default=DEFAULT_CONFIG, show_default=True, help="file to write")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def config_init(path: str, force: bool) -> None:
    """Write a commented config with a random gateway.fetch_token."""
    from larkdou.config_template import write_template

    write_template(Path(path), force=force)
    click.echo(f"wrote {path}; fill in [frontend.lark_group] and run `larkdou config check --config {path}`")


ROLE_NAMES = {"gateway": "the gateway", "assistant": "the assistant", "standalone": "assistant --standalone",
              "all": "the gateway and the assistant"}


@config.command("check")
@click.option("--config", "config", default=None, help=CONFIG_HELP)
@click.option("--role", type=click.Choice(list(ROLE_NAMES)), default="all", show_default=True,
              help="check for what this config will run (standalone: assistant --standalone)")
def config_check(config: str | None, role: str) -> None:
    """Validate a config file as the services do, report every problem at once (secrets masked)."""
    from larkdou.config import describe_settings
    from larkdou.preflight import check_file

    report = check_file(config, role)
    for warning in report.warnings:
        click.echo(f"warning: {logs.scrub(warning)}", err=True)
    if report.errors:
        for error in report.errors:
            click.echo(f"error: {logs.scrub(error)}", err=True)
        n = len(report.errors)
        click.echo(f"{report.settings.source}: {n} problem{'s' if n > 1 else ''} for {ROLE_NAMES[role]}", err=True)
        sys.exit(2)
    click.echo(f"{report.settings.source}: OK for {ROLE_NAMES[role]}")
    for line in describe_settings(report.settings):
        click.echo(line)


main.add_command(kb)
main.add_command(chats)
main.add_command(queue)
