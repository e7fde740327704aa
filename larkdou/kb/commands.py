"""`larkdou kb …` (build, query, eval)."""

import click


@click.group()
def kb() -> None:
    """Build, query and evaluate the knowledge base."""
