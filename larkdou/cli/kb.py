"""`larkdou kb …` (build, query, eval). Each reads its work dir from `--config`."""

from __future__ import annotations

from pathlib import Path

import click

from larkdou.cli.common import CONFIG_HELP, load
from larkdou.config import Settings


def _settings(config: str | None) -> Settings:
    return load(config)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@click.group()
def kb() -> None:
    """Build, query and evaluate the knowledge base."""


@kb.command("build")
@click.option("--config", "config", default=None, help=CONFIG_HELP)
@click.option("--docs", "docs", default=None, type=click.Path(),
              help="document folder (default: [kb] docs)")
@click.option("--good", default=None, type=click.Path(), help="questions to answer, one a line")
@click.option("--bad", default=None, type=click.Path(), help="messages to stay silent on, one a line")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def build(config: str | None, docs: str | None, good: str | None, bad: str | None, no_progress: bool) -> None:
    """Index a folder of documents (incremental) and adjust the answer decision to your examples."""
    from larkdou.errors import KnowledgeBaseError
    from larkdou.kb.build import build_kb

    settings = _settings(config)
    folder = docs or (str(settings.path(settings.kb.docs)) if settings.kb.docs else None)
    if not folder:
        raise KnowledgeBaseError("no document folder: pass --docs DIR or set [kb] docs")
    for name, value in (("--good", good), ("--bad", bad)):
        if value and not Path(value).is_file():
            raise KnowledgeBaseError(f"{name}: file not found: {value}")
    report = build_kb(settings, folder, good=good, bad=bad, progress=not no_progress)
    click.echo(f"indexed {report.files} files ({report.files_reused} unchanged), {report.chunks} chunks "
               f"({report.chunks_new} new) in {report.seconds:.1f} s; index {_size(report.size_bytes)} "
               f"at {report.index_dir}")
    for line in report.skipped:
        click.echo(f"skipped: {line}", err=True)
    if report.decision is not None:
        for line in report.decision.describe():
            click.echo(line, err=line.startswith("warning"))
    if settings.kb.threshold is not None:
        click.echo(f"[kb] threshold = {settings.kb.threshold} overrides the decision threshold")


@kb.command("query")
@click.argument("text")
@click.option("--config", "config", default=None, help=CONFIG_HELP)
@click.option("-k", "--top", "top", default=None, type=click.IntRange(1, 50), help="passages to show (default: [kb] top_k)")
def query(text: str, config: str | None, top: int | None) -> None:
    """Print the passages that best match TEXT, with scores and sources."""
    from larkdou.decision.decide import Decider
    from larkdou.kb.index import open_kb

    settings = _settings(config)
    base = open_kb(settings, required=True)
    assert base is not None
    hits = base.search(text, k=top or settings.kb.top_k)
    v = Decider.for_kb(base, settings.kb.threshold).decide(text)
    click.echo(f"answer probability {v.probability:.3f}, threshold {v.threshold:.3f}: a group message would get: "
               f"{'answer' if v.answer else 'stay silent'} (see `larkdou kb eval --explain` for the signals)")
    if not hits:
        click.echo("no matching passages")
    for n, hit in enumerate(hits, 1):
        click.echo(f"\n[{n}] score {hit.score:.3f}  relevance {hit.relevance:.3f}  {hit.chunk.citation}")
        body = hit.chunk.text if len(hit.chunk.text) <= 400 else hit.chunk.text[:400] + "…"
        click.echo("    " + body.replace("\n", "\n    "))


@kb.command("eval")
@click.option("--config", "config", default=None, help=CONFIG_HELP)
@click.option("--labels", default=None, type=click.Path(), help='jsonl: {"text": …, "label": 1 answer | 0 silent}')
@click.option("--split", "split", default=None, type=click.FloatRange(0.05, 0.95),
              help="hold out this share of the labels; adjust the decision on the rest, report on the held-out part")
@click.option("--explain", "explain", default=None, metavar="TEXT", help="print each signal and the decision for TEXT")
@click.option("-v", "--verbose", is_flag=True, help="also list each wrong decision")
def evaluate_cmd(config: str | None, labels: str | None, split: float | None, explain: str | None, verbose: bool) -> None:
    """Precision, recall and F1 of the group answer decision on labelled messages."""
    from larkdou.cli.decision import explain_text, report_labels
    from larkdou.errors import KnowledgeBaseError
    from larkdou.kb.index import open_kb

    settings = _settings(config)
    base = open_kb(settings, required=True)
    assert base is not None
    if explain is not None:
        explain_text(base, explain, settings.kb.threshold)
    if labels is not None:
        report_labels(base, Path(labels), split, settings.kb.threshold, verbose)
    elif explain is None:
        raise KnowledgeBaseError("give --labels FILE (and optionally --split) or --explain TEXT")
