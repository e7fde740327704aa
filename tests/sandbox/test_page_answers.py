"""The sandbox page in a real headless Chromium, with the REAL assistant (gateway, worker, pipeline on
the sample knowledge base) and the LLM stand-in writing word by word: a question typed on the page
gets a card that says "思考中…", then grows as the answer is written, then shows its sources; a second
one is recalled by 豆哥撤回 while it is being written and shows as recalled, and nothing updates it
after that.

Set SCREENSHOTS=docs/img to refresh the screenshots in README.md and docs/ (default: the test's temp
folder)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from larkdou.assistant.main import running
from larkdou.sandbox.llm import pieces
from tests.e2e.harness import World, world

FIRST = ("在 `[frontend.lark_group]` 里填 `encrypt_key` 和 `verification_token`，两个值都来自飞书开发者后台的"
         "**事件与回调 → 加密策略**页面 [1]。\n\n"
         "```toml\n[frontend.lark_group]\nencrypt_key = \"…\"\nverification_token = \"…\"\n```\n\n"
         "网关先用 `X-Lark-Signature` 验签，再用 encrypt key 解密事件；两边不一致时事件会被拒绝（401），"
         "不会进入队列，也就不会被回答 [1]。改完配置后重启网关即可生效。")
SOURCE_URL = "https://git.example.com/larkdou/blob/main/docs/"
SECOND = "撤回的例子：这段回答会写得很慢，" + "一个字一个字地出现，" * 40 + "直到写完为止。"


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def ask(page: Page, user: str, text: str, *, mention: bool) -> None:
    await page.fill("#user", user)
    await (page.check if mention else page.uncheck)("#mention-bot")
    await page.fill("#text", text)
    await page.click("#send")


async def open_page(browser: Browser, w: World) -> Page:
    page = await browser.new_page()
    await page.set_viewport_size({"width": 1000, "height": 720})
    await page.goto(w.sandbox.url + "/")
    await expect(page.locator("#live.on")).to_be_visible()
    return page


async def test_a_question_on_the_page_gets_a_card_that_grows_and_a_recall_takes_it_back(
        browser: Browser, tmp_path: Path, sample_kb: Path) -> None:
    async with world(tmp_path, sample_kb, llm_latency=1.0, kb={"source_url": SOURCE_URL}) as w, \
            running(w.settings, api_port=0):
        page = await open_page(browser, w)
        try:
            w.llm.reply, w.llm.token_delay = FIRST, 0.08
            await ask(page, "bob", "加密 key 怎么配置？", mention=True)
            row = page.locator(".message.app").last
            card = row.locator(".card")
            await expect(card).to_contain_text("思考中…")  # at once, before the LLM says a word
            await expect(row.locator(".quote")).to_contain_text("bob: @豆哥 加密 key 怎么配置？")
            answer = card.locator('[data-element-id="answer"]')
            await expect(answer).to_contain_text("加密策略")  # the answer grows …
            await expect(answer).not_to_contain_text("重启网关即可生效")  # … before it is complete
            await expect(card.locator(".notation").first).to_contain_text("生成中…")
            await page.screenshot(path=str(shots(tmp_path) / "answer-streaming.png"))
            await expect(answer).to_contain_text("重启网关即可生效", timeout=30_000)
            await expect(card).not_to_contain_text("生成中…")
            source = card.locator('[data-element-id="sources"] a')
            await expect(source).to_contain_text("02-configuration.md ›")
            assert (await source.get_attribute("href") or "").startswith(SOURCE_URL + "02-configuration.md#")
            await expect(card.locator("pre code")).to_contain_text('encrypt_key = "…"')
            await expect(card.locator(".notation").last).to_have_text("说“豆哥撤回”可撤回我在本群的回答")
            await page.screenshot(path=str(shots(tmp_path) / "answer-card.png"))

            w.llm.reply, w.llm.token_delay, w.llm.latency = SECOND, 0.08, 0.0
            await ask(page, "carol", "@豆哥 撤回是怎么做的？请写长一点", mention=True)
            writing = page.locator(".message.app").last
            await expect(writing.locator('[data-element-id="answer"]')).to_contain_text("一个字一个字地出现")
            await ask(page, "bob", "豆哥撤回", mention=False)
            await expect(page.locator(".message.app.recalled")).to_have_count(2)
            await expect(writing).to_have_text("豆哥 撤回了一条消息")
            async with asyncio.timeout(10):
                while w.llm.in_flight:  # the LLM is let go too
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.6)  # more than a card update's interval: a live stream would have updated
            bot = await w.sandbox.bot_messages(await _default_chat(w))
            assert [m["deleted"] for m in bot] == [True, True]
            assert [m["updates_after_recall"] for m in bot] == [0, 0]
            assert w.llm.streamed < len(pieces(FIRST)) + len(pieces(SECOND))
            await expect(writing).to_have_text("豆哥 撤回了一条消息")
        finally:
            await page.close()


async def _default_chat(w: World) -> str:
    return (await w.sandbox.http.get("/sandbox/info")).json()["default_chat_id"]
