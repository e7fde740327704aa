"""Retrieval benchmark: build time, index size and query latency of the knowledge base.

    .venv/bin/python bench/retrieval.py [--sizes 1000,10000,100000] [--queries 300]

For each size, writes a synthetic corpus of mixed Chinese / English / identifier text (50 sections a
file, one chunk a section), builds it with `build_kb` (the real loaders, tokenizer and index), then
times what answering a message costs: `search` plus the relevance score. The reference, measured in
the same run on the same chunks and queries, is a plain linear scan that intersects each query's
token set with every chunk's; the ratio reference / search says how much faster the index is.
Target: query p50 under 50 ms at 100k chunks.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from larkdou.config import build_settings  # noqa: E402
from larkdou.kb import build_kb, open_kb  # noqa: E402
from larkdou.kb.tokens import tokenize  # noqa: E402

ZH = ("网关 助手 知识库 配置 加密 签名 验证 消息 撤回 群聊 机器人 飞书 回调 事件 订阅 权限 部署 服务器 端口 存储 队列 "
      "去重 重试 超时 限流 令牌 模型 向量 检索 索引 分词 阈值 回答 问题 文档 日志 监控 集群 主机 数据库 缓存 "
      "长连接 会话 用户 管理员 应用 凭证 密钥 证书 请求 响应 状态 错误 异常 版本 升级 安装 依赖 环境 变量").split()
EN = ("gateway assistant knowledge base config encrypt signature verify message recall group chat bot event "
      "callback subscribe permission deploy server port store queue dedup retry timeout rate limit token model "
      "vector search index threshold answer question document log metrics cluster host database cache session "
      "user admin secret request response status error version upgrade install dependency environment").split()
IDS = ("encrypt_key verification_token app_secret fetch_token webhook_url recall_keywords work_dir "
       "receive_mode bot_open_id chunk_size top_k base_url max_retries").split()
SECTIONS_PER_FILE = 50


def sentence(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return "".join(rng.choices(ZH, k=rng.randint(5, 10))) + "。"
    if kind < 0.85:
        return " ".join(rng.choices(EN, k=rng.randint(6, 12))).capitalize() + "."
    return f"设置 {rng.choice(IDS)} = \"{rng.choice(EN)}\"，然后{rng.choice(ZH)}{rng.choice(ZH)}。"


def write_corpus(folder: Path, chunks: int, rng: random.Random) -> None:
    for f in range(max(1, chunks // SECTIONS_PER_FILE)):
        parts = []
        for s in range(SECTIONS_PER_FILE):
            body = " ".join(sentence(rng) for _ in range(rng.randint(4, 8)))
            parts.append(f"## {rng.choice(ZH)}{rng.choice(ZH)} {f}-{s}\n\n{body}\n")
        (folder / f"doc{f:05d}.md").write_text("\n".join(parts), encoding="utf-8")


def make_queries(n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.4:
            out.append("".join(rng.choices(ZH, k=rng.randint(2, 4))) + "怎么配置？")
        elif kind < 0.8:
            out.append("how do I " + " ".join(rng.choices(EN, k=rng.randint(2, 4))) + "?")
        else:
            out.append(f"{rng.choice(IDS)} 在哪里设置")
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def run(size: int, n_queries: int) -> dict[str, float]:
    rng = random.Random(size)
    with tempfile.TemporaryDirectory(prefix="larkdou-bench-") as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        write_corpus(docs, size, rng)
        settings = build_settings({"assistant": {"work_dir": str(Path(tmp) / "work")}}, env={})
        started = time.perf_counter()
        report = build_kb(settings, docs, progress=False)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        rebuild = build_kb(settings, docs, progress=False)
        rebuild_s = time.perf_counter() - started
        started = time.perf_counter()
        kb = open_kb(settings, required=True)
        load_s = time.perf_counter() - started
        queries = make_queries(n_queries, rng)
        kb.search(queries[0])  # warm-up
        times = []
        for q in queries:
            t = time.perf_counter()
            kb.relevance(kb.search(q, k=4))
            times.append(time.perf_counter() - t)
        # reference: linear scan over every chunk's token set, same queries (a sample, it is slow)
        token_sets = [set(tokenize(c.index_text())) for c in kb.chunks]
        ref_times = []
        for q in queries[:50]:
            t = time.perf_counter()
            wanted = set(tokenize(q))
            sorted(range(len(token_sets)), key=lambda i: -len(wanted & token_sets[i]))[:4]
            ref_times.append(time.perf_counter() - t)
    p50 = statistics.median(times)
    return {"chunks": report.chunks, "build_s": build_s, "rebuild_s": rebuild_s, "reused": rebuild.files_reused,
            "size_mib": report.size_bytes / 2**20, "load_s": load_s, "p50_ms": p50 * 1000,
            "p95_ms": percentile(times, 0.95) * 1000, "ref_p50_ms": statistics.median(ref_times) * 1000,
            "speedup": statistics.median(ref_times) / p50}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    print(f"{'chunks':>8} {'build s':>8} {'rebuild s':>9} {'index MiB':>9} {'load s':>7} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'scan p50 ms':>11} {'scan/index':>10}")
    for size in (int(s) for s in args.sizes.split(",")):
        r = run(size, args.queries)
        print(f"{r['chunks']:>8} {r['build_s']:>8.1f} {r['rebuild_s']:>9.1f} {r['size_mib']:>9.1f} "
              f"{r['load_s']:>7.2f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['ref_p50_ms']:>11.1f} "
              f"{r['speedup']:>10.1f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MiB; target: p50 < 50 ms at 100k chunks")


if __name__ == "__main__":
    main()
