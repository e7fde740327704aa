"""The assistant's /healthz per dependency, and the LLM's failures: checked at start, counted on
/metrics by kind, degraded on /healthz until a request succeeds. Real sandbox, gateway, LLM stand-in."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import httpx

from larkdou.assistant.main import running
from tests.conftest import free_port
from tests.e2e.harness import world

QUESTION = "加密 key 怎么配置？"


async def health(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    r = await http.get("/healthz")
    return r.status_code, r.json()


async def until_health(http: httpx.AsyncClient, ready: Callable[[dict[str, Any]], bool]) -> None:
    async with asyncio.timeout(10):
        while not ready((await health(http))[1]):
            await asyncio.sleep(0.05)


def failures(metrics: str) -> dict[str, float]:
    """larkdou_llm_failures_total by kind."""
    out = {}
    for line in metrics.splitlines():
        if line.startswith("larkdou_llm_failures_total{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('kind="')[1].split('"')[0]] = float(value)
    return out


async def test_llm_failures_make_the_assistant_degraded_until_an_answer_comes_through(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb) as w, running(w.settings, api_port=0) as run, \
            httpx.AsyncClient(base_url=run.api_url, timeout=30) as http:
        await until_health(http, lambda body: body["dependencies"]["llm"]["last_ok"] is not None)  # checked
        status, body = await health(http)
        assert status == 200 and body["status"] == "ok" and body["dependencies"]["llm"]["state"] == "ok"

        w.llm.fail_first, w.llm.fail_status = w.llm.calls + 1, 503  # the next chat call fails
        r = await http.post("/api/ask", json={"text": QUESTION, "mentioned": True})
        assert r.json()["answer"] is True and r.json()["mode"] == "extractive"  # the excerpt instead
        status, body = await health(http)
        llm = body["dependencies"]["llm"]
        assert status == 200 and body["status"] == "degraded"  # still serving, less well
        assert llm["state"] == "degraded" and llm["required"] is False and "HTTP 503" in llm["error"]
        assert failures((await http.get("/metrics")).text) == {
            "timeout": 0, "connection": 0, "rate_limited": 0, "server_error": 1, "refused": 0, "bad_response": 0}

        r = await http.post("/api/ask", json={"text": QUESTION, "mentioned": True})
        assert r.json()["answer"] is True
        status, body = await health(http)
        assert status == 200 and body["status"] == "ok" and body["dependencies"]["llm"]["state"] == "ok"
        assert body["dependencies"]["llm"]["failures"] == 1


async def test_an_llm_unreachable_at_start_is_one_log_line_and_the_assistant_starts_degraded(
        tmp_path, sample_kb, caplog):
    caplog.set_level(logging.INFO)
    async with world(tmp_path, sample_kb) as w:
        settings = w.settings.model_copy(deep=True)
        settings.llm.base_url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
        async with running(settings, api_port=0) as run, httpx.AsyncClient(base_url=run.api_url) as http:
            await until_health(http, lambda body: body["status"] == "degraded")
            status, body = await health(http)
            assert status == 200 and body["dependencies"]["llm"]["state"] == "degraded"
            assert {name: d["state"] for name, d in body["dependencies"].items() if name != "llm"} == \
                {"lark": "ok", "store": "ok"}
            assert failures((await http.get("/metrics")).text)["connection"] == 1
    [line] = [r.getMessage() for r in caplog.records if "not usable at start" in r.getMessage()]
    assert settings.llm.base_url in line and "unreachable" in line and "starting anyway" in line


async def test_without_an_llm_configured_healthz_does_not_mention_one(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb) as w:
        settings = w.settings.model_copy(deep=True)
        settings.llm.base_url = ""
        async with running(settings, api_port=0) as run, httpx.AsyncClient(base_url=run.api_url) as http:
            status, body = await health(http)
            assert status == 200 and set(body["dependencies"]) == {"lark", "store"}
            assert "larkdou_llm_failures_total" not in (await http.get("/metrics")).text
