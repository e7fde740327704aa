"""Cards on the sandbox page in a real headless Chromium: a card sent through LarkClient renders its
markdown (code block, bold, link) safely, grows live as it is updated, and shows as recalled once
recalled. People reply to a message or in its thread from the page.

Set SCREENSHOTS=docs/img to refresh the screenshots in the docs (default: the test's temp folder)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import AsyncIterator

import pytest
from playwright.async_api import Page, expect
from pydantic import SecretStr

from larkdou.lark.cards import SourceLink, answer_card, recall_footer, streaming_card, thinking_card
from larkdou.lark.client import LarkApp, LarkClient, reply_uuid
from tests.sandbox.conftest import Sandbox

ANSWER = """## 启动沙箱

运行下面的命令，**不需要**飞书应用：

```bash
larkdou sandbox --port 7777
larkdou demo --once
```

- 网页：`http://127.0.0.1:7777/sandbox/`
- 详见 [沙箱文档](https://example.com/docs/sandbox.md)
- 不安全的链接 [点我](javascript:alert(1)) 只显示文字

<at id=all></at> 和 <img src=x onerror=alert(1)> 都只是文字。"""


@pytest.fixture
async def lark(sandbox: Sandbox) -> AsyncIterator[LarkClient]:
    creds = sandbox.state.creds
    app = LarkApp(domain=sandbox.url, app_id=creds.app_id, app_secret=SecretStr(creds.app_secret), chat_rate=50)
    async with LarkClient(app) as client:
        yield client


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def test_a_card_renders_grows_and_is_recalled(page: Page, sandbox: Sandbox, lark: LarkClient,
                                                    tmp_path: Path) -> None:
    chat_id = sandbox.state.default_chat.chat_id
    await page.set_viewport_size({"width": 1100, "height": 860})
    question = (await sandbox.post("沙箱怎么启动？", user="bob", mention_bot=True))["message_id"]
    sent = await lark.reply_card(question, thinking_card(footer=recall_footer()), uuid=reply_uuid(question),
                                 chat_id=chat_id)
    row = page.locator(f'[data-message-id="{sent.message_id}"]')
    await expect(row.locator(".card")).to_contain_text("思考中…")
    await expect(row.locator(".quote")).to_contain_text("bob: @豆哥 沙箱怎么启动？")

    # the answer arrives in pieces; the page shows each version without a reload
    answer = row.locator('[data-element-id="answer"]')
    steps = ["运行下面的命令", "larkdou sandbox --port", "网页", "都只是文字。"]
    for shown, later in zip(steps, steps[1:] + [""]):
        cut = ANSWER.index(shown) + len(shown)
        await lark.update_card(sent.message_id, streaming_card(ANSWER[:cut], footer=recall_footer()), chat_id=chat_id)
        await expect(answer).to_contain_text(shown)
        if later:
            await expect(answer).not_to_contain_text(later)
    await expect(row.locator(".notation")).to_contain_text("生成中…")
    await page.screenshot(path=str(shots(tmp_path) / "card-streaming.png"))

    final = answer_card(ANSWER, title="如何启动沙箱？", footer=recall_footer(),
                        sources=[SourceLink("docs/sandbox.md › Running it", "https://example.com/docs/sandbox.md")])
    await lark.update_card(sent.message_id, final, chat_id=chat_id)
    card = row.locator(".card")
    await expect(card.locator(".card-header")).to_have_text("如何启动沙箱？")
    await expect(card).not_to_contain_text("生成中…")
    code = card.locator("pre.code-block code")
    await expect(code).to_have_text("larkdou sandbox --port 7777\nlarkdou demo --once")  # newlines kept
    assert await code.get_attribute("data-lang") == "bash"
    await expect(card.locator("strong").first).to_have_text("不需要")
    await expect(card.locator("code.inline-code")).to_have_text("http://127.0.0.1:7777/sandbox/")
    await expect(card.locator("h5")).to_have_text("启动沙箱")  # "##" arrives demoted to "#####"
    doc_link = card.locator('a[href="https://example.com/docs/sandbox.md"]')
    await expect(doc_link).to_have_count(2)  # in the answer and in the sources
    assert await doc_link.first.get_attribute("rel") == "noopener noreferrer"
    await expect(card).to_contain_text("不安全的链接 点我 只显示文字")
    await expect(card.locator('a[href^="javascript"], img, .mention')).to_have_count(0)
    await expect(card).to_contain_text("<at id=all></at> 和 <img src=x onerror=alert(1)> 都只是文字。")
    await expect(card.locator(".notation").last).to_contain_text("说“豆哥撤回”可撤回我在本群的回答")
    await page.screenshot(path=str(shots(tmp_path) / "card.png"))

    await lark.recall(sent.message_id, chat_id=chat_id)
    await expect(row).to_have_class("message app recalled")
    await expect(row).to_have_text("豆哥 撤回了一条消息")
    await expect(page.locator("#messages")).not_to_contain_text("larkdou demo --once")


async def test_people_reply_and_talk_in_threads_from_the_page(page: Page, sandbox: Sandbox,
                                                              tmp_path: Path) -> None:
    await page.set_viewport_size({"width": 1300, "height": 700})
    first = (await sandbox.post("大家好，今天发版吗？", user="alice"))["message_id"]
    row = page.locator(f'[data-message-id="{first}"]')
    await row.hover()
    await row.locator(".reply-action").click()
    await expect(page.locator("#reply-bar")).to_contain_text("回复 alice: 大家好，今天发版吗？")
    await page.fill("#user", "bob")
    await page.fill("#text", "下午发")
    await page.click("#send")
    await expect(page.locator("#reply-bar")).to_be_hidden()
    quote = page.locator(".message.user").last
    await expect(quote.locator(".quote")).to_contain_text("回复 alice: 大家好，今天发版吗？")

    await row.hover()
    await row.locator(".thread-action").click()
    await expect(page.locator("#thread")).to_be_visible()
    await page.fill("#thread-text", "几点？")
    await page.click("#thread-send")
    await expect(page.locator("#thread-messages .message")).to_have_count(2)  # the root and the reply
    await expect(page.locator("#thread-messages")).to_contain_text("几点？")
    await expect(row.locator(".thread-link")).to_have_text("1 条回复 ›")
    await expect(page.locator("#messages")).not_to_contain_text("几点？")  # thread replies stay in the thread
    await page.screenshot(path=str(shots(tmp_path) / "thread.png"))

    posted = {m["text"]: m for m in await sandbox.messages()}
    assert (posted["下午发"]["parent_id"], posted["下午发"]["thread_id"]) == (first, "")
    reply = posted["几点？"]
    assert (reply["parent_id"], reply["root_id"]) == (first, first) and reply["thread_id"].startswith("omt_")
    assert reply["sender"]["name"] == "bob"


async def test_any_card_renders_safely_and_tables_quotes_lists_render(page: Page, sandbox: Sandbox,
                                                                      lark: LarkClient) -> None:
    """A card from any sender, not only larkdou's escaped ones: HTML in it stays text."""
    chat_id = sandbox.state.default_chat.chat_id
    hostile = ("<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>\n"
               "<a href='javascript:window.pwned=3'>click</a> <font color='red'>red</font> "
               "<font color='red' onmouseover='window.pwned=4'>hover</font>\n\n"
               "| 命令 | 作用 |\n|---|---|\n| `larkdou demo` | 演示 |\n\n> 引用的一句话\n\n- 一级\n    - 二级\n1. 第一\n2. 第二")
    card = {"schema": "2.0", "config": {"update_multi": True},
            "header": {"title": {"tag": "plain_text", "content": "<b>not bold</b>"}, "template": "red"},
            "body": {"elements": [{"tag": "markdown", "element_id": "x", "content": hostile},
                                  {"tag": "chart", "chart_spec": {}}]}}
    sent = await lark.send_card(chat_id, card, uuid=reply_uuid("om_hostile"))
    shown = page.locator(f'[data-message-id="{sent.message_id}"] .card')
    await expect(shown.locator(".card-header")).to_have_text("<b>not bold</b>")
    await expect(shown.locator("table td").first).to_have_text("larkdou demo")
    await expect(shown.locator("blockquote")).to_have_text("引用的一句话")
    await expect(shown.locator("ul ul li")).to_have_text("二级")
    await expect(shown.locator("ol li")).to_have_count(2)
    await expect(shown.locator(".unsupported")).to_have_text("[chart]")
    await expect(shown).to_contain_text('<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>')
    await expect(shown.locator("img, script, [onerror], [onmouseover]")).to_have_count(0)
    await expect(shown.locator("a")).to_have_count(0)  # a javascript: link is only its text
    await expect(shown.locator(".font-red")).to_have_text("red")
    await expect(shown).to_contain_text("<font color='red' onmouseover='window.pwned=4'>hover</font>")
    assert await page.evaluate("window.pwned") is None
