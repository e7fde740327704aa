"""Ingest benchmark: encrypted, signed message events into the gateway's /event.

    .venv/bin/python bench/ingest.py [--backend sqlite|redis|both] [--concurrency 32] [--events 3000]

Runs `larkdou gateway` and a bare reference (bench/bare_gateway.py: verify + decrypt + one store
write, nothing else) as separate uvicorn processes on the same store backend, drives both with the
same load from wrk (bench/ingest_wrk.lua: distinct pre-built encrypted, signed events), alternating
rounds, and prints events/s, p50/p99 latency and the ratio gateway / reference.
Targets at concurrency 32: ratio >= 0.75, p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import tomli_w

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.factories import ENCRYPT_KEY, message_event, settings_dict, signed_request  # noqa: E402
from tests.redis_process import RedisProcess, free_port, wait_for_port  # noqa: E402


def wait_up(url: str, proc: subprocess.Popen) -> None:
    wait_for_port(int(url.rsplit(":", 1)[1]), proc, " ".join(map(str, proc.args[:4])), timeout=30)


def start_gateway(tmp: Path, store: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cfg = tmp / f"gw-{port}.ini"
    cfg.write_text(tomli_w.dumps(settings_dict(store)))
    proc = subprocess.Popen([sys.executable, "-m", "larkdou", "--log-level", "WARNING", "gateway", "--config",
                             str(cfg), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_up(url, proc)
    return proc, url


def start_bare(store: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, BENCH_STORE=store, BENCH_ENCRYPT_KEY=ENCRYPT_KEY, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "bench.bare_gateway:create", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_up(url, proc)
    return proc, url


def write_events(path: Path, n: int, tag: str) -> Path:
    """n distinct encrypted, signed message events, one a line, for bench/ingest_wrk.lua."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            body, headers = signed_request(message_event(f"question {tag}-{i} 怎么配置?", chat_id=f"oc_{i % 50}"))
            f.write("\t".join([headers["X-Lark-Request-Timestamp"], headers["X-Lark-Request-Nonce"],
                               headers["X-Lark-Signature"], body.decode()]) + "\n")
    return path


def drive(url: str, events: Path, n_events: int, concurrency: int, seconds: float) -> dict[str, float]:
    """Load from wrk (one thread, `concurrency` connections) for `seconds`; wrk is C, so the load
    generator is not what is measured."""
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "10s", "-s",
                          str(HERE / "ingest_wrk.lua"), url, "--", str(events)],
                         capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT "))
    r = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    if r["requests"] > n_events:
        print(f"  note: {r['requests'] - n_events} of {r['requests']} requests were repeats (duplicates)")
    return {"eps": r["requests"] / (r["duration_us"] / 1e6), "p50": r["p50_us"] / 1000, "p99": r["p99_us"] / 1000,
            "errors": r["non2xx"] + r["errors"]}


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> dict[str, dict[str, float]]:
    procs: list[subprocess.Popen] = []
    redis = RedisProcess(tmp)
    try:
        if backend == "redis":
            rurl = redis.start().url
            stores = {"gateway": f"{rurl}/0", "reference": f"{rurl}/1"}
        else:
            stores = {"gateway": f"sqlite:///{tmp / 'gw.db'}", "reference": f"sqlite:///{tmp / 'ref.db'}"}
        gproc, gurl = start_gateway(tmp, stores["gateway"])
        bproc, burl = start_bare(stores["reference"])
        procs += [gproc, bproc]
        results: dict[str, list[dict[str, float]]] = {"gateway": [], "reference": []}
        warm = write_events(tmp / "warm.tsv", args.warmup, "warm")
        for name, url in (("gateway", gurl), ("reference", burl)):
            drive(url, warm, args.warmup, args.concurrency, 1)
        for rnd in range(args.rounds):
            events = write_events(tmp / f"round{rnd}.tsv", args.events, f"r{rnd}")
            for name, url in (("reference", burl), ("gateway", gurl)):
                res = drive(url, events, args.events, args.concurrency, args.seconds)
                if res["errors"]:
                    raise SystemExit(f"{name}: {res['errors']} requests failed")
                results[name].append(res)
        return {name: {k: statistics.median(r[k] for r in rs) for k in ("eps", "p50", "p99")}
                for name, rs in results.items()}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
        redis.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "redis", "both"], default="both")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of one measured run")
    ap.add_argument("--events", type=int, default=40000, help="distinct events prepared per round")
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    backends = ["sqlite", "redis"] if args.backend == "both" else [args.backend]
    ok = True
    if shutil.which("wrk") is None:
        raise SystemExit("bench/ingest.py needs wrk (apt-get install wrk; `make bench` installs it)")
    print(f"concurrency {args.concurrency}, {args.seconds:g} s x {args.rounds} rounds per server (medians), load from wrk")
    print(f"{'backend':8} {'server':10} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
    for backend in backends:
        with tempfile.TemporaryDirectory() as d:
            res = run_backend(backend, args, Path(d))
        for name in ("reference", "gateway"):
            r = res[name]
            print(f"{backend:8} {name:10} {r['eps']:9.0f} {r['p50']:7.1f} {r['p99']:7.1f}")
        ratio = res["gateway"]["eps"] / res["reference"]["eps"]
        passed = ratio >= 0.75 and res["gateway"]["p99"] < 100
        ok &= passed
        print(f"{backend:8} ratio gateway/reference = {ratio:.2f}  (target >= 0.75, p99 < 100 ms: "
              f"{'met' if passed else 'NOT met'})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
