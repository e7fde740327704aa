"""A follow-up on the sandbox page in a real headless Chromium, answered by the real assistant (the
sample knowledge base): a person asks, opens a thread on the bot's answer (the thread of the reply
tree's root, the question), asks "那助手呢？" there without @mentioning the bot, and sees the answer
that only makes sense with the first question appear in the thread.

Set SCREENSHOTS=docs/img to refresh the screenshot in the docs (default: the test's temp folder)."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.assistant.stack import open_stack
from tests.kb.helpers import sample_work_dir  # noqa: F401  (fixture)
from tests.sandbox.conftest import browser  # noqa: F401  (fixture)


async def test_a_follow_up_in_a_thread_is_answered_in_context(browser: Browser, tmp_path: Path,  # noqa: F811
                                                              sample_work_dir: Path) -> None:  # noqa: F811
    async with open_stack(tmp_path, None, kb={"dir": str(sample_work_dir / "kb")}) as (sandbox, run):
        page = await browser.new_page()
        try:
            await page.set_viewport_size({"width": 1300, "height": 760})
            await page.goto(sandbox.url + "/")
            await expect(page.locator("#live.on")).to_be_visible()
            await page.fill("#user", "bob")
            await page.check("#mention-bot")
            await page.fill("#text", "网关默认端口是多少？")
            await page.click("#send")

            answer = page.locator(".message.app").first
            await expect(answer).to_contain_text("6666", timeout=20_000)
            await expect(answer.locator(".quote")).to_contain_text("bob: @豆哥 网关默认端口是多少？")

            await answer.hover()
            await answer.locator(".thread-action").click()
            await expect(page.locator("#thread")).to_be_visible()
            await page.uncheck("#mention-bot")  # the thread goes on without @mentions
            await page.fill("#thread-text", "那助手呢？")
            await page.click("#thread-send")

            thread = page.locator("#thread-messages")
            await expect(thread).to_contain_text("那助手呢？")
            reply = thread.locator(".message.app")
            # "the assistant's port": without the first question the same words find another passage
            await expect(reply).to_contain_text("8888", timeout=20_000)
            await expect(reply.locator(".quote")).to_have_count(0)  # in the thread, not quoting in the chat
            await expect(page.locator("#messages .message")).to_have_count(2)  # the question and its answer
            folder = Path(os.environ.get("SCREENSHOTS") or tmp_path)
            folder.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(folder / "followup-thread.png"))
        finally:
            await page.close()
        chat = (await sandbox.http.get("/sandbox/info")).json()["default_chat_id"]
        follow = next(m for m in await sandbox.messages(chat) if m["text"] == "那助手呢？")
        assert (await run.worker.wait_handled(follow["message_id"])).status == "answered"
