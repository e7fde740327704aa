"""Answer benchmark: do direct questions get replies that carry the fact, from the right file?

    .venv/bin/python bench/answers.py [--split test|dev|all] [--show N] [--source-url URL] [--work DIR]

Builds two knowledge bases with the real `build_kb` (HuixiangDou's repository as published, in
`shared/corpora/huixiangdou`; the seed guide plus `shared/reference/lark-protocol.md`) and asks each
labelled question of `bench/data/answers.jsonl` as a direct (p2p) message through the real answer
pipeline, without an LLM. Each question has the fact the reply must contain (a regex) and the
files that hold it; questions without a fact are not in the documents and should get "not found".
Questions split by a fixed rule (crc32 of the text, even = dev, odd = test); tune on dev only.

Reports, per split: the share of replies that contain the fact, top-1 / top-3 source accuracy of
retrieval, the share of off-topic questions answered "not found", and the median reply length.
Reference, measured in the same run on the same passages: the first `excerpt_chars` characters of
the best passage (what a reply without sentence selection would show); the ratio compares the two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from larkdou.answer import build_answerer  # noqa: E402
from larkdou.config import Settings, build_settings  # noqa: E402
from larkdou.kb import build_kb, open_kb  # noqa: E402
from larkdou.message import Message  # noqa: E402

QUESTIONS = ROOT / "bench" / "data" / "answers.jsonl"


def shared_dir() -> Path:
    """`shared/` beside the repository (or beside one of its parent folders)."""
    for parent in ROOT.parents:
        if (parent / "shared" / "corpora").is_dir():
            return parent / "shared"
    raise SystemExit("shared/corpora not found next to the repository")


@dataclass
class Row:
    kb: str
    q: str
    fact: str | None
    sources: list[str]

    @property
    def split(self) -> str:
        return "dev" if zlib.crc32(self.q.encode()) % 2 == 0 else "test"


@dataclass
class Result:
    row: Row
    text: str
    mode: str
    ranked: list[str]
    reference: str

    @property
    def has_fact(self) -> bool:
        return bool(self.row.fact) and re.search(self.row.fact, self.text) is not None

    @property
    def reference_has_fact(self) -> bool:
        return bool(self.row.fact) and re.search(self.row.fact, self.reference) is not None


def read_rows(path: Path = QUESTIONS) -> list[Row]:
    return [Row(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def knowledge_bases(work: Path, source_url: str) -> dict[str, Settings]:
    shared = shared_dir()
    lark_docs = work / "lark-docs"
    lark_docs.mkdir(parents=True, exist_ok=True)
    for f in (shared / "seed" / "lark-group-guide.md", shared / "reference" / "lark-protocol.md"):
        shutil.copy(f, lark_docs / f.name)
    out = {}
    for name, docs in (("huixiangdou", shared / "corpora" / "huixiangdou"), ("lark", lark_docs)):
        settings = build_settings({"assistant": {"work_dir": str(work / name)}, "kb": {"source_url": source_url}},
                                  source="bench", base_dir=work, env={})
        report = build_kb(settings, docs, progress=False)
        print(f"{name}: {report.files} files, {report.chunks} chunks ({report.duplicates} duplicates dropped), "
              f"{len(report.warnings)} parser warnings")
        out[name] = settings
    return out


async def ask_all(rows: list[Row], kbs: dict[str, Settings]) -> list[Result]:
    answerers = {name: build_answerer(s) for name, s in kbs.items()}
    results = []
    for n, row in enumerate(rows):
        settings = kbs[row.kb]
        kb = open_kb(settings)
        assert kb is not None
        hits = kb.search(row.q, k=3)
        msg = Message(msg_id=f"om_{n}", group_id="oc_bench", content=row.q, user_id="ou_user", chat_type="p2p",
                      message_type="text")
        d = await answerers[row.kb].decide(msg)
        reference = hits[0].chunk.text[:settings.kb.excerpt_chars] if hits else ""
        results.append(Result(row, d.text, d.mode, [h.chunk.source for h in hits], reference))
    return results


def report(results: list[Result], label: str) -> None:
    answerable = [r for r in results if r.row.fact]
    off_topic = [r for r in results if not r.row.fact]
    if not answerable:
        return
    fact = sum(r.has_fact for r in answerable) / len(answerable)
    ref = sum(r.reference_has_fact for r in answerable) / len(answerable)
    top1 = sum(bool(r.ranked) and r.ranked[0] in r.row.sources for r in answerable) / len(answerable)
    top3 = sum(any(s in r.row.sources for s in r.ranked[:3]) for r in answerable) / len(answerable)
    lengths = [len(r.text) for r in answerable]
    ref_len = statistics.median(len(r.reference) for r in answerable)
    not_found = sum(r.mode == "no_match" for r in off_topic)
    false_no = sum(r.mode == "no_match" for r in answerable)
    print(f"\n{label}: {len(answerable)} questions the documents answer, {len(off_topic)} they do not")
    print(f"  replies with the fact      {fact:.2f}   (reference, best passage's first characters: {ref:.2f}; "
          f"ratio {fact / ref if ref else float('inf'):.2f})")
    print(f"  source top-1 / top-3       {top1:.2f} / {top3:.2f}")
    print(f"  'not found' when answerable {false_no}; off-topic answered 'not found' {not_found}/{len(off_topic)}")
    print(f"  reply length median        {statistics.median(lengths):.0f} chars (reference {ref_len:.0f}; "
          f"max {max(lengths)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=["dev", "test", "all"], default="test")
    parser.add_argument("--show", type=int, default=0, help="print this many replies (misses first)")
    parser.add_argument("--source-url", default="", help="[kb] source_url for the links in replies")
    parser.add_argument("--work", type=Path, help="keep the knowledge bases in this folder (the next run "
                        "rebuilds only what changed); a temporary folder by default")
    args = parser.parse_args()
    rows = [r for r in read_rows() if args.split == "all" or r.split == args.split]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work.resolve() if args.work else Path(tmp)
        kbs = knowledge_bases(work, args.source_url)
        results = asyncio.run(ask_all(rows, kbs))
    for split in (["dev", "test"] if args.split == "all" else [args.split]):
        report([r for r in results if r.row.split == split], split)
    shown = sorted(results, key=lambda r: (bool(r.row.fact) and r.has_fact, r.row.q))[:args.show]
    for r in shown:
        mark = "MISS" if r.row.fact and not r.has_fact else "ok"
        print(f"\n{'=' * 100}\n[{mark}] {r.row.q}  (want /{r.row.fact}/ in {r.row.sources}; ranked {r.ranked})\n"
              f"{'-' * 100}\n{r.text}")


if __name__ == "__main__":
    main()
