"""`larkdou queue dead|retry|drop`: the dead-letter list of the gateway's queue (`[gateway] store`).

A message delivered `[gateway] max_attempts` times without being acked is parked there instead of
being delivered again. `dead` lists it, `retry` puts it back into its lane with a fresh attempt count,
`drop` deletes it for good. Works on a running system: every change is one store transaction.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from typing import Awaitable, Callable, Sequence

import click

from larkdou.cli.common import CONFIG_HELP, load
from larkdou.store.base import DeadLetter, Queue

TEXT_WIDTH = 50


def _with_queue(config: str | None, work: Callable[[Queue], Awaitable[object]]) -> object:
    from larkdou.gateway.ingest import open_gateway_queue

    settings = load(config)

    async def run() -> object:
        queue = await open_gateway_queue(settings)
        try:
            return await work(queue)
        finally:
            await queue.close()

    return asyncio.run(run())


def _line(dead: DeadLetter) -> str:
    when = datetime.fromtimestamp(dead.died_at_ms / 1000).strftime("%Y-%m-%d %H:%M:%S")
    text = " ".join(dead.message.content.split())
    if len(text) > TEXT_WIDTH:
        text = text[:TEXT_WIDTH - 1] + "…"
    lane = "recall" if dead.message.is_recall else "normal"
    return f"{dead.id:>8}  {when}  {dead.attempts:>8}  {lane:6}  {dead.message.group_id:24}  {dead.message.msg_id:24}  {text}"


@click.group()
def queue() -> None:
    """The dead-letter list: messages delivered too often without an ack."""


@queue.command("dead")
@click.option("--config", "config", default=None, help=CONFIG_HELP)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000),
              help="show at most this many")
def dead(config: str | None, limit: int) -> None:
    """List the dead letters, oldest first."""
    async def work(q: Queue) -> tuple[list[DeadLetter], int]:
        return await q.dead_letters(limit), await q.dead_count()

    letters, total = _with_queue(config, work)  # type: ignore[misc]
    if not letters:
        click.echo("the dead-letter list is empty")
        return
    click.echo(f"{'ID':>8}  {'DIED':19}  {'ATTEMPTS':>8}  {'LANE':6}  {'CHAT':24}  {'MESSAGE':24}  TEXT")
    for letter in letters:
        click.echo(_line(letter))
    more = f" (showing {len(letters)})" if total > len(letters) else ""
    click.echo(f"{total} dead letter(s){more}; `larkdou queue retry ID…|--all` or `larkdou queue drop ID…|--all`")


def _ids(ids: Sequence[str], all_: bool) -> list[str] | None:
    if all_ and ids:
        raise click.UsageError("give IDs or --all, not both")
    if not all_ and not ids:
        raise click.UsageError("give the IDs to act on (see `larkdou queue dead`) or --all")
    bad = [i for i in ids if not i.isdigit()]
    if bad:
        raise click.UsageError(f"not a dead-letter ID: {', '.join(bad)} (IDs are the numbers `larkdou queue dead` shows)")
    return None if all_ else list(ids)


def _report(done: list[str], asked: list[str] | None, verb: str) -> None:
    click.echo(f"{len(done)} message(s) {verb}" + (f": {', '.join(done)}" if done else ""))
    missing = [i for i in asked or [] if str(int(i)) not in done]
    if missing:
        click.echo(f"not in the dead-letter list: {', '.join(missing)}", err=True)
        sys.exit(1)


@queue.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="every dead letter")
@click.option("--config", "config", default=None, help=CONFIG_HELP)
def retry(ids: tuple[str, ...], all_: bool, config: str | None) -> None:
    """Put dead letters back into their lane (with a fresh attempt count)."""
    asked = _ids(ids, all_)
    done = _with_queue(config, lambda q: q.retry_dead(asked))
    _report(done, asked, "back in their lane")  # type: ignore[arg-type]


@queue.command("drop")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="every dead letter")
@click.option("--config", "config", default=None, help=CONFIG_HELP)
def drop(ids: tuple[str, ...], all_: bool, config: str | None) -> None:
    """Delete dead letters for good."""
    asked = _ids(ids, all_)
    done = _with_queue(config, lambda q: q.drop_dead(asked))
    _report(done, asked, "dropped")  # type: ignore[arg-type]
