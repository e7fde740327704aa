"""`larkdou assistant` as a real process through its life: start-up while Lark or its store is not
there yet, bad credentials, the worker dying, and SIGTERM draining the answers in flight."""

from __future__ import annotations

import asyncio
import signal
import tomllib
from pathlib import Path
from typing import Any, Awaitable, Callable

import httpx
import tomli_w

from larkdou.message import Message
from larkdou.store import open_queue
from tests.assistant.stack import sandbox_only
from tests.conftest import free_port
from tests.e2e.harness import AssistantProcess, World, world

CHAT, OTHER = "oc_lifecycle", "oc_lifecycle_other"
QUESTION, OTHER_QUESTION = "加密 key 怎么配置？", "verification token 填在哪里？"


def edit_config(w: World, change: Callable[[dict[str, Any]], None]) -> None:
    data = tomllib.loads(w.config_path.read_text(encoding="utf-8"))
    change(data)
    w.config_path.write_text(tomli_w.dumps(data), encoding="utf-8")


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := await check()):
            await asyncio.sleep(0.1)
        return value


async def depth(w: World) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=w.gateway_url) as http:
        return (await http.get("/healthz")).json()["depth"]


async def poison(store_url: str) -> None:
    """A message the worker cannot dispatch (its chat id is not a string): it dies on it."""
    queue = await open_queue(store_url)
    try:
        await queue.enqueue(Message(msg_id="om_poison", group_id=["not", "a", "chat"],  # type: ignore[arg-type]
                                    content="这是什么？"), ["msg:om_poison"])
    finally:
        await queue.close()


# ---- start-up ---------------------------------------------------------------------------------------
async def test_while_lark_is_unreachable_healthz_says_so_and_the_assistant_starts_once_it_is_back(
        tmp_path, sample_kb):
    async with world(tmp_path, sample_kb) as w:
        later = free_port()  # Lark will appear here, after the assistant has started
        edit_config(w, lambda data: data["lark"].update(domain=f"http://127.0.0.1:{later}"))
        proc = AssistantProcess(w)
        await proc.start(until_healthy=False)
        try:
            # the store opens at once; Lark stays unreachable, so start-up ends up waiting on it alone
            status, body = await until(lambda: _waiting_only_for(proc, "lark"))
            assert status == 503 and body["status"] == "starting"
            assert body["dependencies"]["lark"]["state"] == "waiting"
            async with httpx.AsyncClient(base_url=proc.url) as http:
                r = await http.post("/api/ask", json={"text": QUESTION})
            assert r.status_code == 503 and r.json()["error"] == "starting"
            await until(lambda: _logged(proc.log, "waiting for Lark at"))

            lark = w.settings.model_copy(deep=True)
            lark.sandbox.port = later
            async with sandbox_only(lark):
                await until(lambda: _status_is(proc, 200))
                status, body = await proc.health()
                assert body["status"] == "ok" and body["waiting_for"] == []
                assert {name: d["state"] for name, d in body["dependencies"].items()} == \
                    {"lark": "ok", "store": "ok", "llm": "ok"}
                async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
                    r = await http.post("/api/ask", json={"text": QUESTION, "mentioned": True})
                assert r.status_code == 200 and r.json()["answer"] is True
                assert proc.stop() == 0
        finally:
            proc.kill()


async def test_a_redis_store_down_at_start_is_waited_for_with_a_log_line(tmp_path, sample_kb, own_redis):
    async with world(tmp_path, sample_kb, ledger=f"{own_redis.url}/0") as w:
        own_redis.stop()
        proc = AssistantProcess(w)
        await proc.start(until_healthy=False)
        try:
            await until(lambda: _logged(proc.log, f"waiting for the assistant store {own_redis.url}/0"))
            status, body = await until(lambda: _waiting_only_for(proc, "store"))
            assert status == 503 and body["status"] == "starting" and body["store"] == "waiting"
            assert body["dependencies"]["lark"]["state"] == "ok"
            own_redis.start()
            await until(lambda: _status_is(proc, 200))
            question = await w.sandbox.say(CHAT, QUESTION)
            assert len(await w.wait_answered(CHAT, question)) == 1
            await w.wait_drained()  # acked: stop() blocks this loop, where the gateway answers /ack
            assert proc.stop() == 0
        finally:
            proc.kill()


async def test_wrong_app_secret_is_one_clear_line_and_exit_status_2(tmp_path):
    async with world(tmp_path, None) as w:
        edit_config(w, lambda data: data["frontend"]["lark_group"].update(app_secret="not-the-secret-42"))
        proc = AssistantProcess(w)
        try:
            await proc.start(until_healthy=False)
        except RuntimeError:
            pass  # it may be gone before its API answered
        assert await proc.exited() == 2
    log = proc.log.read_text(encoding="utf-8")
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "app_id or app_secret is invalid" in errors[0]
    assert "Traceback" not in log and "not-the-secret-42" not in log


# ---- the worker's death -----------------------------------------------------------------------------
async def test_a_message_the_assistant_cannot_read_is_parked_and_the_assistant_keeps_running(tmp_path):
    # over /fetch the message is checked before dispatch: left unacked, it comes back after its
    # lease and is parked after max_attempts deliveries, while the assistant goes on
    async with world(tmp_path, None, lease=1.0, max_attempts=2) as w:
        proc = AssistantProcess(w)
        await proc.start()
        try:
            await poison(w.settings.gateway_store_url)
            queue = await open_queue(w.settings.gateway_store_url)
            try:
                async with asyncio.timeout(30):
                    while await queue.dead_count() < 1:
                        await asyncio.sleep(0.2)
            finally:
                await queue.close()
            assert proc.proc is not None and proc.proc.poll() is None
            status, _ = await proc.health()
            assert status == 200
        finally:
            proc.kill()
    assert "the worker stopped" not in proc.log.read_text(encoding="utf-8")


async def test_when_the_worker_dies_the_process_exits_non_zero(tmp_path):
    # standalone, the worker reads the queue directly: a corrupt row in it is a bug it dies on
    async with world(tmp_path, None) as w:
        edit_config(w, lambda data: data["gateway"].update(port=free_port()))
        proc = AssistantProcess(w, standalone=True)
        await proc.start()
        try:
            await poison(w.settings.gateway_store_url)
            assert await proc.exited() == 1
        finally:
            proc.kill()
    assert "the worker stopped" in proc.log.read_text(encoding="utf-8")


# ---- SIGTERM -----------------------------------------------------------------------------------------
async def test_sigterm_finishes_the_answer_in_flight_and_leaves_the_rest_for_another_assistant(
        tmp_path, sample_kb):
    # one answer at a time: the second question is fetched but waits for the first
    async with world(tmp_path, sample_kb, llm_latency=3.0, lease=8.0, concurrency=1) as w:
        first = AssistantProcess(w)
        await first.start()
        try:
            slow = await w.sandbox.say(CHAT, QUESTION)
            await until(lambda: _is(w.llm.in_flight, 1))
            waiting = await w.sandbox.say(OTHER, OTHER_QUESTION)
            await until(lambda: _both_fetched_one_generating(w))
            first.signal(signal.SIGTERM)
            assert await first.exited() == 0
        finally:
            first.kill()
        assert len(await w.bot_answers(CHAT, slow)) == 1  # finished and sent before exiting
        assert await w.bot_answers(OTHER, waiting) == []  # not started: left for someone else
        assert await depth(w) == {"recall": 0, "normal": 0, "leased": 1}  # the answered one was acked
        log = first.log.read_text(encoding="utf-8")
        assert "draining: 1 answer(s) in flight" in log and "assistant stopped" in log

        w.llm.latency = 0.0
        second = AssistantProcess(w)
        await second.start()
        try:
            assert len(await w.wait_answered(OTHER, waiting)) == 1  # once its lease ran out
            await w.wait_drained()
            assert second.stop() == 0
        finally:
            second.kill()
        assert len(await w.bot_answers(CHAT, slow)) == 1
        assert w.llm.calls == 2  # the second assistant never saw the first question again


async def test_an_answer_that_outlasts_the_drain_is_cancelled_and_answered_once_later(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb, lease=2.0, drain_seconds=0.5) as w:
        w.llm.hang = True
        first = AssistantProcess(w)
        await first.start()
        try:
            question = await w.sandbox.say(CHAT, QUESTION)
            await until(lambda: _is(w.llm.in_flight, 1))
            first.signal(signal.SIGTERM)
            assert await first.exited() == 0
        finally:
            first.kill()
        assert "still running after" in first.log.read_text(encoding="utf-8")
        w.llm.hang = False
        second = AssistantProcess(w)
        await second.start()
        try:
            assert len(await w.wait_answered(CHAT, question)) == 1
            await w.wait_drained()
            assert second.stop() == 0
        finally:
            second.kill()


async def test_a_second_signal_stops_at_once_instead_of_draining(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb, drain_seconds=600) as w:
        w.llm.hang = True
        proc = AssistantProcess(w)
        await proc.start()
        try:
            await w.sandbox.say(CHAT, QUESTION)
            await until(lambda: _is(w.llm.in_flight, 1))
            proc.signal(signal.SIGTERM)
            await until(lambda: _logged(proc.log, "draining:"))
            proc.signal(signal.SIGINT)
            assert await proc.exited() == 0  # rather than after the 600 s of drain
        finally:
            proc.kill()
    assert "drain cut short" in proc.log.read_text(encoding="utf-8")


async def _both_fetched_one_generating(w: World) -> bool:
    return w.llm.in_flight == 1 and (await depth(w))["leased"] == 2


async def _waiting_only_for(proc: AssistantProcess, name: str) -> tuple[int, dict[str, Any]] | None:
    status, body = await proc.health()
    return (status, body) if body["waiting_for"] == [name] else None


async def _status_is(proc: AssistantProcess, status: int) -> bool:
    try:
        return (await proc.health())[0] == status
    except httpx.HTTPError:
        return False


async def _logged(path: Path, text: str) -> bool:
    return text in path.read_text(encoding="utf-8")


async def _is(value: object, expected: object) -> bool:
    return value == expected

