"""The assistant's HTTP API on a real socket: /api/ask, /healthz, /metrics."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import httpx
import pytest

from larkdou.assistant.api import create_app
from larkdou.assistant.metrics import AssistantMetrics
from larkdou.errors import StoreError
from larkdou.health import Health
from larkdou.serving import serving
from larkdou.store import open_ledger
from tests.assistant.answerers import QuestionAnswerer
from tests.conftest import free_port
from tests.rawhttp import raw_request


@pytest.fixture
async def api(tmp_path):
    ledger = await open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    answerer = QuestionAnswerer()
    metrics = AssistantMetrics()
    metrics.answered.inc()
    health = Health(starting=False)
    health.probe("store", ledger.ping)
    async with serving(create_app(answerer, metrics, health)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield http, answerer
    await ledger.close()


async def test_ask_returns_the_decision_and_the_answer(api):
    http, answerer = api
    r = await http.post("/api/ask", json={"text": "怎么配置 encrypt key？"})
    assert r.status_code == 200
    assert r.json() == {"answer": True, "reason": "relevant", "text": "答：怎么配置 encrypt key？",
                        "sources": ["faq.md"], "score": 0.9, "mode": ""}
    r = await http.post("/api/ask", json={"text": "哈哈哈"})
    assert r.json()["answer"] is False and r.json()["reason"] == "chitchat"
    r = await http.post("/api/ask", json={"text": "在吗", "chat_type": "p2p"})
    assert r.json()["answer"] is True and r.json()["reason"] == "p2p"


@pytest.mark.parametrize("body, status, reason", [
    (b"not json", 400, "not_json"),
    (b"[" * 60000, 400, "not_json"),
    (b"[1, 2]", 400, "not_an_object"),
    (b"{}", 400, "missing_text"),
    (b'{"text": "   "}', 400, "missing_text"),
    (b'{"text": 42}', 400, "missing_text"),
    (b'{"text": "hi", "chat_type": "channel"}', 400, "bad_chat_type"),
    (b'{"text": "hi", "mentioned": "yes"}', 400, "bad_mentioned"),
    (b'{"text": "hi", "extra": 1}', 400, "unknown_field"),
    (b'{"text": "' + b"x" * 9000 + b'"}', 413, "text_too_long"),
    (b'{"text": "' + b"x" * 70000 + b'"}', 413, "too_large"),
])
async def test_bad_requests_get_a_clear_reason_and_reach_no_answerer(api, body, status, reason):
    http, answerer = api
    r = await http.post("/api/ask", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status
    assert r.json()["error"] == reason and r.json()["message"]
    assert answerer.started == []


async def test_health_and_metrics(api):
    http, _ = api
    r = await http.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    text = (await http.get("/metrics")).text
    assert "larkdou_answered_total 1.0" in text
    assert "larkdou_answer_latency_seconds_bucket" in text


async def test_health_reports_a_store_that_went_away(tmp_path):
    port = free_port()
    redis = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                              "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ledger = None
        async with asyncio.timeout(10):
            while ledger is None:
                try:
                    ledger = await open_ledger(f"redis://127.0.0.1:{port}/0")
                except StoreError:
                    await asyncio.sleep(0.05)
        health = Health(starting=False)
        health.probe("store", ledger.ping)
        async with serving(create_app(QuestionAnswerer(), AssistantMetrics(), health)) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/healthz")).status_code == 200
                redis.kill()
                redis.wait()
                r = await http.get("/healthz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        await ledger.close()
    finally:
        redis.kill()
        redis.wait()


async def test_with_an_api_token_ask_and_metrics_need_it(tmp_path):
    answerer = QuestionAnswerer()
    async with serving(create_app(answerer, AssistantMetrics(), Health(starting=False), api_token="api-secret")) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer api-secre"}):
                status, body = await raw_request(url, "POST", "/api/ask", headers, b'{"text": "hi"}')
                assert status == 401 and b"unauthorized" in body
                assert (await raw_request(url, "GET", "/metrics", headers))[0] == 401
            assert answerer.started == []  # the LLM was never driven
            good = {"Authorization": "Bearer api-secret"}
            r = await http.post("/api/ask", json={"text": "怎么配置？"}, headers=good)
            assert r.status_code == 200 and r.json()["answer"] is True
            assert (await http.get("/metrics", headers=good)).status_code == 200
            assert (await http.get("/healthz")).status_code == 200
