"""`larkdou kb …` (build, query, eval). Each reads its work dir from `--config`."""

from __future__ import annotations

from pathlib import Path

import click

from typing import TYPE_CHECKING

from larkdou.cli.common import CONFIG_HELP, load
from larkdou.config import Settings

if TYPE_CHECKING:
    from larkdou.kb.index import KnowledgeBase


def _settings(config: str | None) -> Settings:
    return load(config)


NAME_HELP = 'knowledge base name (default "default"; [[groups]] kb picks one per group)'


def _open(settings: Settings, name: str) -> "KnowledgeBase":
    """Knowledge base `name`, loaded; a clear error when it has not been built."""
    from larkdou.errors import KnowledgeBaseError
    from larkdou.kb.index import open_kb
    from larkdou.kb.registry import DEFAULT_KB, kb_info, kb_names, kb_settings

    if name != DEFAULT_KB and kb_info(settings, name) is None:
        built = ", ".join(kb_names(settings)) or "none"
        raise KnowledgeBaseError(f"no knowledge base named {name!r} (built: {built}); build it with "
                                 f"`larkdou kb build --name {name} --docs DIR --config {settings.source}`")
    base = open_kb(kb_settings(settings, name), required=True)
    assert base is not None
    return base


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
              help="document folder (default: [kb] docs for the default knowledge base, else the last build's)")
@click.option("--name", "kb_name", default="default", help=NAME_HELP)
@click.option("--good", default=None, type=click.Path(), help="questions to answer, one a line")
@click.option("--bad", default=None, type=click.Path(), help="messages to stay silent on, one a line")
@click.option("--include", "include", multiple=True, metavar="PATTERN",
              help='also index files matching this pattern, e.g. "*.py" (adds to [kb] include; repeatable)')
@click.option("--exclude", "exclude", multiple=True, metavar="PATTERN",
              help='leave out files matching this pattern, e.g. "drafts/" (adds to [kb] exclude; repeatable)')
@click.option("--no-progress", is_flag=True, help="no progress bar")
def build(config: str | None, docs: str | None, kb_name: str, good: str | None, bad: str | None,
          include: tuple[str, ...], exclude: tuple[str, ...], no_progress: bool) -> None:
    """Index a folder of documents (incremental) and adjust the answer decision to your examples."""
    from larkdou.errors import KnowledgeBaseError
    from larkdou.kb.build import build_kb
    from larkdou.kb.registry import DEFAULT_KB, kb_info, kb_settings

    settings = _settings(config)
    before = kb_info(settings, kb_name)
    folder = docs or (str(settings.path(settings.kb.docs)) if settings.kb.docs and kb_name == DEFAULT_KB else None)
    folder = folder or (before.docs_dir if before is not None else None)
    if not folder:
        raise KnowledgeBaseError("no document folder: pass --docs DIR or set [kb] docs" if kb_name == DEFAULT_KB
                                 else f"no document folder for knowledge base {kb_name!r}: pass --docs DIR")
    settings = kb_settings(settings, kb_name)
    for name, value in (("--good", good), ("--bad", bad)):
        if value and not Path(value).is_file():
            raise KnowledgeBaseError(f"{name}: file not found: {value}")
    report = build_kb(settings, folder, good=good, bad=bad, progress=not no_progress, include=list(include),
                      exclude=list(exclude))
    click.echo(f"knowledge base {kb_name!r}: indexed {report.files} files ({report.files_reused} unchanged), "
               f"{report.chunks} chunks ({report.chunks_new} new, {report.duplicates} duplicates dropped) in "
               f"{report.seconds:.1f} s; index {_size(report.size_bytes)} at {report.index_dir}")
    click.echo(f"retrieval: BM25 + dense vectors ({report.embedding})" if report.embedding else
               "retrieval: BM25 only (dense vectors: [kb] embedding = \"e5\" with pip install 'larkdou[e5]')")
    if report.excluded or report.not_included:
        click.echo(f"left out {report.excluded} files matching an exclude pattern and {report.not_included} "
                   f"of other formats (index them with --include PATTERN)")
    for line in report.warnings:
        click.echo(f"warning: {line}", err=True)
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
@click.option("--name", "kb_name", default="default", help=NAME_HELP)
def query(text: str, config: str | None, top: int | None, kb_name: str) -> None:
    """Print the passages that best match TEXT, with scores and sources."""
    from larkdou.decision.decide import Decider

    settings = _settings(config)
    base = _open(settings, kb_name)
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
@click.option("--name", "kb_name", default="default", help=NAME_HELP)
def evaluate_cmd(config: str | None, labels: str | None, split: float | None, explain: str | None, verbose: bool,
                 kb_name: str) -> None:
    """Precision, recall and F1 of the group answer decision on labelled messages."""
    from larkdou.cli.decision import explain_text, report_labels
    from larkdou.errors import KnowledgeBaseError

    settings = _settings(config)
    base = _open(settings, kb_name)
    if explain is not None:
        explain_text(base, explain, settings.kb.threshold)
    if labels is not None:
        report_labels(base, Path(labels), split, settings.kb.threshold, verbose)
    elif explain is None:
        raise KnowledgeBaseError("give --labels FILE (and optionally --split) or --explain TEXT")
